-- The state database's schema as mqlsync 0.1.0 created it (SQLAlchemy create_all, no
-- version table), read off a database that version made: the starting point of the
-- upgrade tests.
CREATE TABLE activities (
	connection VARCHAR(40) NOT NULL, 
	activity_id VARCHAR(128) NOT NULL, 
	contact_id VARCHAR(64) NOT NULL, 
	type VARCHAR(64) NOT NULL, 
	at DATETIME NOT NULL, 
	attributes JSON NOT NULL, 
	PRIMARY KEY (connection, activity_id)
);

CREATE TABLE aliases (
	connection VARCHAR(40) NOT NULL, 
	old_id VARCHAR(64) NOT NULL, 
	new_id VARCHAR(64) NOT NULL, 
	PRIMARY KEY (connection, old_id)
);

CREATE TABLE contacts (
	connection VARCHAR(40) NOT NULL, 
	contact_id VARCHAR(64) NOT NULL, 
	record JSON NOT NULL, 
	pulled_at DATETIME NOT NULL, 
	PRIMARY KEY (connection, contact_id)
);

CREATE TABLE failures (
	connection VARCHAR(40) NOT NULL, 
	contact_id VARCHAR(64) NOT NULL, 
	reason TEXT NOT NULL, 
	attempts INTEGER NOT NULL, 
	at DATETIME NOT NULL, 
	PRIMARY KEY (connection, contact_id)
);

CREATE TABLE runs (
	id INTEGER NOT NULL, 
	connection VARCHAR(40) NOT NULL, 
	started_at DATETIME NOT NULL, 
	finished_at DATETIME, 
	status VARCHAR(12) NOT NULL, 
	summary JSON, 
	PRIMARY KEY (id)
);

CREATE TABLE stages (
	connection VARCHAR(40) NOT NULL, 
	contact_id VARCHAR(64) NOT NULL, 
	stage VARCHAR(20) NOT NULL, 
	since DATETIME, 
	mql_at DATETIME, 
	PRIMARY KEY (connection, contact_id)
);

CREATE TABLE tasks (
	connection VARCHAR(40) NOT NULL, 
	"key" VARCHAR(200) NOT NULL, 
	contact_id VARCHAR(64) NOT NULL, 
	status VARCHAR(12) NOT NULL, 
	crm_id VARCHAR(64), 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (connection, "key")
);

CREATE TABLE transitions (
	id INTEGER NOT NULL, 
	connection VARCHAR(40) NOT NULL, 
	contact_id VARCHAR(64) NOT NULL, 
	from_stage VARCHAR(20) NOT NULL, 
	to_stage VARCHAR(20) NOT NULL, 
	reason TEXT NOT NULL, 
	at DATETIME NOT NULL, 
	PRIMARY KEY (id)
);

CREATE TABLE watermarks (
	connection VARCHAR(40) NOT NULL, 
	object VARCHAR(200) NOT NULL, 
	value DATETIME NOT NULL, 
	PRIMARY KEY (connection, object)
);

CREATE TABLE written (
	connection VARCHAR(40) NOT NULL, 
	contact_id VARCHAR(64) NOT NULL, 
	"values" JSON NOT NULL, 
	written_at DATETIME NOT NULL, 
	PRIMARY KEY (connection, contact_id)
);

CREATE INDEX ix_activities_contact_id ON activities (contact_id);

CREATE INDEX ix_runs_connection ON runs (connection);

CREATE INDEX ix_transitions_connection ON transitions (connection);
