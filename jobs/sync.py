"""One sync run: pull what changed, append activity to the ledger, score, decide the
stage, write only what changed, and move the watermark once the writes are confirmed."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from mqlsync.connector.adapters.base import CRM
from mqlsync.connector.config import LoadedMapping
from mqlsync.connector.errors import SetupNeeded
from mqlsync.connector.model import Activity, Contact, Stage, iso, odd_values
from mqlsync.connector.redact import redact
from mqlsync.connector.scoring import Scorer
from mqlsync.connector.state import StateStore
from mqlsync.connector.sync import (
    Adopted,
    ChunkPlan,
    Keep,
    Known,
    adopt_from_crm,
    keys_to_look_up,
    plan_chunk,
    qualified_at_of,
    tasks_to_make,
)

log = logging.getLogger("mqlsync.sync")

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
    #: the write-back mode: "shadow" writes only mqlsync's score fields
    mode: str = "full"
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
    #: what became of deals (per deal and person) pulled this run
    outcomes: int = 0
    #: why deals could not be read this run (the token's scopes), if they could not
    outcomes_skipped: str | None = None
    #: records scored with a value outside its documented set, each "id: why"
    odd_values: list[str] = field(default_factory=list)
    #: activity sources not read this run, each "source: why"
    skipped_sources: list[str] = field(default_factory=list)
    #: sales' verdicts given since the last run that did not move their contact, and why
    verdicts_not_applied: list[str] = field(default_factory=list)
    #: why leads scored this run pass the threshold but are not MQLs -> how many
    held_back: dict[str, int] = field(default_factory=dict)
    #: "lead → mql" -> how many contacts moved so in this run
    transitions: dict[str, int] = field(default_factory=dict)
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


@dataclass(frozen=True)
class Scope:
    """A trial run on a few records (`run --only`, `--limit`): only these are scored and
    written, and no watermark moves, so the next run still reads everything it would
    have."""

    only: tuple[str, ...] = ()
    limit: int | None = None

    @property
    def narrowed(self) -> bool:
        return bool(self.only) or self.limit is not None

    def of(self, ids: list[str], known: set[str]) -> list[str]:
        picked = [i for i in self.only if i in known] if self.only else ids
        return picked[:self.limit] if self.limit is not None else picked


def run_sync(loaded: LoadedMapping, crm: CRM, store: StateStore, now: datetime, dry_run: bool = False,
             full: bool = False, progress: Callable[[str, int], None] | None = None,
             rescore_only: bool = False, wait: float = 0.0, scope: Scope = Scope(),
             on_plan: Callable[[list[dict[str, Any]]], None] | None = None) -> RunSummary:
    """One run, holding the connection's lock from before it reads until its state is
    committed: a second run of the connection waits up to `wait` seconds for it, then
    raises ConnectionBusy having done nothing. `dry_run` reads the CRM and computes the
    writes, then writes nothing, neither to the CRM nor to the state (and takes no
    lock: it cannot duplicate anything). `rescore_only` skips the pulls and rescores
    every known contact from the ledger (the daily decay pass). `on_plan` gets the rows
    of every contact a chunk changes (plan_rows), for `run --out`."""
    if dry_run:
        return _locked_run(loaded, crm, store, now, dry_run, full, progress, rescore_only, scope, on_plan)
    asked = time.perf_counter()
    with store.lock(loaded.mapping.connection, wait):
        # A run that waited for the lock starts when it gets it.
        now += timedelta(seconds=time.perf_counter() - asked)
        return _locked_run(loaded, crm, store, now, dry_run, full, progress, rescore_only, scope, on_plan)


def _locked_run(loaded: LoadedMapping, crm: CRM, store: StateStore, now: datetime, dry_run: bool, full: bool,
                progress: Callable[[str, int], None] | None, rescore_only: bool, scope: Scope,
                on_plan: Callable[[list[dict[str, Any]]], None] | None = None) -> RunSummary:
    clock = time.perf_counter()
    conn = loaded.mapping.connection
    summary = RunSummary(connection=conn, dry_run=dry_run, started_at=iso(now), full=full,
                         mode=loaded.mapping.write_back.mode)
    run_id = None if dry_run else store.start_run(conn, now)
    requests_before = crm.requests
    try:
        _run(loaded, crm, store, now, dry_run, full, rescore_only, summary, progress, scope, on_plan)
    except BaseException as exc:
        if run_id is not None:
            store.finish_run(run_id, "failed", {"error": type(exc).__name__,
                                                "reason": redact(str(exc)).splitlines()[0][:500] if str(exc) else ""},
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
         rescore_only: bool, summary: RunSummary, progress, scope: Scope = Scope(),
         on_plan: Callable[[list[dict[str, Any]]], None] | None = None) -> None:
    conn = loaded.mapping.connection
    tick = progress or (lambda stage, n: None)

    # 1. Pull contacts changed since the watermark, and activity since its own. Each
    #    page goes to the store as it arrives: memory holds ids, not the whole CRM.
    #    A dry run may not write its state, so it keeps what it pulled in memory.
    affected: set[str] = set()
    held_contacts: dict[str, Contact] = {}
    held_adopted: dict[str, Adopted] = {}
    held_activities: dict[str, list[Activity]] = {}
    high: dict[str, datetime | None] = {"contacts": None}
    skipped: set[str] = set()  # sources not read: their watermarks stay
    previous = store.watermark(conn, "contacts")  # verdicts since then are news to this run

    # 0. The fields mqlsync writes must exist: without them every record is refused, run
    #    after run. A few requests find out before thousands do. (The daily rescore reads
    #    nothing from the CRM: the syncs around it check.)
    missing = [] if rescore_only else crm.missing_fields()
    if missing:
        raise SetupNeeded(f"{conn}: the CRM lacks {len(missing)} field(s) mqlsync writes ("
                          f"{', '.join(missing[:6])}{', ...' if len(missing) > 6 else ''}): run `mqlsync setup "
                          "--mapping FILE` first; nothing was read or written")
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
                    store.rebuild(conn, {cid: a.written for cid, a in adopted.items() if a.written is not None},
                                  {cid: a.stage for cid, a in adopted.items() if a.stage is not None}, now)
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
            summary.odd_values += [f"{c.id}: {why}" for c in page.contacts for why in odd_values(c)]
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
                if page.deleted:  # deleted in the CRM: not activity any more; their people are rescored
                    affected.update(store.drop_activities(conn, page.deleted))
            affected.update(a.contact_id for a in page.activities)
            summary.activities += len(page.activities)
            summary.rejected += [str(r) for r in page.rejected]
            key = f"activities:{page.source}"
            if page.skipped:
                summary.skipped_sources.append(f"{page.source}: {page.skipped}")
                skipped.add(key)
            high[key] = _later(high.get(key), page.high_water)
            tick("activities", len(page.activities))
        # What became of deals: not scored, kept for the funnel review.
        for page in crm.pull_outcomes(None if full else store.watermark(conn, "outcomes")):
            moved = store.survivors_of(conn, {o.contact_id for o in page.outcomes})
            found = [o._replace(contact_id=moved.get(o.contact_id, o.contact_id)) for o in page.outcomes]
            if not dry_run:
                store.save_outcomes(conn, found, now)
            summary.outcomes += len(found)
            summary.rejected += [str(r) for r in page.rejected]
            if page.skipped:
                summary.outcomes_skipped = page.skipped
                skipped.add("outcomes")
            high["outcomes"] = _later(high.get("outcomes"), page.high_water)

    # 2. Everyone whose score may have changed (and last run's failures), in chunks:
    #    each chunk is scored, written and committed before the next is read.
    if rescore_only:
        ids = sorted(store.contact_ids(conn))
    else:
        ids = sorted(affected | set(store.failures_of(conn)))
    if scope.narrowed:
        ids = scope.of(ids, set(store.contact_ids(conn)) | set(held_contacts))
    scorer = Scorer(loaded.model)
    rules: Counter[str] = Counter()
    for i in range(0, len(ids), CHUNK):
        chunk = ids[i:i + CHUNK]
        known = _known(conn, crm, store, chunk, held_contacts, held_activities, held_adopted, previous)
        planned = plan_chunk(loaded, scorer, known, now)
        _count(summary, planned, rules)
        if on_plan is not None:
            on_plan(plan_rows(loaded, known, planned))
        tick("scored", len(known.contacts))
        _settle_tasks(loaded, crm, store, planned, known, now, dry_run)
        if dry_run:
            summary.tasks_created += len(planned.writes.tasks)
            continue
        _write_chunk(conn, crm, store, planned, now, summary)
    summary.top_rules = sorted(rules.items(), key=lambda kv: (-kv[1], kv[0]))[:10]

    # 3. Watermarks: to the newest change the CRM showed, never past this run's start,
    #    and only once every chunk is written. Records the CRM refused stay in the
    #    failures table and are picked up again next run.
    if not dry_run and not scope.narrowed:  # a trial run leaves them: the next run reads all it would have
        for obj, value in high.items():
            if value is not None and obj not in skipped:
                store.set_watermark(conn, obj, min(value, now))


def _known(conn: str, crm: CRM, store: StateStore, chunk: list[str], held_contacts: dict[str, Contact],
           held_activities: dict[str, list[Activity]], held_adopted: dict[str, Adopted],
           verdicts_since: datetime | None = None) -> Known:
    """What the state (and, for a dry run, what it holds in memory) and the CRM know of
    a chunk of contacts."""
    contacts = store.load_contacts(conn, chunk)
    contacts.update((cid, held_contacts[cid]) for cid in chunk if cid in held_contacts)
    ledger = store.activities_of(conn, contacts)
    for cid in contacts:
        ledger.setdefault(cid, []).extend(held_activities.get(cid, ()))
    stages, written = store.stages_of(conn, contacts), store.written_of(conn, contacts)
    for cid in contacts.keys() & held_adopted.keys():  # a dry run's rebuild, held in memory
        adopted = held_adopted[cid]
        if adopted.stage is not None:
            stages[cid] = adopted.stage
        if adopted.written is not None:
            written[cid] = adopted.written
    return Known(contacts, ledger, stages, written, store.task_keys_of(conn, contacts),
                 {cid: crm.lifecycle_of(cid) for cid in contacts}, verdicts_since)


def plan_rows(loaded: LoadedMapping, known: Known, planned: ChunkPlan) -> list[dict[str, Any]]:
    """Every contact the chunk changes, as an admin reviews a dry run: its stage before
    and after (mqlsync's, and the CRM's own value the mapping writes), its score and
    grade before and after, and the task it would get (subject, owner, due)."""
    values = loaded.mapping.write_back.stage_values
    tasks = {t.contact_id: t for t in planned.writes.tasks}
    rows = []
    for cid, name, _ in planned.changes:
        record, before = planned.record[cid], known.written.get(cid, {})
        moved = record.transitions
        after_crm = values.get(record.stage.stage) if "lifecycle" in record.values else None
        task = tasks.get(cid)
        rows.append({
            "contact_id": cid, "name": name, "new_mql": any(t.to_stage == Stage.MQL for t in moved),
            "stage_before": (moved[0].from_stage if moved else record.stage.stage).value,
            "stage_after": record.stage.stage.value,
            "crm_stage_before": known.lifecycle.get(cid), "crm_stage_after": after_crm or known.lifecycle.get(cid),
            "score_before": before.get("score"), "score_after": record.values.get("score"),
            "grade_before": before.get("grade"), "grade_after": record.values.get("grade"),
            "task_subject": task.subject if task else None, "task_owner": task.owner_id if task else None,
            "task_due": iso(task.due_at) if task else None})
    return rows


def _count(summary: RunSummary, planned: ChunkPlan, rules: Counter[str]) -> None:
    summary.scored += len(planned.record)
    for record in planned.record.values():
        if record.transitions:
            move = f"{record.transitions[0].from_stage.value} → {record.transitions[-1].to_stage.value}"
            summary.transitions[move] = summary.transitions.get(move, 0) + 1
    summary.changed += len(planned.changes)
    summary.mqls += planned.mqls
    summary.new_mqls += planned.new_mqls
    summary.verdicts_not_applied += planned.unapplied
    for why, n in planned.held.items():
        summary.held_back[why] = summary.held_back.get(why, 0) + n
    rules.update(planned.rules)
    for cid, name, changes in planned.changes[:max(0, DIFF_SHOWN - len(summary.diff))]:
        summary.diff.append({"contact_id": cid, "name": name, "changes": changes})


def _settle_tasks(loaded: LoadedMapping, crm: CRM, store: StateStore, planned: ChunkPlan, known: Known,
                  now: datetime, dry_run: bool) -> None:
    """Ask the CRM for the tasks this state cannot tell about (tasks.keys_to_look_up),
    then keep in the plan only the ones to make (tasks.tasks_to_make)."""
    conn = loaded.mapping.connection
    status = {key: st for keys in known.task_keys.values() for key, st in keys}
    ask = keys_to_look_up(planned.writes.tasks, planned.owed, status)
    found = crm.find_tasks(ask) if ask else {}
    if found and not dry_run:
        store.tasks_confirmed(conn, found)
    sla_hours = loaded.model.model.sla_hours
    decided = tasks_to_make(planned.writes.tasks, planned.owed, status, found, now, sla_hours)
    planned.writes.tasks = decided.make
    for key, cid in decided.skipped.items():
        log.info("%s: qualified at %s but has no follow-up task in the CRM; past the %g-hour SLA, none is made "
                 "now", cid, iso(qualified_at_of(key)), sla_hours)
    if decided.skipped and not dry_run:
        store.tasks_skipped(conn, decided.skipped, now)


def _write_chunk(conn: str, crm: CRM, store: StateStore, planned: ChunkPlan, now: datetime,
                 summary: RunSummary) -> None:
    """Write a chunk to the CRM and record what it confirmed: the task keys first, on
    their own (so a run that stops mid-write looks them up next time), then everything
    the CRM answered in one transaction."""
    plan = planned.writes
    store.tasks_pending(conn, {t.key: t.contact_id for t in plan.tasks}, now)
    result = crm.apply(plan) if plan else None
    failed = {f.contact_id: f.reason for f in result.failed} if result else {}
    gone = set(result.gone) if result else set()
    ok = {cid: r for cid, r in planned.record.items() if cid not in failed and cid not in gone}
    with store.transaction():
        if result:
            store.tasks_confirmed(conn, result.tasks)
        if gone:
            # Deleted or merged away between the pull and the write: not a failure. Its
            # history stays, for the survivor of a merge to inherit when it is pulled.
            store.forget(conn, gone, keep_history=True)
        store.commit_writes(conn, {cid: r.values for cid, r in ok.items()}, {cid: r.stage for cid, r in ok.items()},
                            [t for r in ok.values() for t in r.transitions], now)
        # A refused record is retried every run; after a few, it is listed as failing
        # for good (and by `mqlsync status`) until the CRM's reason is fixed.
        attempts = store.record_failures(conn, failed, now) if failed else {}
    if result:
        summary.tasks_created += len(result.tasks)
        summary.writes += len(set(result.updated) - set(failed))
    summary.deleted += len(gone)
    summary.failed += [f"{cid}: {reason}" + (f" (failed {attempts[cid]} runs in a row)"
                                             if attempts.get(cid, 1) >= PERSISTENT else "")
                       for cid, reason in failed.items()]


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)
