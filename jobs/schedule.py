"""Run syncs on a schedule with APScheduler: one job per mapping file, a daily rescore
for decay, never two runs of one connection at once, and a clean stop on SIGTERM."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from mqlsync.connector.adapters.base import CRM
from mqlsync.connector.config import LoadedMapping
from mqlsync.connector.errors import ConnectionBusy, CredentialsError, MqlsyncError
from mqlsync.connector.state import StateStore

from .sync import RunSummary, run_sync

log = logging.getLogger("mqlsync.schedule")


class Abandoned(Exception):
    """The run was asked to stop before it started writing; nothing was written."""


class Connection:
    """One mapping's jobs. The lock keeps its sync and its rescore from overlapping,
    which APScheduler's max_instances alone does not (they are two jobs)."""

    def __init__(self, loaded: LoadedMapping, make_crm: Callable[[LoadedMapping], CRM], store: StateStore,
                 stopping: threading.Event, clock: Callable[[], datetime] | None = None) -> None:
        self.loaded = loaded
        self.make_crm = make_crm
        self.store = store
        self.stopping = stopping
        self.clock = clock or (lambda: datetime.now(UTC))
        self.lock = threading.Lock()
        self.last: RunSummary | None = None
        #: why the CRM refused this connection's credentials, once it did: the schedule stops
        self.refused: CredentialsError | None = None
        #: called when the CRM refuses the credentials (run_forever stops the scheduler)
        self.on_refused: Callable[[], None] = lambda: None

    @property
    def name(self) -> str:
        return self.loaded.mapping.connection

    def sync(self, rescore_only: bool = False) -> RunSummary | None:
        kind = "rescore" if rescore_only else "sync"
        if not self.lock.acquire(blocking=False):
            log.warning("%s: %s skipped, a run of this connection is still going", self.name, kind)
            return None
        try:
            def check(stage: str, n: int) -> None:
                # Pulling and scoring can stop at any page; writing, once started, finishes.
                if self.stopping.is_set():
                    raise Abandoned(f"stopped while reading {stage}")

            summary = run_sync(self.loaded, self.make_crm(self.loaded), self.store, self.clock(),
                               progress=check, rescore_only=rescore_only)
            log.info("%s: %s done: %d pulled, %d written, %d new MQLs, %d tasks, %d requests, %d refused",
                        self.name, kind, summary.contacts, summary.writes, summary.new_mqls, summary.tasks_created,
                        summary.requests, len(summary.failed) + len(summary.rejected))
            self.last = summary
            return summary
        except Abandoned as exc:
            log.warning("%s: %s abandoned (%s); nothing written, the next run picks it up", self.name, kind, exc)
        except ConnectionBusy as exc:
            # Another process (a second machine, a manual run) holds the connection:
            # this slot is skipped, the next one tries again.
            log.warning("%s: %s skipped: another process holds this connection's lock (%s); the next slot tries "
                        "again", self.name, kind, exc.holder)
        except CredentialsError as exc:
            # Every later slot would fail the same way: stop, so a service manager sees a
            # failed process (and restarts it, or alerts) rather than a healthy one that
            # syncs nothing.
            log.error("%s: %s failed: %s; the schedule stops: fix the credentials and start it again",
                      self.name, kind, str(exc).splitlines()[0])
            self.refused = exc
            self.stopping.set()
            self.on_refused()
        except MqlsyncError as exc:
            # A schedule outlives one bad run: say why, and try again at the next slot.
            log.error("%s: %s failed: %s", self.name, kind, str(exc).splitlines()[0])
        finally:
            self.lock.release()
        return None


def add_jobs(scheduler: BaseScheduler, connection: Connection, run_now: bool = True) -> None:
    spec = connection.loaded.mapping.schedule
    if spec.cron:
        trigger: Any = CronTrigger.from_crontab(spec.cron)
    else:
        trigger = IntervalTrigger(minutes=spec.every_minutes)
    # coalesce: runs missed while the process was down or busy collapse into one;
    # max_instances=1: a slow run is never joined by the next one.
    scheduler.add_job(connection.sync, trigger, id=f"{connection.name}:sync", name=f"sync {connection.name}",
                      max_instances=1, coalesce=True, misfire_grace_time=None,
                      **({"next_run_time": datetime.now(UTC)} if run_now else {}))
    hour, minute = (int(x) for x in spec.rescore_at.split(":"))
    scheduler.add_job(connection.sync, CronTrigger(hour=hour, minute=minute), kwargs={"rescore_only": True},
                      id=f"{connection.name}:rescore", name=f"daily rescore {connection.name}",
                      max_instances=1, coalesce=True, misfire_grace_time=3600)


def run_forever(connections: list[Connection], stopping: threading.Event) -> None:
    """Block until SIGTERM or Ctrl-C; then let a writing run finish, stop a reading one."""
    scheduler = BlockingScheduler(timezone=datetime.now().astimezone().tzinfo)
    for connection in connections:
        add_jobs(scheduler, connection)
        connection.on_refused = lambda: scheduler.shutdown(wait=False)

    def stop(signum: int, frame: Any) -> None:
        log.info("stopping: the current run finishes its writes or stops before them")
        stopping.set()
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        scheduler.start()
    finally:
        # shutdown(wait=False) returns at once; wait here for a run still in progress.
        for connection in connections:
            with connection.lock:
                pass
