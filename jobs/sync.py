"""One sync run: pull what changed, append activity to the ledger, score, decide the
stage, write only what changed, and move the watermark once the writes are confirmed."""

from __future__ import annotations

import hashlib
import logging
import string
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from mqlsync.connector.adapters.base import CRM
from mqlsync.connector.config import LoadedMapping
from mqlsync.connector.config.mapping import WriteBack
from mqlsync.connector.model import (
    Activity,
    Contact,
    FieldWrite,
    ScoreCard,
    Stage,
    TaskRequest,
    Transition,
    WritePlan,
    iso,
)
from mqlsync.connector.scoring import Decision, SalesSignals, Scorer, StageState, decide, sales_text
from mqlsync.connector.scoring.explain import whole
from mqlsync.connector.state import StateStore

from .score import initial_state

log = logging.getLogger("mqlsync.sync")

#: stages that carry the MQL tag: qualified by marketing, or further along
TAGGED = (Stage.MQL, Stage.SAL, Stage.SQL, Stage.OPPORTUNITY, Stage.CUSTOMER)
#: contacts scored, written and committed together: memory holds one chunk at a time
CHUNK = 2000
#: a record refused this many runs in a row is reported as failing for good
PERSISTENT = 3
#: changes kept for the dry-run listing and --json (the count covers them all)
DIFF_SHOWN = 200


@dataclass
class RunSummary:
    """What a run did, printed at the end of every run and kept in the run log."""

    connection: str
    dry_run: bool
    started_at: str
    full: bool = False
    contacts: int = 0
    activities: int = 0
    new_activities: int = 0
    #: records the CRM deleted, and records merged into another (converted leads)
    deleted: int = 0
    merged: int = 0
    #: contacts whose state was rebuilt from what the CRM shows of mqlsync's fields
    rebuilt: int = 0
    scored: int = 0
    changed: int = 0
    writes: int = 0
    mqls: int = 0
    new_mqls: int = 0
    tasks_created: int = 0
    requests: int = 0
    duration_s: float = 0.0
    rejected: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    diff: list[dict[str, Any]] = field(default_factory=list)
    top_rules: list[tuple[str, int]] = field(default_factory=list)

    @property
    def status(self) -> str:
        return "partial" if self.failed or self.rejected else "ok"

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["status"] = self.status
        out["top_rules"] = [{"rule": r, "contacts": n} for r, n in self.top_rules]
        return out


#: kept in the state for every contact: ids, times, the CRM's stage and sales' verdict
KEPT = frozenset({"id", "owner_id", "created_at", "updated_at", "crm_stage", "sales_status", "sales_status_at",
                  "sql_criteria", "unsubscribed", "bounced"})
#: the contact fields each task subject placeholder shows
PLACEHOLDER_FIELDS = {"name": ("first_name", "last_name"), "title": ("title",), "company": ("company",),
                      "email": ("email",)}


@dataclass(frozen=True)
class Keep:
    """What of a contact the state keeps: the fields the scoring model reads by value
    (and the task subject shows), a hash where the model only asks whether a field is
    filled, nothing of the rest. An e-mail read only for its domain keeps the domain."""

    value: frozenset[str]
    presence: frozenset[str]
    domain_only: bool

    @classmethod
    def of(cls, loaded: LoadedMapping) -> Keep:
        use = loaded.model.model.field_use()
        value = {f for f, how in use.items() if how == "value"}
        names = {f for _, f, _, _ in string.Formatter().parse(loaded.mapping.tasks.subject) if f}
        for placeholder in names:
            value.update(PLACEHOLDER_FIELDS.get(placeholder, ()))
        presence = {f for f, how in use.items() if how == "presence"} - value
        domain_only = "email_domain" in value and "email" not in value
        return cls(frozenset(value), frozenset(presence), domain_only)

    def stored(self, contact: Contact) -> Contact:
        out: dict[str, Any] = {}
        for key, v in contact.model_dump(exclude_none=True, exclude_defaults=True).items():
            if key in KEPT or key in self.value:
                out[key] = v
            elif key == "attributes":
                kept = {a: (x if f"attributes.{a}" in self.value else _hashed(x)) for a, x in v.items()
                        if f"attributes.{a}" in self.value or f"attributes.{a}" in self.presence}
                if kept:
                    out[key] = kept
            elif key in self.presence:
                out[key] = _hashed(v)
            elif key == "email" and self.domain_only and "@" in str(v):
                local, domain = str(v).rsplit("@", 1)
                out[key] = f"{_hashed(local)}@{domain}"
        return Contact.model_validate(out)


def _hashed(value: Any) -> Any:
    """A stand-in that is filled when the value is, and says nothing about it."""
    if not isinstance(value, str):
        return value  # numbers and flags say nothing about a person
    return "sha256:" + hashlib.sha256(value.encode("utf-8")).hexdigest()[:16]


def crm_values(card: ScoreCard, decision: Decision, mql_at: datetime | None) -> dict[str, str | None]:
    """The write-back values in mqlsync's words, as the strings the CRM will hold.
    Whole points: decay then changes a value only now and then, not on every run."""
    return {
        "score": whole(card.total), "fit": whole(card.fit), "engagement": whole(card.engagement),
        "negative": whole(card.negative), "grade": card.grade, "stage": decision.stage.value,
        "mql": "true" if decision.stage in TAGGED else "false", "mql_at": iso(mql_at),
        "explanation": sales_text(card), "model_version": card.model_version, "lifecycle": decision.stage.value,
    }


def task_key(connection: str, contact_id: str, mql_at: datetime) -> str:
    """One key per qualification: the same however often the run repeats."""
    return f"{connection}:{contact_id}:{mql_at.strftime('%Y%m%dT%H%M%SZ')}"


def qualified_at_of(key: str) -> datetime | None:
    """The qualification time a task key was made from (see task_key)."""
    try:
        return datetime.strptime(key.rsplit(":", 1)[1], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except (IndexError, ValueError):
        return None


def task_for(loaded: LoadedMapping, contact: Contact, card: ScoreCard, mql_at: datetime) -> TaskRequest:
    spec = loaded.mapping.tasks
    subject = spec.subject.format(name=contact.name, title=contact.title or "", company=contact.company or "",
                                  total=whole(card.total), fit=whole(card.fit), engagement=whole(card.engagement),
                                  grade=card.grade, email=contact.email or "")
    sla = timedelta(hours=loaded.model.model.sla_hours)
    return TaskRequest(key=task_key(loaded.mapping.connection, contact.id, mql_at), contact_id=contact.id,
                       owner_id=contact.owner_id, due_at=mql_at + sla, subject=subject,
                       body=f"New MQL, follow up within {loaded.model.model.sla_hours:g} hours.\n{sales_text(card)}",
                       priority=spec.priority)


def run_sync(loaded: LoadedMapping, crm: CRM, store: StateStore, now: datetime, dry_run: bool = False,
             full: bool = False, progress: Callable[[str, int], None] | None = None,
             rescore_only: bool = False, wait: float = 0.0) -> RunSummary:
    """One run, holding the connection's lock from before it reads until its state is
    committed: a second run of the connection waits up to `wait` seconds for it, then
    raises ConnectionBusy having done nothing. `dry_run` reads the CRM and computes the
    writes, then writes nothing, neither to the CRM nor to the state (and takes no
    lock: it cannot duplicate anything). `rescore_only` skips the pulls and rescores
    every known contact from the ledger (the daily decay pass)."""
    if dry_run:
        return _locked_run(loaded, crm, store, now, dry_run, full, progress, rescore_only)
    asked = time.perf_counter()
    with store.lock(loaded.mapping.connection, wait):
        # A run that waited for the lock starts when it gets it.
        now += timedelta(seconds=time.perf_counter() - asked)
        return _locked_run(loaded, crm, store, now, dry_run, full, progress, rescore_only)


def _locked_run(loaded: LoadedMapping, crm: CRM, store: StateStore, now: datetime, dry_run: bool, full: bool,
                progress: Callable[[str, int], None] | None, rescore_only: bool) -> RunSummary:
    clock = time.perf_counter()
    conn = loaded.mapping.connection
    summary = RunSummary(connection=conn, dry_run=dry_run, started_at=iso(now), full=full)
    run_id = None if dry_run else store.start_run(conn, now)
    requests_before = crm.requests
    try:
        _run(loaded, crm, store, now, dry_run, full, rescore_only, summary, progress)
    except BaseException as exc:
        if run_id is not None:
            store.finish_run(run_id, "failed", {"error": type(exc).__name__},
                             now + timedelta(seconds=time.perf_counter() - clock))
        raise
    summary.requests = crm.requests - requests_before
    summary.duration_s = round(time.perf_counter() - clock, 3)
    if run_id is not None:
        # The run log keeps counts, reasons and ids, not the changes' names and values.
        store.finish_run(run_id, summary.status, {k: v for k, v in summary.as_json().items() if k != "diff"},
                         now + timedelta(seconds=summary.duration_s))
    return summary


def _run(loaded: LoadedMapping, crm: CRM, store: StateStore, now: datetime, dry_run: bool, full: bool,
         rescore_only: bool, summary: RunSummary, progress) -> None:
    conn = loaded.mapping.connection
    tick = progress or (lambda stage, n: None)

    # 1. Pull contacts changed since the watermark, and activity since its own. Each
    #    page goes to the store as it arrives: memory holds ids, not the whole CRM.
    #    A dry run may not write its state, so it keeps what it pulled in memory.
    affected: set[str] = set()
    held_contacts: dict[str, Contact] = {}
    held_adopted: dict[str, tuple[StageRow | None, dict[str, str | None] | None]] = {}
    held_activities: dict[str, list[Activity]] = {}
    high: dict[str, datetime | None] = {"contacts": None}
    keep = Keep.of(loaded)
    if not rescore_only:
        since = None if full else store.watermark(conn, "contacts")
        for page in crm.pull_contacts(since):
            # What is kept (and scored, now and in later runs) is what the model needs.
            kept = [keep.stored(c) for c in page.contacts]
            if dry_run:
                held_contacts.update((c.id, c) for c in kept)
            else:
                store.save_contacts(conn, kept, now)
            if page.recorded:
                # What the CRM shows of mqlsync's fields rebuilds what the state lacks.
                adopted = adopt_from_crm(page.recorded, store.stages_of(conn, page.recorded),
                                         store.written_of(conn, page.recorded))
                if dry_run:
                    held_adopted.update(adopted)
                elif adopted:
                    store.rebuild(conn, {cid: w for cid, (_, w) in adopted.items() if w is not None},
                                  {cid: r for cid, (r, _) in adopted.items() if r is not None}, now)
                summary.rebuilt += len(adopted)
            affected.update(c.id for c in page.contacts)
            gone = set(page.deleted) | set(page.merged)
            if gone:
                affected -= gone
                for cid in gone:
                    held_contacts.pop(cid, None)
                if not dry_run:
                    store.forget(conn, page.deleted)
                    # A survivor names its merged records on every later pull: only
                    # the merges that moved something count (and need a rescore).
                    received = store.merge(conn, page.merged)
                    affected.update(received)
                    summary.merged += len(received)
                else:
                    summary.merged += len(page.merged)
                summary.deleted += len(page.deleted)
            summary.contacts += len(page.contacts)
            summary.rejected += [str(r) for r in page.rejected]
            high["contacts"] = _later(high["contacts"], page.high_water)
            tick("contacts", len(page.contacts))
        # Each activity source has its own watermark: sources filter on different times.
        activity_since = {src.source: None if full else store.watermark(conn, f"activities:{src.source}")
                          for src in loaded.mapping.activities}
        for page in crm.pull_activities(activity_since):
            # Activity the CRM still files under a merged-away id goes to the survivor.
            moved = store.survivors_of(conn, {a.contact_id for a in page.activities})
            if moved:
                page.activities = [a.model_copy(update={"contact_id": moved[a.contact_id]})
                                   if a.contact_id in moved else a for a in page.activities]
            if dry_run:
                for activity in page.activities:
                    held_activities.setdefault(activity.contact_id, []).append(activity)
            else:
                summary.new_activities += store.add_activities(conn, page.activities)
            affected.update(a.contact_id for a in page.activities)
            summary.activities += len(page.activities)
            summary.rejected += [str(r) for r in page.rejected]
            key = f"activities:{page.source}"
            high[key] = _later(high.get(key), page.high_water)
            tick("activities", len(page.activities))

    # 2. Everyone whose score may have changed (and last run's failures), in chunks:
    #    each chunk is scored, written and committed before the next is read.
    if rescore_only:
        ids = sorted(store.contact_ids(conn))
    else:
        ids = sorted(affected | set(store.failures_of(conn)))
    scorer = Scorer(loaded.model)
    rules: dict[str, int] = {}
    for i in range(0, len(ids), CHUNK):
        chunk = ids[i:i + CHUNK]
        contacts = store.load_contacts(conn, chunk)
        contacts.update((cid, held_contacts[cid]) for cid in chunk if cid in held_contacts)
        ledger = store.activities_of(conn, contacts)
        for cid in contacts:
            ledger.setdefault(cid, []).extend(held_activities.get(cid, ()))
        stages, previous = store.stages_of(conn, contacts), store.written_of(conn, contacts)
        for cid in contacts.keys() & held_adopted.keys():  # a dry run's rebuild, held in memory
            row, values = held_adopted[cid]
            if row is not None:
                stages[cid] = row
            if values is not None:
                previous[cid] = values
        task_keys = store.task_keys_of(conn, contacts)
        plan, owed, outcome = _decide_chunk(loaded, crm, scorer, contacts, ledger, stages, previous, task_keys,
                                            now, summary, rules, tick)
        _settle_tasks(loaded, crm, store, plan, owed, task_keys, now, dry_run)
        if dry_run:
            summary.tasks_created += len(plan.tasks)
            continue
        _write_chunk(conn, crm, store, plan, outcome, now, summary)
    summary.top_rules = sorted(rules.items(), key=lambda kv: (-kv[1], kv[0]))[:10]

    # 3. Watermarks: to the newest change the CRM showed, never past this run's start,
    #    and only once every chunk is written. Records the CRM refused stay in the
    #    failures table and are picked up again next run.
    if not dry_run:
        for obj, value in high.items():
            if value is not None:
                store.set_watermark(conn, obj, min(value, now))


StageRow = tuple[Stage, datetime | None, datetime | None]  # stage, since, mql_at
Outcome = dict[str, tuple[dict[str, str | None], StageRow, tuple[Transition, ...]]]


def adopt_from_crm(recorded: dict[str, dict[str, str | None]], stages: dict[str, StageRow],
                   written: dict[str, dict[str, str | None]]) -> dict[str, tuple[StageRow | None,
                                                                                dict[str, str | None] | None]]:
    """What the state takes from what the CRM shows of mqlsync's own fields (contact ->
    stage row, written values; None where it keeps its own). All of it, for a contact
    the state knows nothing of: a lost, reset or new state database, or another
    machine's. The stage and values, where the CRM shows a qualification later than the
    state's: an old backup, or runs from another state database since. Otherwise the
    state's own record stands."""
    out: dict[str, tuple[StageRow | None, dict[str, str | None] | None]] = {}
    for cid, shown in recorded.items():
        if not any(v is not None for k, v in shown.items() if k != "lifecycle"):
            continue  # mqlsync never wrote this record
        try:
            stage = Stage(value) if (value := shown.get("stage")) else None
        except ValueError:
            stage = None  # not a stage mqlsync writes: someone typed it
        mql_at = _time(shown.get("mql_at")) if stage in TAGGED else None
        row: StageRow | None = None
        if stage is not None:
            row = (stage, mql_at if stage == Stage.MQL else None, mql_at)
        known = stages.get(cid)
        if known is None:
            if row is not None or cid not in written:
                out[cid] = (row, None if cid in written else dict(shown))
        elif mql_at is not None and (known[2] is None or mql_at > known[2].replace(microsecond=0)):
            out[cid] = (row, dict(shown))  # mql_at is set only with a tagged stage: row is not None
        elif cid not in written:
            out[cid] = (None, dict(shown))
    return out


def _time(value: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError:
        return None


def _decide_chunk(loaded, crm, scorer, contacts, ledger, stages, previous, task_keys, now, summary, rules,
                  tick) -> tuple[WritePlan, list[TaskRequest], Outcome]:
    """Score, decide and diff a chunk of contacts: what to write, the tasks owed for
    qualifications this state has not seen confirmed (looked up before any is made),
    and what to record. `task_keys` holds each contact's task keys and their status:
    the journal of qualifications."""
    spec = loaded.model.model.lifecycle
    write_back = loaded.mapping.write_back
    plan = WritePlan()
    owed: list[TaskRequest] = []
    outcome: Outcome = {}
    for cid, contact in contacts.items():
        card = scorer.score(contact, ledger.get(cid, ()), now)
        known = stages.get(cid)
        state = StageState(known[0], known[1]) if known else initial_state(contact)
        # Whole seconds: a qualification's time is written to the CRM and read back
        # from it (HubSpot keeps milliseconds) and keys its task, all to the second.
        decision = decide(state, card, SalesSignals.of(contact), now.replace(microsecond=0), spec)
        qualified_at = decision.mql_at
        since = decision.state.since
        keys = dict(task_keys.get(cid, ()))
        prior, confirmed = _latest_qualification(keys)
        unrecorded = prior is not None and (known is None or (
            (known[1] is None or prior > known[1]) and (known[2] is None or prior > known[2])))
        if unrecorded and (qualified_at is not None or (decision.stage in TAGGED and not confirmed)):
            # A run qualified this contact and created (or was creating) its task, then
            # stopped before recording the stage; or its task's fate is unknown while the
            # CRM already shows the stage that run wrote: the same qualification, the
            # same task key (looked up before it is created again).
            qualified_at = prior
            since = prior if decision.stage == Stage.MQL else since
        mql_at = qualified_at or (known[2] if known else None)
        if decision.stage not in TAGGED:
            mql_at = None
        values = crm_values(card, decision, mql_at)
        before = previous.get(cid, {})
        # Only what lands in a CRM field is a change: a value the mapping writes nowhere
        # (or a stage its CRM has no value for) is recorded, not sent.
        changed = {k: v for k, v in values.items() if before.get(k) != v and _reaches_crm(write_back, k, v)}
        if changed:
            plan.updates.append(FieldWrite(contact_id=cid, values=changed, lifecycle_from=crm.lifecycle_of(cid)))
            summary.changed += 1
            if len(summary.diff) < DIFF_SHOWN:
                summary.diff.append({"contact_id": cid, "name": contact.name, "changes": {
                    k: [before.get(k), v] for k, v in changed.items() if k != "explanation"}})
        if loaded.mapping.tasks.enabled:
            if qualified_at is not None:
                plan.tasks.append(task_for(loaded, contact, card, qualified_at))
            elif mql_at is not None and _task_status(keys, mql_at) not in ("confirmed", "skipped"):
                # A qualification this state has no confirmed task for (it was lost,
                # reset, restored from a backup, or the qualification came from another
                # state): the CRM says whether its task exists.
                owed.append(task_for(loaded, contact, card, mql_at))
        outcome[cid] = (values, (decision.stage, since, mql_at), decision.transitions)
        summary.scored += 1
        summary.mqls += decision.stage == Stage.MQL
        summary.new_mqls += qualified_at is not None
        for hit in card.hits:
            rules[hit.rule_id] = rules.get(hit.rule_id, 0) + 1
        tick("scored", 1)
    return plan, owed, outcome


def _reaches_crm(write_back: WriteBack, key: str, value: str | None) -> bool:
    if key == "lifecycle":
        return write_back.lifecycle and value is not None and Stage(value) in write_back.stage_values
    if key == "mql":
        return True  # the MQL tag: a field or a list membership
    return key in write_back.fields


def _task_status(keys: dict[str, str], qualified_at: datetime) -> str | None:
    """The status of the task of the qualification at `qualified_at` among a contact's
    keys: matched by time, since a merged-in record's keys carry its old id."""
    at = qualified_at.replace(microsecond=0)
    return next((status for key, status in keys.items() if qualified_at_of(key) == at), None)


def _latest_qualification(keys: dict[str, str]) -> tuple[datetime | None, bool]:
    """The latest qualification time among a contact's task keys, and whether its task
    is confirmed in the CRM."""
    latest: tuple[datetime | None, bool] = (None, False)
    for key, status in keys.items():
        at = qualified_at_of(key)
        if at is not None and (latest[0] is None or at > latest[0]):
            latest = (at, status == "confirmed")
    return latest


def _settle_tasks(loaded: LoadedMapping, crm: CRM, store: StateStore, plan: WritePlan, owed: list[TaskRequest],
                  task_keys: dict[str, list[tuple[str, str]]], now: datetime, dry_run: bool) -> None:
    """Decide which tasks the plan creates, asking the CRM where this state cannot tell.
    A key already confirmed is done. A key recorded but never confirmed (a run stopped
    between the two), and a qualification owed a task this state has not seen, are
    looked up in the CRM by key: found, it is confirmed and not made again. An owed task
    not found is made while its follow-up is still due (within the model's SLA: the run
    that qualified the lead may have stopped before making it); an older one is left
    alone and remembered as skipped (its rep may have deleted it)."""
    conn = loaded.mapping.connection
    status = {key: st for keys in task_keys.values() for key, st in keys}
    plan.tasks = [t for t in plan.tasks if status.get(t.key) != "confirmed"]
    ask = {t.key: t.contact_id for t in plan.tasks if status.get(t.key) == "pending"}
    ask.update((t.key, t.contact_id) for t in owed)
    found = crm.find_tasks(ask) if ask else {}
    if found and not dry_run:
        store.tasks_confirmed(conn, found)
    plan.tasks = [t for t in plan.tasks if t.key not in found]
    due = timedelta(hours=loaded.model.model.sla_hours)
    skipped: dict[str, str] = {}
    for task in owed:
        if task.key in found:
            continue
        at = qualified_at_of(task.key)
        if status.get(task.key) == "pending" or (at is not None and now - at < due):
            plan.tasks.append(task)
        else:
            skipped[task.key] = task.contact_id
            log.info("%s: qualified at %s but has no follow-up task in the CRM; past the %g-hour SLA, none is made "
                     "now", task.contact_id, iso(at), loaded.model.model.sla_hours)
    if skipped and not dry_run:
        store.tasks_skipped(conn, skipped, now)


def _write_chunk(conn: str, crm: CRM, store: StateStore, plan: WritePlan, outcome: Outcome, now: datetime,
                 summary: RunSummary) -> None:
    # A task's key is recorded before the CRM is asked to make it (see _settle_tasks).
    store.tasks_pending(conn, {t.key: t.contact_id for t in plan.tasks}, now)

    # Write, then record what the CRM confirmed.
    result = crm.apply(plan) if plan else None
    failed = {f.contact_id: f.reason for f in result.failed} if result else {}
    gone = set(result.gone) if result else set()
    if result:
        store.tasks_confirmed(conn, result.tasks)
        summary.tasks_created += len(result.tasks)
        summary.writes += len(set(result.updated) - set(failed))
    if gone:
        # Deleted or merged away between the pull and the write: not a failure. Its
        # history stays, for the survivor of a merge to inherit when it is pulled.
        store.forget(conn, gone, keep_history=True)
        summary.deleted += len(gone)
    ok = {cid: o for cid, o in outcome.items() if cid not in failed and cid not in gone}
    store.commit_writes(conn, {cid: o[0] for cid, o in ok.items()}, {cid: o[1] for cid, o in ok.items()},
                        [t for o in ok.values() for t in o[2]], now)
    if failed:
        # Retried every run; after a few, it is listed as failing for good (and by
        # `mqlsync status`) until the CRM's reason is fixed. It never blocks the rest.
        attempts = store.record_failures(conn, failed, now)
        summary.failed += [f"{cid}: {reason}" + (f" (failed {attempts[cid]} runs in a row)"
                                                 if attempts.get(cid, 1) >= PERSISTENT else "")
                           for cid, reason in failed.items()]


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)
