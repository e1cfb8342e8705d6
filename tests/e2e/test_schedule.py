"""The schedule: its jobs, no overlapping runs of a connection, a run that stops cleanly
when asked, and `mqlsync schedule` stopping on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from datetime import UTC

import sqlalchemy as sa
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from mqlsync.connector.config import load_mapping
from mqlsync.connector.crms.hubspot.adapter import HubSpotAdapter
from mqlsync.connector.state import StateStore, runs
from mqlsync.jobs.sandbox import start_sandbox
from mqlsync.jobs.schedule import Connection, add_jobs
from tests.conftest import ROOT

LOADED = load_mapping(ROOT / "mappings" / "hubspot.yaml")


def connection_to(url: str, store: StateStore, stopping=None) -> Connection:
    return Connection(LOADED, lambda loaded: HubSpotAdapter(loaded.mapping, "sandbox-token", url), store,
                      stopping or threading.Event())


def test_each_mapping_gets_a_sync_job_and_a_daily_rescore_that_never_overlap(tmp_path):
    scheduler = BackgroundScheduler(timezone=UTC)
    add_jobs(scheduler, connection_to("http://127.0.0.1:9", StateStore("sqlite://")))
    schedule = LOADED.mapping.schedule.model_copy(update={"every_minutes": None, "cron": "*/5 8-18 * * 1-5"})
    other = replace(LOADED, mapping=LOADED.mapping.model_copy(update={"connection": "hubspot-two",
                                                                      "schedule": schedule}))
    add_jobs(scheduler, Connection(other, lambda loaded: None, StateStore("sqlite://"), threading.Event()),
             run_now=False)
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {"hubspot-main:sync", "hubspot-main:rescore", "hubspot-two:sync", "hubspot-two:rescore"}
    sync = jobs["hubspot-main:sync"]
    assert isinstance(sync.trigger, IntervalTrigger) and sync.trigger.interval.total_seconds() == 15 * 60
    assert sync.max_instances == 1 and sync.coalesce is True
    assert isinstance(jobs["hubspot-two:sync"].trigger, CronTrigger)
    assert str(jobs["hubspot-two:sync"].trigger.fields[5]) == "8-18"  # hour
    rescore = jobs["hubspot-main:rescore"]
    assert rescore.kwargs == {"rescore_only": True} and str(rescore.trigger.fields[5]) == "3"


def test_a_run_is_skipped_while_another_of_the_same_connection_is_going(tmp_path, caplog):
    running = start_sandbox("hubspot", contacts=20)
    with running.server:
        connection = connection_to(running.server.url, StateStore(f"sqlite:///{tmp_path / 's.db'}"))
        connection.lock.acquire()
        try:
            assert connection.sync() is None
        finally:
            connection.lock.release()
        assert running.server.snapshot()["requests"] == 0  # skipped: not one call to the CRM
    assert "hubspot-main: sync skipped, a run of this connection is still going" in caplog.text


def test_a_slot_whose_lock_another_process_holds_is_skipped_and_logged(tmp_path, caplog):
    path = tmp_path / "s.db"
    running = start_sandbox("hubspot", contacts=20)
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\n"
                               "from mqlsync.connector.state import StateStore\n"
                               "with StateStore(sys.argv[1]).lock('hubspot-main'):\n"
                               "    print('held', flush=True); time.sleep(60)", f"sqlite:///{path}"],
                              cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with running.server:
            HubSpotAdapter(LOADED.mapping, "sandbox-token", running.server.url).ensure_fields()
            before = running.server.snapshot()["requests"]
            connection = connection_to(running.server.url, StateStore(f"sqlite:///{path}"))
            assert connection.sync() is None
            assert running.server.snapshot()["requests"] == before  # nothing read, nothing written
            holder.kill()
            holder.wait(timeout=10)
            assert connection.sync() is not None  # the next slot runs
    finally:
        holder.kill()
    assert "hubspot-main: sync skipped: another process holds this connection's lock (host" in caplog.text
    assert f"pid {holder.pid}," in caplog.text


def test_a_run_asked_to_stop_while_reading_writes_nothing(tmp_path):
    running = start_sandbox("hubspot", contacts=100)
    store = StateStore(f"sqlite:///{tmp_path / 's.db'}")
    stopping = threading.Event()
    stopping.set()
    with running.server:
        assert connection_to(running.server.url, store, stopping).sync() is None
        stats = running.server.snapshot()
    assert "POST /crm/v3/objects/contacts/batch/update" not in stats["by_endpoint"]
    assert store.watermark("hubspot-main", "contacts") is None


def test_a_failing_run_is_logged_and_the_next_one_works(tmp_path, caplog):
    store = StateStore(f"sqlite:///{tmp_path / 's.db'}")
    down = connection_to("http://127.0.0.1:9", store)
    down.make_crm = lambda loaded: _fast(HubSpotAdapter(loaded.mapping, "sandbox-token", "http://127.0.0.1:9"))
    assert down.sync() is None
    assert "sync failed: HubSpot cannot be reached at http://127.0.0.1:9" in caplog.text
    running = start_sandbox("hubspot", contacts=50)
    with running.server:
        running.emulation.groups["mqlsync"] = {"name": "mqlsync", "label": "m", "displayOrder": 0, "archived": False}
        HubSpotAdapter(LOADED.mapping, "sandbox-token", running.server.url).ensure_fields()
        summary = connection_to(running.server.url, store).sync()
    assert summary is not None and summary.writes == 50


def _fast(adapter: HubSpotAdapter) -> HubSpotAdapter:
    adapter.budget_s = 0.3
    return adapter


def test_mqlsync_schedule_runs_at_once_and_stops_cleanly_on_sigterm(tmp_path):
    running = start_sandbox("hubspot", contacts=100)
    with running.server:
        HubSpotAdapter(LOADED.mapping, "sandbox-token", running.server.url).ensure_fields()
        state = tmp_path / "state.db"
        env = dict(os.environ, MQLSYNC_HUBSPOT_BASE_URL=running.server.url, HUBSPOT_ACCESS_TOKEN="sandbox-token",
                   MQLSYNC_STATE_URL=f"sqlite:///{state}", COLUMNS="200")
        proc = subprocess.Popen([sys.executable, "-m", "mqlsync.jobs.cli", "schedule", "--mapping",
                                 str(ROOT / "mappings" / "hubspot.yaml")], cwd=tmp_path, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 60
        finished = 0
        while time.time() < deadline and not finished:
            time.sleep(0.2)
            if state.exists():
                engine = sa.create_engine(f"sqlite:///{state}")
                try:
                    with engine.connect() as conn:
                        finished = conn.execute(sa.select(sa.func.count()).select_from(runs).where(
                            runs.c.status == "ok")).scalar()
                except sa.exc.OperationalError:  # created, tables not yet
                    pass
                engine.dispose()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    assert finished == 1, err
    assert proc.returncode == 0, err
    assert "sync every 15 min, rescore daily at 03:00 (" in err
    assert "sync done: 100 pulled, 100 written" in " ".join(err.split())
    assert "schedule stopped" in err and "Traceback" not in err


def test_mqlsync_schedule_stops_with_exit_2_when_the_crm_refuses_the_credentials(tmp_path):
    running = start_sandbox("hubspot", contacts=20)
    with running.server:
        env = dict(os.environ, MQLSYNC_HUBSPOT_BASE_URL=running.server.url, HUBSPOT_ACCESS_TOKEN="revoked-token",
                   MQLSYNC_STATE_URL=f"sqlite:///{tmp_path / 'state.db'}", COLUMNS="200")
        started = time.monotonic()
        result = subprocess.run([sys.executable, "-m", "mqlsync.jobs.cli", "schedule", "--mapping",
                                 str(ROOT / "mappings" / "hubspot.yaml")], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=60)
        took = time.monotonic() - started
    # Not a healthy-looking process that fails every 15 minutes: it stops at the first slot.
    assert result.returncode == 2, result.stderr
    assert took < 30
    err = " ".join(result.stderr.split())
    assert "the schedule stops: fix the credentials and start it again" in err
    assert "schedule stopped: hubspot-main: HubSpot refused the credentials" in err
    assert "revoked-token" not in result.stderr and "Traceback" not in result.stderr
