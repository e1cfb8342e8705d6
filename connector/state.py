"""What mqlsync remembers between runs, in one SQL database (SQLite by default,
PostgreSQL by URL): the only code that writes to it."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, overload

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.pool import StaticPool
from tenacity import Retrying, retry_if_result, stop_after_delay, wait_fixed

from mqlsync.connector import migrations, runlock
from mqlsync.connector.errors import ConnectionBusy
from mqlsync.connector.model import Activity, Contact, DealOutcome, Stage, StageRow, Transition, as_utc, iso

ENV_STATE_URL = "MQLSYNC_STATE_URL"
DEFAULT_URL = "sqlite:///mqlsync-state.db"
#: a store that lives as long as the process (a dry run on a machine that has none yet)
MEMORY_URL = "sqlite://"

metadata = sa.MetaData()
_ts = sa.DateTime(timezone=True)

watermarks = sa.Table(
    "watermarks", metadata,
    sa.Column("connection", sa.String(40), primary_key=True),
    sa.Column("object", sa.String(200), primary_key=True),  # "activities:<source>" keys
    sa.Column("value", _ts, nullable=False))
#: the fields of each contact the scoring model reads, so a rescore needs no API call
contacts = sa.Table(
    "contacts", metadata,
    sa.Column("connection", sa.String(40), primary_key=True),
    sa.Column("contact_id", sa.String(64), primary_key=True),
    sa.Column("record", sa.JSON, nullable=False),
    sa.Column("pulled_at", _ts, nullable=False))
#: the activity ledger: every activity once, by the CRM's id
activities = sa.Table(
    "activities", metadata,
    sa.Column("connection", sa.String(40), primary_key=True),
    sa.Column("activity_id", sa.String(128), primary_key=True),
    sa.Column("contact_id", sa.String(64), nullable=False, index=True),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("at", _ts, nullable=False),
    sa.Column("attributes", sa.JSON, nullable=False))
stages = sa.Table(
    "stages", metadata,
    sa.Column("connection", sa.String(40), primary_key=True),
    sa.Column("contact_id", sa.String(64), primary_key=True),
    sa.Column("stage", sa.String(20), nullable=False),
    sa.Column("since", _ts),
    sa.Column("mql_at", _ts))
#: the values last confirmed written, per contact: the diff is against these
written = sa.Table(
    "written", metadata,
    sa.Column("connection", sa.String(40), primary_key=True),
    sa.Column("contact_id", sa.String(64), primary_key=True),
    sa.Column("values", sa.JSON, nullable=False),
    sa.Column("written_at", _ts, nullable=False))
tasks = sa.Table(
    "tasks", metadata,
    sa.Column("connection", sa.String(40), primary_key=True),
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("contact_id", sa.String(64), nullable=False),
    # pending (recorded before the CRM is asked) | confirmed (in the CRM) | skipped (a
    # qualification found in the CRM without its task, too old to follow up now)
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("crm_id", sa.String(64)),
    sa.Column("created_at", _ts, nullable=False))
transitions = sa.Table(
    "transitions", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("connection", sa.String(40), nullable=False, index=True),
    sa.Column("contact_id", sa.String(64), nullable=False),
    sa.Column("from_stage", sa.String(20), nullable=False),
    sa.Column("to_stage", sa.String(20), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("at", _ts, nullable=False))
#: records the CRM refused, with its reason: retried next run, listed by status
failures = sa.Table(
    "failures", metadata,
    sa.Column("connection", sa.String(40), primary_key=True),
    sa.Column("contact_id", sa.String(64), primary_key=True),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("at", _ts, nullable=False))
#: records that became another (merges, converted leads): old id -> survivor, so
#: activity the CRM still files under the old id reaches the survivor
aliases = sa.Table(
    "aliases", metadata,
    sa.Column("connection", sa.String(40), primary_key=True),
    sa.Column("old_id", sa.String(64), primary_key=True),
    sa.Column("new_id", sa.String(64), nullable=False))
runs = sa.Table(
    "runs", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("connection", sa.String(40), nullable=False, index=True),
    sa.Column("started_at", _ts, nullable=False),
    sa.Column("finished_at", _ts),
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("summary", sa.JSON))
#: what became of each person's deals: won, lost or open (won is null)
outcomes = sa.Table(
    "outcomes", metadata,
    sa.Column("connection", sa.String(40), primary_key=True),
    sa.Column("contact_id", sa.String(64), primary_key=True),
    sa.Column("deal_id", sa.String(64), primary_key=True),
    sa.Column("won", sa.Boolean),
    sa.Column("closed_at", _ts),
    sa.Column("amount", sa.Float),
    sa.Column("pulled_at", _ts, nullable=False))
#: who holds each connection's run lock; the lock itself is runlock's
run_locks = sa.Table(
    "run_locks", metadata,
    sa.Column("connection", sa.String(40), primary_key=True),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("since", _ts, nullable=False))


@overload
def _utc(value: datetime) -> datetime: ...
@overload
def _utc(value: None) -> None: ...
def _utc(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything stored is UTC.
    return None if value is None else as_utc(value)


class StateStore:
    """The state of every connection, in one database."""

    def __init__(self, url: str = DEFAULT_URL) -> None:
        # SQLite: a writer waits up to 30 s for another connection's transaction rather
        # than failing at once ("database is locked").
        options: dict[str, Any] = {"connect_args": {"timeout": 30}} if url.startswith("sqlite") else {}
        if url in (MEMORY_URL, "sqlite:///:memory:"):
            # One database in memory, shared by every connection and thread of the store.
            options = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
        self.engine = sa.create_engine(url, **options)
        migrations.upgrade(self.engine)
        self._open = threading.local()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One transaction for every write made in the block (a chunk's record): all of
        it is committed, or none of it. Writes outside a block commit one by one."""
        if getattr(self._open, "conn", None) is not None:
            yield
            return
        with self.engine.begin() as conn:
            self._open.conn = conn
            try:
                yield
            finally:
                self._open.conn = None

    @contextmanager
    def _begin(self) -> Iterator[sa.Connection]:
        """The open transaction of this thread's block, or a transaction of its own."""
        conn = getattr(self._open, "conn", None)
        if conn is not None:
            yield conn
            return
        with self.engine.begin() as conn:
            yield conn

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, dry_run: bool = False) -> StateStore:
        """The store the environment names (SQLite in the working folder by default).
        A dry run leaves no trace: where that SQLite file does not exist yet, it reads an
        empty store in memory rather than creating the file."""
        env = os.environ if env is None else env
        url = env.get(ENV_STATE_URL) or DEFAULT_URL
        if dry_run and url.startswith("sqlite"):
            database = sa.make_url(url).database
            if database and database != ":memory:" and not Path(database).exists():
                return cls(MEMORY_URL)
        return cls(url)

    def _upsert(self, conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]],
                update: list[str] | None = None) -> None:
        """Insert rows; on a key clash update `update` columns (or keep the old row)."""
        if not rows:
            return
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(table)
        keys = [c.name for c in table.primary_key.columns]
        if update:
            stmt = stmt.on_conflict_do_update(index_elements=keys,
                                              set_={c: stmt.excluded[c] for c in update})
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=keys)
        for i in range(0, len(rows), 500):
            conn.execute(stmt, rows[i:i + 500])

    # --- the run lock ------------------------------------------------------------------

    @contextmanager
    def lock(self, connection: str, wait: float = 0.0) -> Iterator[None]:
        """Hold the connection's run lock for the block: one run per connection at a
        time, across processes and machines sharing this store. Waits up to `wait`
        seconds; raises ConnectionBusy naming the holder (host, pid, since when)."""
        try:
            release = runlock.acquire(self.engine, f"mqlsync:run:{connection}", wait)
        except runlock.Held:
            raise ConnectionBusy(connection, self._holder(connection), wait) from None
        me = {"connection": connection, "host": socket.gethostname()[:255], "pid": os.getpid()}
        try:
            with self.engine.begin() as conn:
                self._upsert(conn, run_locks, [{**me, "since": datetime.now(UTC)}], ["host", "pid", "since"])
            yield
        finally:
            try:
                with self.engine.begin() as conn:
                    conn.execute(sa.delete(run_locks).where(*(run_locks.c[k] == v for k, v in me.items())))
            finally:
                release()

    def _holder(self, connection: str) -> str:
        """Who holds the connection's lock, as the holder wrote it on taking it. A lock
        taken a moment ago is signed a moment later: its row is read again for up to a
        second before the answer says the holder is unknown."""

        def read() -> sa.RowMapping | None:
            with self.engine.connect() as conn:
                query = sa.select(run_locks).where(run_locks.c.connection == connection)
                return conn.execute(query).mappings().first()

        row = Retrying(retry=retry_if_result(lambda found: found is None), wait=wait_fixed(0.05),
                       stop=stop_after_delay(1.0), retry_error_callback=lambda state: None)(read)
        if row is None:
            return "its holder has not said who it is yet"
        return f"host {row['host']}, pid {row['pid']}, since {iso(_utc(row['since']).replace(microsecond=0))}"

    # --- watermarks ------------------------------------------------------------------

    def watermark(self, connection: str, obj: str) -> datetime | None:
        with self.engine.connect() as conn:
            value = conn.execute(sa.select(watermarks.c.value).where(
                watermarks.c.connection == connection, watermarks.c.object == obj)).scalar()
        return _utc(value)

    def set_watermark(self, connection: str, obj: str, value: datetime) -> None:
        with self._begin() as conn:
            self._upsert(conn, watermarks, [{"connection": connection, "object": obj, "value": value}], ["value"])

    # --- contacts and the activity ledger --------------------------------------------

    def save_contacts(self, connection: str, records: Iterable[Contact], now: datetime) -> None:
        rows = [{"connection": connection, "contact_id": c.id, "record": c.model_dump(mode="json", exclude_none=True),
                 "pulled_at": now} for c in records]
        with self._begin() as conn:
            self._upsert(conn, contacts, rows, ["record", "pulled_at"])

    def load_contacts(self, connection: str, ids: Iterable[str] | None = None) -> dict[str, Contact]:
        query = sa.select(contacts.c.record).where(contacts.c.connection == connection)
        out: dict[str, Contact] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(ids) if ids is not None else [None]:
                q = query if chunk is None else query.where(contacts.c.contact_id.in_(chunk))
                for (record,) in conn.execute(q):
                    contact = Contact.model_validate(record)
                    out[contact.id] = contact
        return out

    def contact_ids(self, connection: str) -> list[str]:
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(sa.select(contacts.c.contact_id).where(
                contacts.c.connection == connection))]

    def add_activities(self, connection: str, items: Iterable[Activity]) -> int:
        """Append to the ledger; an activity already there is kept as it was."""
        rows = {a.id: {"connection": connection, "activity_id": a.id, "contact_id": a.contact_id, "type": a.type,
                       "at": a.at, "attributes": a.attributes} for a in items}
        with self._begin() as conn:
            # Which are new is a primary-key lookup of this page's ids: counting the
            # ledger before and after would scan it twice per page.
            known: set[str] = set()
            for chunk in _chunks(rows):
                known.update(conn.execute(sa.select(activities.c.activity_id).where(
                    activities.c.connection == connection, activities.c.activity_id.in_(chunk))).scalars())
            fresh = [row for aid, row in rows.items() if aid not in known]
            self._upsert(conn, activities, fresh)
        return len(fresh)

    def drop_activities(self, connection: str, ids: Iterable[str]) -> set[str]:
        """Take activities out of the ledger (deleted in the CRM); return whose they were."""
        owners: set[str] = set()
        with self._begin() as conn:
            for chunk in _chunks(ids):
                where = (activities.c.connection == connection, activities.c.activity_id.in_(chunk))
                owners.update(conn.execute(sa.select(activities.c.contact_id).where(*where)).scalars())
                conn.execute(sa.delete(activities).where(*where))
        return owners

    def activities_of(self, connection: str, ids: Iterable[str] | None = None) -> dict[str, list[Activity]]:
        query = sa.select(activities).where(activities.c.connection == connection)
        out: dict[str, list[Activity]] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(ids) if ids is not None else [None]:
                q = query if chunk is None else query.where(activities.c.contact_id.in_(chunk))
                for row in conn.execute(q).mappings():
                    out.setdefault(row["contact_id"], []).append(Activity.model_construct(
                        id=row["activity_id"], contact_id=row["contact_id"], type=row["type"], at=_utc(row["at"]),
                        attributes=row["attributes"]))
        return out

    # --- stages, written values, tasks, failures --------------------------------------

    def stages_of(self, connection: str,
                  ids: Iterable[str]) -> dict[str, StageRow]:
        out = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(ids):
                for row in conn.execute(sa.select(stages).where(stages.c.connection == connection,
                                                                stages.c.contact_id.in_(chunk))).mappings():
                    out[row["contact_id"]] = StageRow(Stage(row["stage"]), _utc(row["since"]), _utc(row["mql_at"]))
        return out

    def written_of(self, connection: str, ids: Iterable[str]) -> dict[str, dict[str, str | None]]:
        out = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(ids):
                for row in conn.execute(sa.select(written.c.contact_id, written.c["values"]).where(
                        written.c.connection == connection, written.c.contact_id.in_(chunk))):
                    out[row[0]] = row[1]
        return out

    def commit_writes(self, connection: str, values: Mapping[str, dict[str, str | None]],
                      stage_rows: Mapping[str, StageRow],
                      moves: Iterable[Transition], now: datetime) -> None:
        """Record what the CRM confirmed, in one transaction: written values, stages
        and the transitions that led there; their failures are cleared."""
        with self._begin() as conn:
            self._put(conn, connection, values, stage_rows, now)
            rows = [{"connection": connection, "contact_id": t.contact_id, "from_stage": t.from_stage.value,
                     "to_stage": t.to_stage.value, "reason": t.reason, "at": t.at} for t in moves]
            if rows:
                conn.execute(sa.insert(transitions), rows)
            done = list(values)
            for chunk in _chunks(done):
                conn.execute(sa.delete(failures).where(failures.c.connection == connection,
                                                       failures.c.contact_id.in_(chunk)))

    def rebuild(self, connection: str, values: Mapping[str, dict[str, str | None]],
                stage_rows: Mapping[str, StageRow], now: datetime) -> None:
        """Take what the CRM shows of mqlsync's own fields as what was written, and the
        stages it shows, for contacts this state lacks or knows an older story of."""
        with self._begin() as conn:
            self._put(conn, connection, values, stage_rows, now)

    def _put(self, conn: sa.Connection, connection: str, values: Mapping[str, dict[str, str | None]],
             stage_rows: Mapping[str, StageRow], now: datetime) -> None:
        self._upsert(conn, written, [{"connection": connection, "contact_id": cid, "values": v, "written_at": now}
                                     for cid, v in values.items()], ["values", "written_at"])
        self._upsert(conn, stages, [{"connection": connection, "contact_id": cid, "stage": s.value, "since": since,
                                     "mql_at": mql_at} for cid, (s, since, mql_at) in stage_rows.items()],
                     ["stage", "since", "mql_at"])

    def tasks_of(self, connection: str, keys: Iterable[str]) -> dict[str, tuple[str, str | None]]:
        out = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(keys):
                for row in conn.execute(sa.select(tasks.c.key, tasks.c.status, tasks.c.crm_id).where(
                        tasks.c.connection == connection, tasks.c.key.in_(chunk))):
                    out[row[0]] = (row[1], row[2])
        return out

    def task_keys_of(self, connection: str, ids: Iterable[str]) -> dict[str, list[tuple[str, str]]]:
        """Each contact's task keys with their status (pending or confirmed)."""
        out: dict[str, list[tuple[str, str]]] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(ids):
                for cid, key, status in conn.execute(sa.select(tasks.c.contact_id, tasks.c.key, tasks.c.status).where(
                        tasks.c.connection == connection, tasks.c.contact_id.in_(chunk))):
                    out.setdefault(cid, []).append((key, status))
        return out

    def tasks_pending(self, connection: str, items: Mapping[str, str], now: datetime) -> None:
        """Record task keys (key -> contact) before asking the CRM to create them."""
        with self._begin() as conn:
            self._upsert(conn, tasks, [{"connection": connection, "key": k, "contact_id": cid, "status": "pending",
                                        "crm_id": None, "created_at": now} for k, cid in items.items()])

    def tasks_confirmed(self, connection: str, created: Mapping[str, str]) -> None:
        with self._begin() as conn:
            for key, crm_id in created.items():
                conn.execute(sa.update(tasks).where(tasks.c.connection == connection, tasks.c.key == key)
                             .values(status="confirmed", crm_id=crm_id))

    def tasks_skipped(self, connection: str, items: Mapping[str, str], now: datetime) -> None:
        """Qualifications found in the CRM without their task, too old to follow up:
        remembered, so they are not looked up again (key -> contact)."""
        with self._begin() as conn:
            self._upsert(conn, tasks, [{"connection": connection, "key": k, "contact_id": cid, "status": "skipped",
                                        "crm_id": None, "created_at": now} for k, cid in items.items()], ["status"])

    def record_failures(self, connection: str, items: Mapping[str, str], now: datetime) -> dict[str, int]:
        """Record refused writes with the CRM's reason; returns each one's count of
        runs in a row it has failed."""
        with self._begin() as conn:
            known: dict[str, int] = {}
            for chunk in _chunks(items):
                known.update(conn.execute(sa.select(failures.c.contact_id, failures.c.attempts).where(
                    failures.c.connection == connection, failures.c.contact_id.in_(chunk))).all())
            self._upsert(conn, failures, [{"connection": connection, "contact_id": cid, "reason": reason,
                                           "attempts": known.get(cid, 0) + 1, "at": now}
                                          for cid, reason in items.items()], ["reason", "attempts", "at"])
        return {cid: known.get(cid, 0) + 1 for cid in items}

    def status(self, connection: str, runs_shown: int = 5) -> dict[str, Any]:
        """What `mqlsync status` shows: the last runs, the watermarks, the records the
        CRM keeps refusing (with its reason) and the tasks not yet confirmed."""
        with self.engine.connect() as conn:
            recent = conn.execute(sa.select(runs).where(runs.c.connection == connection)
                                  .order_by(runs.c.id.desc()).limit(runs_shown)).mappings().all()
            marks = conn.execute(sa.select(watermarks.c.object, watermarks.c.value).where(
                watermarks.c.connection == connection).order_by(watermarks.c.object)).all()
            failing = conn.execute(sa.select(failures).where(failures.c.connection == connection)
                                   .order_by(failures.c.attempts.desc(), failures.c.contact_id)).mappings().all()
            pending = conn.execute(sa.select(sa.func.count()).select_from(tasks).where(
                tasks.c.connection == connection, tasks.c.status == "pending")).scalar()
            known = conn.execute(sa.select(sa.func.count()).select_from(contacts).where(
                contacts.c.connection == connection)).scalar()
        return {
            "connection": connection, "contacts_known": known, "tasks_unconfirmed": pending,
            "runs": [{"started_at": _utc(r["started_at"]), "finished_at": _utc(r["finished_at"]), "status": r["status"],
                      "summary": r["summary"] or {}} for r in recent],
            "watermarks": {obj: _utc(value) for obj, value in marks},
            "failures": [{"contact_id": r["contact_id"], "reason": r["reason"], "attempts": r["attempts"],
                          "last_at": _utc(r["at"])} for r in failing],
        }

    def failures_of(self, connection: str) -> dict[str, tuple[str, int]]:
        with self.engine.connect() as conn:
            query = sa.select(failures.c.contact_id, failures.c.reason, failures.c.attempts).where(
                failures.c.connection == connection)
            return {r[0]: (r[1], r[2]) for r in conn.execute(query)}

    def save_outcomes(self, connection: str, items: Iterable[DealOutcome], now: datetime) -> int:
        """Record what became of deals (a deal seen again replaces what was known)."""
        rows = [{"connection": connection, "contact_id": o.contact_id, "deal_id": o.deal_id, "won": o.won,
                 "closed_at": o.closed_at, "amount": o.amount, "pulled_at": now} for o in items]
        with self._begin() as conn:
            self._upsert(conn, outcomes, rows, ["won", "closed_at", "amount", "pulled_at"])
        return len(rows)

    def outcomes_of(self, connection: str, ids: Iterable[str] | None = None) -> dict[str, list[DealOutcome]]:
        """Each person's deals (of everyone, or of `ids`), as last pulled."""
        out: dict[str, list[DealOutcome]] = {}
        query = sa.select(outcomes).where(outcomes.c.connection == connection)
        with self.engine.connect() as conn:
            rows = [r for chunk in (_chunks(ids) if ids is not None else [None])
                    for r in conn.execute(query if chunk is None else query.where(
                        outcomes.c.contact_id.in_(chunk))).mappings()]
            for r in rows:
                out.setdefault(r["contact_id"], []).append(
                    DealOutcome(r["contact_id"], r["deal_id"], r["won"], _utc(r["closed_at"]), r["amount"]))
        return out

    def transitions_of(self, connection: str, contact_id: str | None = None) -> list[Transition]:
        query = sa.select(transitions).where(transitions.c.connection == connection).order_by(transitions.c.id)
        if contact_id is not None:
            query = query.where(transitions.c.contact_id == contact_id)
        with self.engine.connect() as conn:
            return [Transition(r["contact_id"], Stage(r["from_stage"]), Stage(r["to_stage"]), r["reason"],
                               _utc(r["at"]))
                    for r in conn.execute(query).mappings()]

    # --- people who left the CRM, or became someone else ----------------------------

    def forget(self, connection: str, ids: Iterable[str], keep_history: bool = False) -> int:
        """Drop what is kept about records deleted in the CRM: their snapshot, ledger,
        stage, written values and failures (transitions and tasks stay, as history).
        `keep_history` keeps the ledger and the stage, for a record found gone at write
        time, which may turn out merged into another that inherits them.
        Returns how many were known."""
        ids = list(ids)
        known = 0
        tables = (contacts, written, failures) if keep_history else (contacts, activities, stages, written, failures)
        with self._begin() as conn:
            for chunk in _chunks(ids):
                known += len(conn.execute(sa.select(contacts.c.contact_id).where(
                    contacts.c.connection == connection, contacts.c.contact_id.in_(chunk))).all())
                for table in tables:
                    conn.execute(sa.delete(table).where(table.c.connection == connection,
                                                        table.c.contact_id.in_(chunk)))
        return known

    def merge(self, connection: str, moves: Mapping[str, str]) -> list[str]:
        """Records that became another (a Salesforce Lead converted to a Contact; a
        merge): the ledger follows to the survivor, and the stage where it is further
        along than the survivor's own; the rest of the old record is forgotten. Returns the survivors
        that received something, so the run rescores them."""
        moved: list[str] = []
        with self._begin() as conn:
            self._upsert(conn, aliases, [{"connection": connection, "old_id": old, "new_id": new}
                                         for old, new in moves.items() if old != new], ["new_id"])
            for old, new in moves.items():
                if old == new:
                    continue
                theirs = {r[0] for r in conn.execute(sa.select(activities.c.activity_id).where(
                    activities.c.connection == connection, activities.c.contact_id == new))}
                rows = conn.execute(sa.select(activities.c.activity_id).where(
                    activities.c.connection == connection, activities.c.contact_id == old)).scalars().all()
                for aid in rows:
                    if aid in theirs:
                        conn.execute(sa.delete(activities).where(activities.c.connection == connection,
                                                                 activities.c.activity_id == aid))
                conn.execute(sa.update(activities).where(activities.c.connection == connection,
                                                         activities.c.contact_id == old).values(contact_id=new))
                stage = conn.execute(sa.select(stages).where(stages.c.connection == connection,
                                                             stages.c.contact_id == old)).mappings().first()
                own = conn.execute(sa.select(stages).where(stages.c.connection == connection,
                                                           stages.c.contact_id == new)).mappings().first()
                # The survivor keeps the further-along stage: a merged-in MQL stays
                # qualified (with its qualification time, so no second task).
                if stage is not None and (own is None or Stage(stage["stage"]).rank > Stage(own["stage"]).rank):
                    conn.execute(sa.delete(stages).where(stages.c.connection == connection,
                                                         stages.c.contact_id == new))
                    conn.execute(sa.update(stages).where(stages.c.connection == connection,
                                                         stages.c.contact_id == old).values(contact_id=new))
                # Its tasks' keys follow too: the qualification they record is the
                # survivor's now, and must not be followed up a second time.
                conn.execute(sa.update(tasks).where(tasks.c.connection == connection, tasks.c.contact_id == old)
                             .values(contact_id=new))
                if rows or stage is not None:
                    moved.append(new)
                for table in (contacts, stages, written, failures):
                    conn.execute(sa.delete(table).where(table.c.connection == connection, table.c.contact_id == old))
        return moved

    def survivors_of(self, connection: str, ids: Iterable[str]) -> dict[str, str]:
        """For ids that were merged away: the record they live on as (followed through
        merges of merges)."""
        ids = set(ids)
        direct: dict[str, str] = {}
        frontier = set(ids)
        with self.engine.connect() as conn:
            while frontier:
                found: dict[str, str] = {}
                for chunk in _chunks(frontier):
                    found.update(conn.execute(sa.select(aliases.c.old_id, aliases.c.new_id).where(
                        aliases.c.connection == connection, aliases.c.old_id.in_(chunk))).all())
                direct.update(found)
                frontier = set(found.values()) - set(direct)
        out: dict[str, str] = {}
        for start in ids & set(direct):
            end, seen = start, set()
            while end in direct and end not in seen:
                seen.add(end)
                end = direct[end]
            out[start] = end
        return out

    # --- the run log -----------------------------------------------------------------

    def start_run(self, connection: str, now: datetime) -> int:
        with self._begin() as conn:
            inserted = conn.execute(sa.insert(runs).values(connection=connection, started_at=now, status="running"))
            return int(inserted.inserted_primary_key[0])  # type: ignore[index]  # an insert has its key

    def finish_run(self, run_id: int, status: str, summary: dict[str, Any], now: datetime) -> None:
        with self._begin() as conn:
            conn.execute(sa.update(runs).where(runs.c.id == run_id).values(finished_at=now, status=status,
                                                                           summary=summary))


def _chunks(ids: Iterable[str] | None, size: int = 500):
    items = list(ids or [])
    for i in range(0, len(items), size):
        yield items[i:i + size]
