"""Benchmark: backtest the shipped model, and suggest points, on 100,000 generated people
with about 1,000,000 activities and an outcome each; print the time of each part and
peak memory.

    python3 tests/bench/bench_backtest.py [--contacts N]

Run on demand, never in the test suite. The people and their activity come from the
sample generator, written as the JSON-lines files `backtest` reads; a person's outcome
is drawn from their number of activities (more engaged, likelier to win), so the score
has something to find.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from mqlsync.connector.adapters.jsonl import dump_line
from mqlsync.connector.config import load_model
from mqlsync.connector.sample import stream
from mqlsync.jobs.backtest import backtest, from_files, suggest

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=100_000)
    args = parser.parse_args()
    rng = random.Random(3)
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        t0 = time.perf_counter()
        n_acts = 0
        with (base / "c.jsonl").open("w", encoding="utf-8") as cf, \
                (base / "a.jsonl").open("w", encoding="utf-8") as af, \
                (base / "o.csv").open("w", encoding="utf-8") as of:
            of.write("id,outcome\n")
            for contact, acts in stream(seed=11, contacts=args.contacts, activities_per_contact=13.0):
                cf.write(dump_line(contact) + "\n")
                for a in acts:
                    af.write(dump_line(a) + "\n")
                n_acts += len(acts)
                of.write(f"{contact.id},{int(rng.random() < min(0.6, 0.02 * len(acts)))}\n")
        t1 = time.perf_counter()
        history = from_files(base / "c.jsonl", base / "a.jsonl", base / "o.csv")
        t_read = time.perf_counter()
        current = load_model(ROOT / "mappings" / "scoring.yaml")
        found = backtest(history, [current], holdout=0.3)
        t2 = time.perf_counter()
        made = suggest(history, current, base / "suggested.yaml", holdout=0.3)
        t3 = time.perf_counter()
    (report,) = found.reports
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"people": found.people, "activities": n_acts, "held_out": found.held_out,
                      "auc": round(report.auc or 0, 3), "files_written_s": round(t1 - t0, 1),
                      "files_read_s": round(t_read - t1, 1), "backtest_s": round(t2 - t_read, 1),
                      "suggest_s": round(t3 - t2, 1), "suggested_rules": made.rules,
                      "suggested_auc": round(made.suggested.auc or 0, 3),
                      "regression_auc": round(made.regression_auc or 0, 3), "peak_mb": round(peak_mb)}))


if __name__ == "__main__":
    main()
