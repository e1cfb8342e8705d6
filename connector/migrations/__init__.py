"""The state database's schema, versioned: Alembic migrations bring a database made by
any earlier mqlsync up to this one's, in place, one process at a time.

A schema change is a new file in `versions/` (revision = the next number,
down_revision = the last), and the tables in `connector/state.py` changed to match;
tests/unit/test_migrations.py checks the two agree."""

from __future__ import annotations

import functools
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from mqlsync.connector import runlock

HERE = Path(__file__).resolve().parent
#: the lock that lets one process at a time create or upgrade the schema
SCHEMA_LOCK = "mqlsync:schema"
#: how long a process starting beside one that is upgrading waits for it
SCHEMA_WAIT_S = 300.0


def _config(connection: sa.Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.attributes["connection"] = connection
    return config


@functools.cache
def head() -> str:
    """The newest schema revision this mqlsync knows."""
    found = ScriptDirectory.from_config(_config()).get_current_head()
    assert found is not None
    return found


def current(engine: sa.Engine) -> str | None:
    """The schema revision of the database (None: empty, or made by mqlsync 0.1.0,
    which kept no version)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: sa.Engine, target: str = "head") -> None:
    """Bring the database to `target`. Cheap when it is there already (one read); else
    under the schema lock, so processes starting together on a new database do not
    both create it: the second finds the work done."""
    if target == "head" and current(engine) == head():
        return
    release = runlock.acquire(engine, SCHEMA_LOCK, wait=SCHEMA_WAIT_S)
    try:
        with engine.begin() as conn:
            command.upgrade(_config(conn), target)
    finally:
        release()
