"""Benchmark: API requests a HubSpot sync costs, against the minimum the page and
batch sizes allow, and peak memory of the sync process.

    python3 tests/bench/bench_sync.py [--contacts 10000] [--changed 0.01]
    python3 tests/bench/bench_sync.py --memory --contacts 100000

The sandbox runs as its own process (its memory is not the sync's) with a high burst
limit, so the figures count requests, not waits. Run on demand, never in the suite.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from mqlsync.connector.config import load_mapping  # noqa: E402
from mqlsync.connector.crms.hubspot.adapter import HubSpotAdapter  # noqa: E402
from mqlsync.connector.crms.hubspot.contacts import LIST_PAGE, SEARCH_PAGE  # noqa: E402
from mqlsync.connector.crms.hubspot.write import BATCH  # noqa: E402
from mqlsync.connector.state import StateStore  # noqa: E402
from mqlsync.jobs.sync import run_sync  # noqa: E402
from tests.bench.lookups import count_task_lookups  # noqa: E402

EVENTS_PAGE = 100


def start_sandbox(contacts: int) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "mqlsync.jobs.cli", "sandbox", "--port", str(port), "--contacts",
                             str(contacts), "--burst-limit", "1000000"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            urllib.request.urlopen(url + "/__sandbox/stats", timeout=1)
            return proc, url
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("sandbox did not start")


def admin(url: str, path: str, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url + path, data=data, headers={"Content-Type": "application/json"},
                                 method="POST" if data else "GET")
    return json.load(urllib.request.urlopen(req))


def stats(url: str) -> dict:
    return admin(url, "/__sandbox/stats")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--changed", type=float, default=0.01)
    parser.add_argument("--memory", action="store_true", help="one full sync; report peak memory")
    args = parser.parse_args()
    loaded = load_mapping(ROOT / "mappings" / "hubspot.yaml")
    proc, url = start_sandbox(args.contacts)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            store = StateStore(f"sqlite:///{tmp}/state.db")
            crm = HubSpotAdapter(loaded.mapping, "sandbox-token", url)
            crm.ensure_fields()
            lookups = count_task_lookups(crm)
            before = stats(url)["requests"]
            t = time.perf_counter()
            full = run_sync(loaded, crm, store, datetime.now(UTC))
            full_s = time.perf_counter() - t
            events = full.activities
            counts = admin(url, "/__sandbox/counts")
            pages = lambda n, size: max(1, math.ceil(n / size))  # noqa: E731 - an empty source costs one request
            mapped = {src.source for src in loaded.mapping.activities}
            floor_events = sum(pages(counts["events"].get(s.split(":", 1)[1], 0), EVENTS_PAGE)
                               for s in mapped if s.startswith("events:"))
            floor_email = sum(pages(counts["email_events"].get(s.split(":", 1)[1], 0), 1000)
                              for s in mapped if s.startswith("email_events:"))
            floor_forms = (1 + sum(pages(n, 50) for n in counts["forms"].values())) if "forms" in mapped else 0
            floor_mevents = sum(1 + sum(pages(n, 100) for n in counts["participations"][s.split(":")[1]].values())
                                for s in mapped if s.startswith("marketing_events:"))
            floor_objects = sum(pages(counts["engagements"][s.split(":")[1]], 200)
                                + math.ceil(counts["engagements"][s.split(":")[1]] / 1000)
                                for s in mapped if s.startswith("objects:"))
            minimum = (math.ceil(args.contacts / LIST_PAGE) + floor_events + floor_email + floor_forms + floor_mevents
                       + floor_objects + math.ceil(full.writes / BATCH) + math.ceil(full.tasks_created / BATCH))
            print(f"full sync of {args.contacts:,} contacts, {events:,} activities: {full.requests:,} requests "
                  f"(minimum {minimum:,}: {math.ceil(args.contacts / LIST_PAGE)} contact pages, {floor_events} event, "
                  f"{floor_email} e-mail, {floor_forms} form, {floor_mevents} webinar and {floor_objects} meeting/call "
                  f"requests, {math.ceil(full.writes / BATCH)} update and {math.ceil(full.tasks_created / BATCH)} task "
                  f"batches); {full.writes:,} written, {full.tasks_created:,} tasks, {full_s:.1f}s; "
                  f"sandbox counted {stats(url)['requests'] - before:,}")
            #: what any run costs to look at every activity source once: one page per
            #: event type, e-mail type and engagement search, the forms list and one page
            #: per form, and per participant state the events list and one page per event
            #: still within the lookback (all of the sample's webinars are recent)
            states = [s for s in mapped if s.startswith("marketing_events:")]
            poll_floor = (len([s for s in mapped if s.startswith(("events:", "email_events:", "objects:"))])
                          + ((1 + len(counts["forms"])) if "forms" in mapped else 0)
                          + sum(1 + sum(pages(n, 100) for n in counts["participations"][s.split(":")[1]].values())
                                for s in states))
            if args.memory:
                peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                print(f"peak RSS of the sync process: {peak:.0f} MB")
                return
            settle = run_sync(loaded, crm, store, datetime.now(UTC))
            print(f"next run (re-reads the {settle.contacts:,} contacts the full run wrote): {settle.requests:,} "
                  f"requests, {settle.writes} written")
            people = admin(url, "/__sandbox/contacts")["results"]
            step = max(1, int(1 / args.changed))
            changed = [p for i, p in enumerate(people) if i % step == 0]
            for person in changed:
                admin(url, f"/__sandbox/contacts/{person['id']}", {"properties": {"jobtitle": "VP Marketing"}})
            by_before = stats(url)["by_endpoint"]
            incr = run_sync(loaded, crm, store, datetime.now(UTC))
            by_after = stats(url)["by_endpoint"]
            print("  incremental requests by endpoint:", {k: v - by_before.get(k, 0) for k, v in by_after.items()
                                                          if v != by_before.get(k, 0)})
            minimum = math.ceil(len(changed) / SEARCH_PAGE) + poll_floor + math.ceil(incr.writes / BATCH) + (
                math.ceil(incr.tasks_created / BATCH))
            print(f"incremental with {len(changed):,} contacts changed ({args.changed:.0%}): "
                  f"{incr.requests:,} requests "
                  f"(minimum {minimum}: {math.ceil(len(changed) / SEARCH_PAGE)} search pages + {poll_floor} to poll "
                  f"every activity source and form once + {math.ceil(incr.writes / BATCH)} update and "
                  f"{math.ceil(incr.tasks_created / BATCH)} task batches); {incr.writes:,} written")
            idle = run_sync(loaded, crm, store, datetime.now(UTC))
            idle = run_sync(loaded, crm, store, datetime.now(UTC))
            print(f"idle run (nothing changed): {idle.requests} requests (floor {poll_floor + 1}: one search and one "
                  f"request per activity source and form), {idle.writes} written")
            # The state lost: a new database reads everything and rebuilds from what the
            # CRM shows; the qualifications' tasks are looked up, none is made again.
            before_lookups = dict(lookups)
            lost = run_sync(loaded, crm, StateStore(f"sqlite:///{tmp}/lost.db"), datetime.now(UTC))
            print(f"state lost, full run on a new database: {lost.requests:,} requests, of which "
                  f"{lookups['requests'] - before_lookups['requests']} look up the tasks of "
                  f"{lookups['keys'] - before_lookups['keys']:,} qualifications by key; {lost.rebuilt:,} rebuilt "
                  f"from the CRM, {lost.writes} written, {lost.tasks_created} tasks made")
            print(f"task lookups over all runs with an intact state: {before_lookups['requests']} requests")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
