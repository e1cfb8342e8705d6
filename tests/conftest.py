"""Shared builders: literal contacts and activities, and small models from YAML text."""

from __future__ import annotations

import os
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import settings

from mqlsync.connector.config import LoadedModel, load_model
from mqlsync.connector.model import Activity, Contact
from mqlsync.connector.scoring import Scorer

ROOT = Path(__file__).resolve().parent.parent
# Hypothesis draws the same examples on every run, here and in CI, so a run's strength
# does not vary; HYPOTHESIS_PROFILE=explore draws new ones to hunt for fresh failures.
settings.register_profile("fixed", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fixed"))

NOW = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)

#: a model's head for tests that only care about their own rules
HEAD = """
mql: {threshold: 50, grade_floor: C}
grades: {A: {min: 40}, B: {min: 25, max: 40}, C: {min: 10, max: 25}, D: {min: 0, max: 10}, F: {max: 0}}
"""


def make_contact(id: str = "c1", **fields) -> Contact:
    base = dict(first_name="Ágnes", last_name="Kovács", title="Head of Marketing", email="agnes@northwind.hu")
    base.update(fields)
    return Contact(id=id, **base)


def make_activity(type: str, days_ago: float = 1.0, id: str | None = None, contact_id: str = "c1",
                  now: datetime = NOW, **attributes) -> Activity:
    make_activity.n += 1
    return Activity(id=id or f"a{make_activity.n}", contact_id=contact_id, type=type,
                    at=now - timedelta(days=days_ago), attributes=attributes)


make_activity.n = 0


def model_from(tmp_path: Path, rules_yaml: str, head: str = HEAD, name: str = "model.yaml") -> LoadedModel:
    path = tmp_path / name
    path.write_text(textwrap.dedent(head) + "rules:\n" + textwrap.indent(textwrap.dedent(rules_yaml), "  "),
                    encoding="utf-8")
    return load_model(path)


def scorer_from(tmp_path: Path, rules_yaml: str, head: str = HEAD) -> Scorer:
    return Scorer(model_from(tmp_path, rules_yaml, head))


@pytest.fixture(scope="session")
def default_model() -> LoadedModel:
    return load_model(ROOT / "mappings" / "scoring.yaml")


@pytest.fixture(scope="session")
def default_scorer(default_model) -> Scorer:
    return Scorer(default_model)


#: every credential the suite hands to an adapter or a sandbox
SUITE_SECRETS = ("sandbox-token", "sandbox-session", "sandbox-secret-7f3a", "hunter2-pw", "sec-token-XYZ",
                 "00Dxx0000001gPL!AQ4AQsession")


@pytest.fixture(autouse=True)
def no_secret_in_any_log_line(caplog):
    """Every test's log, down to debug and from every library, is searched for the
    credentials the suite uses: none may appear (the CLI also redacts; this checks that
    nothing needs it)."""
    import logging

    caplog.set_level(logging.DEBUG)
    yield
    for record in caplog.get_records("setup") + caplog.get_records("call"):
        message = record.getMessage()
        leaked = [s for s in SUITE_SECRETS if s in message]
        assert not leaked, f"{record.name} logged a credential: {message[:200]}"


POSTGRES = __import__("os").environ.get("MQLSYNC_TEST_POSTGRES_URL")


@pytest.fixture
def fresh_postgres():
    """The URL of a new, empty PostgreSQL database, dropped after the test (skipped
    where no server is given: .ci/run starts one)."""
    import uuid

    import sqlalchemy as sa

    if not POSTGRES:
        pytest.skip("MQLSYNC_TEST_POSTGRES_URL not set (.ci/run starts a PostgreSQL)")
    name = f"mqlsync_test_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    try:
        yield POSTGRES.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()
