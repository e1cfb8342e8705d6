"""Benchmark: API requests a Salesforce sync costs per 10,000 people, full and 1%
incremental, reading through the REST API (query + nextRecordsUrl, 2,000 rows a
request) or through Bulk API 2.0 query jobs.

    python3 tests/bench/bench_salesforce.py [--contacts 10000] [--changed 0.01]

The sandbox org runs in this process (its requests are counted by endpoint); times
are wall-clock on this machine and include the sandbox's own work. Run on demand,
never in the suite.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from mqlsync.connector.config import load_mapping  # noqa: E402
from mqlsync.connector.crms.salesforce.adapter import SalesforceAdapter  # noqa: E402
from mqlsync.connector.crms.salesforce.write import COLLECTION  # noqa: E402
from mqlsync.connector.state import StateStore  # noqa: E402
from mqlsync.jobs.sandbox import start_sandbox  # noqa: E402
from mqlsync.jobs.sync import run_sync  # noqa: E402
from tests.bench.lookups import count_task_lookups  # noqa: E402

QUERY_BATCH = 2000


def kind(endpoint: str) -> str:
    if "jobs/query" in endpoint:
        return "bulk"
    if "query" in endpoint:
        return "query"
    if "composite/sobjects" in endpoint:
        return "write"
    return "other"


def run_mode(contacts: int, changed: float, bulk: bool) -> dict:
    loaded = load_mapping(ROOT / "mappings" / "salesforce.yaml")
    running = start_sandbox("salesforce", contacts=contacts, now=datetime.now(UTC))
    org, server = running.emulation, running.server
    out: dict = {}
    with server, tempfile.TemporaryDirectory() as tmp:
        crm = SalesforceAdapter.from_env(loaded.mapping, running.env(), bulk_threshold=0 if bulk else 10**9)
        crm.ensure_fields()
        store = StateStore(f"sqlite:///{tmp}/state.db")
        lookups = count_task_lookups(crm)

        def measured(label: str, state: StateStore = store) -> None:
            server.stats.clear()
            clock = time.perf_counter()
            looked = dict(lookups)
            summary = run_sync(loaded, crm, state, datetime.now(UTC))
            by_kind: Counter[str] = Counter()
            for endpoint, n in server.snapshot()["by_endpoint"].items():
                by_kind[kind(endpoint)] += n
            out[label] = {"requests": summary.requests, "by_kind": dict(by_kind), "contacts": summary.contacts,
                          "activities": summary.activities, "writes": summary.writes,
                          "tasks": summary.tasks_created, "secs": round(time.perf_counter() - clock, 1),
                          "lookups": lookups["requests"] - looked["requests"], "rebuilt": summary.rebuilt,
                          "looked_up": lookups["keys"] - looked["keys"]}

        measured("full")
        measured("settle")  # re-reads the records the full run wrote (their SystemModstamp moved)
        rng = random.Random(1)
        people = [(obj, rid) for obj in ("Lead", "Contact") for rid in org.records[obj]
                  if not org.records[obj][rid]["IsConverted" if obj == "Lead" else "IsDeleted"]]
        for obj, rid in rng.sample(people, max(1, int(len(people) * changed))):
            org.touch(obj, rid, {"Title": "VP Revenue Operations"})
        measured("incremental")
        measured("idle")
        # The state lost: a new database reads everything and rebuilds from what the CRM
        # shows; the qualifications' tasks are looked up by key, none is made again.
        measured("lost state", StateStore(f"sqlite:///{tmp}/lost.db"))
        out["rows"] = {obj: len(org.records[obj]) for obj in ("Lead", "Contact", "CampaignMember",
                                                              "Marketing_Activity__c", "Task", "Event")}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--changed", type=float, default=0.01)
    args = parser.parse_args()
    for bulk in (False, True):
        result = run_mode(args.contacts, args.changed, bulk)
        rows = result["rows"]
        people_floor = math.ceil(rows["Lead"] / QUERY_BATCH) + math.ceil(rows["Contact"] / QUERY_BATCH)
        label = "Bulk API 2.0" if bulk else "REST"
        print(f"{label} reads, {args.contacts:,} people ({rows['Lead']:,} Leads, {rows['Contact']:,} Contacts; "
              f"{rows['CampaignMember']:,} campaign members, {rows['Marketing_Activity__c']:,} activity rows, "
              f"{rows['Task']:,} tasks, {rows['Event']:,} events):")
        for phase in ("full", "settle", "incremental", "idle", "lost state"):
            r = result[phase]
            print(f"  {phase:<11} {r['requests']:>5,} requests {r['by_kind']}  contacts {r['contacts']:,}, "
                  f"activities {r['activities']:,}, written {r['writes']:,}, tasks {r['tasks']:,}, {r['secs']}s; "
                  f"{r['lookups']} task lookups for {r['looked_up']:,} keys, {r['rebuilt']:,} rebuilt")
        full = result["full"]
        print(f"  full-sync people reads: REST floor {people_floor} query requests; write floor "
              f"{math.ceil(full['writes'] / COLLECTION) + math.ceil(full['tasks'] / COLLECTION)} collection "
              "requests")


if __name__ == "__main__":
    main()
