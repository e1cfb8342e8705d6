"""The schema mqlsync 0.1.0 made without a version: each table created only where it is
missing, so a database that version made is adopted as it is, data and all.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_ts = sa.DateTime(timezone=True)


def _tables() -> list[tuple[str, list[sa.Column], list[tuple[str, str]]]]:
    """(name, columns, indexes as (index name, column)) as mqlsync 0.1.0 declared them."""
    return [
        ("watermarks", [sa.Column("connection", sa.String(40), primary_key=True),
                        sa.Column("object", sa.String(200), primary_key=True),
                        sa.Column("value", _ts, nullable=False)], []),
        ("contacts", [sa.Column("connection", sa.String(40), primary_key=True),
                      sa.Column("contact_id", sa.String(64), primary_key=True),
                      sa.Column("record", sa.JSON, nullable=False),
                      sa.Column("pulled_at", _ts, nullable=False)], []),
        ("activities", [sa.Column("connection", sa.String(40), primary_key=True),
                        sa.Column("activity_id", sa.String(128), primary_key=True),
                        sa.Column("contact_id", sa.String(64), nullable=False),
                        sa.Column("type", sa.String(64), nullable=False),
                        sa.Column("at", _ts, nullable=False),
                        sa.Column("attributes", sa.JSON, nullable=False)],
         [("ix_activities_contact_id", "contact_id")]),
        ("stages", [sa.Column("connection", sa.String(40), primary_key=True),
                    sa.Column("contact_id", sa.String(64), primary_key=True),
                    sa.Column("stage", sa.String(20), nullable=False),
                    sa.Column("since", _ts),
                    sa.Column("mql_at", _ts)], []),
        ("written", [sa.Column("connection", sa.String(40), primary_key=True),
                     sa.Column("contact_id", sa.String(64), primary_key=True),
                     sa.Column("values", sa.JSON, nullable=False),
                     sa.Column("written_at", _ts, nullable=False)], []),
        ("tasks", [sa.Column("connection", sa.String(40), primary_key=True),
                   sa.Column("key", sa.String(200), primary_key=True),
                   sa.Column("contact_id", sa.String(64), nullable=False),
                   sa.Column("status", sa.String(12), nullable=False),
                   sa.Column("crm_id", sa.String(64)),
                   sa.Column("created_at", _ts, nullable=False)], []),
        ("transitions", [sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                         sa.Column("connection", sa.String(40), nullable=False),
                         sa.Column("contact_id", sa.String(64), nullable=False),
                         sa.Column("from_stage", sa.String(20), nullable=False),
                         sa.Column("to_stage", sa.String(20), nullable=False),
                         sa.Column("reason", sa.Text, nullable=False),
                         sa.Column("at", _ts, nullable=False)],
         [("ix_transitions_connection", "connection")]),
        ("failures", [sa.Column("connection", sa.String(40), primary_key=True),
                      sa.Column("contact_id", sa.String(64), primary_key=True),
                      sa.Column("reason", sa.Text, nullable=False),
                      sa.Column("attempts", sa.Integer, nullable=False),
                      sa.Column("at", _ts, nullable=False)], []),
        ("aliases", [sa.Column("connection", sa.String(40), primary_key=True),
                     sa.Column("old_id", sa.String(64), primary_key=True),
                     sa.Column("new_id", sa.String(64), nullable=False)], []),
        ("runs", [sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                  sa.Column("connection", sa.String(40), nullable=False),
                  sa.Column("started_at", _ts, nullable=False),
                  sa.Column("finished_at", _ts),
                  sa.Column("status", sa.String(12), nullable=False),
                  sa.Column("summary", sa.JSON)],
         [("ix_runs_connection", "connection")]),
    ]


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    for name, columns, indexes in _tables():
        if name in existing:
            continue
        op.create_table(name, *columns)
        for index, column in indexes:
            op.create_index(index, name, [column])


def downgrade() -> None:
    for name, _, _ in reversed(_tables()):
        op.drop_table(name)
