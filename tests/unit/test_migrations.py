"""The state schema is versioned: a database made by mqlsync 0.1.0 (no version, data
in it) is upgraded in place without losing anything, and the migrations build exactly
the tables the code uses, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from mqlsync.connector import migrations, state
from mqlsync.connector.model import Stage
from mqlsync.connector.sample import generate
from mqlsync.connector.state import StateStore
from tests.conftest import ROOT

SCHEMA_0_1 = ROOT / "tests" / "data" / "state-0.1.0-schema.sql"
CONN = "hubspot-main"
NOW = datetime(2026, 11, 20, 9, tzinfo=UTC)


def _statements(text: str) -> set[str]:
    text = "\n".join(line for line in text.splitlines() if not line.startswith("--"))
    return {re.sub(r"\s+", " ", s).strip() for s in text.split(";") if s.strip()}


def test_the_first_revision_is_the_schema_mqlsync_0_1_made(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'first.db'}")
    migrations.upgrade(engine, "0001")
    made = sqlite3.connect(tmp_path / "first.db").execute(
        "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name != 'alembic_version'").fetchall()
    assert {re.sub(r"\s+", " ", sql).strip() for (sql,) in made} == _statements(SCHEMA_0_1.read_text())


def _fill_like_0_1(engine: sa.Engine) -> dict[str, int]:
    """Rows in every table, written through the tables as the database holds them (as
    0.1.0 wrote them), from the sample generator."""
    data = generate(seed=5, contacts=12, now=NOW)
    tables = sa.MetaData()
    tables.reflect(engine)
    t = tables.tables
    mql = data.contacts[0].id
    with engine.begin() as conn:
        conn.execute(sa.insert(t["contacts"]), [{"connection": CONN, "contact_id": c.id, "pulled_at": NOW,
                                                 "record": c.model_dump(mode="json", exclude_none=True)}
                                                for c in data.contacts])
        conn.execute(sa.insert(t["activities"]), [{"connection": CONN, "activity_id": a.id, "contact_id": a.contact_id,
                                                   "type": a.type, "at": a.at, "attributes": a.attributes}
                                                  for a in data.activities])
        conn.execute(sa.insert(t["stages"]), [{"connection": CONN, "contact_id": mql, "stage": "mql", "since": NOW,
                                               "mql_at": NOW}])
        conn.execute(sa.insert(t["written"]), [{"connection": CONN, "contact_id": mql, "written_at": NOW,
                                                "values": {"stage": "mql", "score": "74"}}])
        conn.execute(sa.insert(t["tasks"]), [{"connection": CONN, "key": f"{CONN}:{mql}:20261120T090000Z",
                                              "contact_id": mql, "status": "confirmed", "crm_id": "9001",
                                              "created_at": NOW}])
        conn.execute(sa.insert(t["transitions"]), [{"connection": CONN, "contact_id": mql, "from_stage": "lead",
                                                    "to_stage": "mql", "reason": "score 74 met the threshold",
                                                    "at": NOW}])
        conn.execute(sa.insert(t["failures"]), [{"connection": CONN, "contact_id": data.contacts[1].id,
                                                 "reason": "INVALID_EMAIL_ADDRESS", "attempts": 2, "at": NOW}])
        conn.execute(sa.insert(t["aliases"]), [{"connection": CONN, "old_id": "gone-1", "new_id": mql}])
        conn.execute(sa.insert(t["watermarks"]), [{"connection": CONN, "object": "contacts", "value": NOW}])
        conn.execute(sa.insert(t["runs"]), [{"connection": CONN, "started_at": NOW - timedelta(minutes=1),
                                             "finished_at": NOW, "status": "ok", "summary": {"writes": 12}}])
    return {"contacts": len(data.contacts), "activities": len(data.activities), "mql": mql,
            "failing": data.contacts[1].id}


def _assert_kept(store: StateStore, filled: dict) -> None:
    mql = filled["mql"]
    assert len(store.load_contacts(CONN)) == filled["contacts"]
    assert sum(len(v) for v in store.activities_of(CONN).values()) == filled["activities"]
    assert store.stages_of(CONN, [mql]) == {mql: (Stage.MQL, NOW, NOW)}
    assert store.written_of(CONN, [mql]) == {mql: {"stage": "mql", "score": "74"}}
    assert store.tasks_of(CONN, [f"{CONN}:{mql}:20261120T090000Z"]) == {
        f"{CONN}:{mql}:20261120T090000Z": ("confirmed", "9001")}
    assert [t.to_stage for t in store.transitions_of(CONN)] == [Stage.MQL]
    assert store.failures_of(CONN) == {filled["failing"]: ("INVALID_EMAIL_ADDRESS", 2)}
    assert store.survivors_of(CONN, ["gone-1"]) == {"gone-1": mql}
    assert store.watermark(CONN, "contacts") == NOW
    assert [r["summary"] for r in store.status(CONN)["runs"]] == [{"writes": 12}]
    assert migrations.current(store.engine) == migrations.head()


def test_a_sqlite_database_mqlsync_0_1_made_is_upgraded_with_its_data(tmp_path):
    path = tmp_path / "mqlsync-state.db"
    with sqlite3.connect(path) as raw:
        raw.executescript(SCHEMA_0_1.read_text())
    filled = _fill_like_0_1(sa.create_engine(f"sqlite:///{path}"))
    assert migrations.current(sa.create_engine(f"sqlite:///{path}")) is None  # 0.1.0 kept no version

    store = StateStore(f"sqlite:///{path}")
    _assert_kept(store, filled)
    with store.lock(CONN):  # what the upgrade added works on the old data
        assert StateStore(f"sqlite:///{path}").status(CONN)["contacts_known"] == filled["contacts"]


def test_a_postgresql_database_mqlsync_0_1_made_is_upgraded_with_its_data(fresh_postgres):
    engine = sa.create_engine(fresh_postgres)
    migrations.upgrade(engine, "0001")
    with engine.begin() as conn:  # 0.1.0 made the same tables and kept no version
        conn.execute(sa.text("DROP TABLE alembic_version"))
    filled = _fill_like_0_1(engine)
    engine.dispose()

    store = StateStore(fresh_postgres)
    _assert_kept(store, filled)
    store.engine.dispose()


@pytest.mark.parametrize("where", ["sqlite", "postgresql"])
def test_the_migrations_build_exactly_the_tables_the_code_uses(where, tmp_path, request):
    url = f"sqlite:///{tmp_path / 'new.db'}" if where == "sqlite" else request.getfixturevalue("fresh_postgres")
    store = StateStore(url)
    with store.engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), state.metadata)
    store.engine.dispose()
    assert differences == []


def test_opening_an_up_to_date_database_changes_nothing(tmp_path):
    url = f"sqlite:///{tmp_path / 'state.db'}"
    StateStore(url).engine.dispose()
    before = (tmp_path / "state.db").read_bytes()
    StateStore(url).engine.dispose()
    assert (tmp_path / "state.db").read_bytes() == before
