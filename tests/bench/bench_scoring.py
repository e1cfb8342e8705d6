"""Benchmark: score 100,000 generated contacts with about 1,000,000 activities on one
core; print contacts per second, the time split and peak memory.

    python3 tests/bench/bench_scoring.py [--contacts N] [--activities M] [--profile]

Run on demand, never in the test suite. Contacts stream from the generator one at a
time, so memory is what scoring needs, not what holding a million records costs.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from mqlsync.connector.config import load_model
from mqlsync.connector.sample import ANCHOR, stream
from mqlsync.connector.scoring import SalesSignals, Scorer, decide
from mqlsync.connector.sync import initial_state

ROOT = Path(__file__).resolve().parents[2]
#: the generator's mean activity count per contact that yields ~10 per contact
PER_CONTACT_MEAN = 13.0


def run(contacts: int, target_activities: int, pregenerate: bool = False) -> dict:
    scorer = Scorer(load_model(ROOT / "mappings" / "scoring.yaml"))
    mean = PER_CONTACT_MEAN * target_activities / (contacts * 10)
    n_acts = mqls = 0
    gen_s = score_s = decide_s = 0.0
    spec = scorer.model.lifecycle
    t_all = time.perf_counter()
    records = stream(seed=11, contacts=contacts, activities_per_contact=mean)
    if pregenerate:  # every record in memory first, as a batch from a file or a CRM page
        records = list(records)
        gen_s = time.perf_counter() - t_all
    t = time.perf_counter()
    for contact, acts in records:
        t1 = time.perf_counter()
        gen_s += t1 - t
        card = scorer.score(contact, acts, ANCHOR)
        t2 = time.perf_counter()
        decision = decide(initial_state(contact), card, SalesSignals.of(contact), ANCHOR, spec)
        t = time.perf_counter()
        score_s += t2 - t1
        decide_s += t - t2
        n_acts += len(acts)
        mqls += decision.mql_at is not None
    wall = time.perf_counter() - t_all
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"contacts": contacts, "activities": n_acts, "new_mqls": mqls, "generate_s": gen_s,
            "score_s": score_s, "decide_s": decide_s, "wall_s": wall, "peak_rss_mb": peak_mb}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--activities", type=int, default=1_000_000)
    parser.add_argument("--profile", action="store_true", help="print the top of a cProfile of the run")
    parser.add_argument("--pregenerate", action="store_true",
                        help="generate every record before scoring (memory holds them all)")
    args = parser.parse_args()
    if args.profile:
        profile = cProfile.Profile()
        result = profile.runcall(run, args.contacts, args.activities, args.pregenerate)
        pstats.Stats(profile).sort_stats("tottime").print_stats(25)
    else:
        result = run(args.contacts, args.activities, args.pregenerate)
    core = result["score_s"] + result["decide_s"]
    print(f"contacts {result['contacts']:,}  activities {result['activities']:,}  new MQLs {result['new_mqls']:,}")
    print(f"score  {result['score_s']:.2f} s  ({result['contacts'] / result['score_s']:,.0f} contacts/s, "
          f"{result['activities'] / result['score_s']:,.0f} activities/s)")
    print(f"decide {result['decide_s']:.2f} s;  score+decide {core:.2f} s "
          f"({result['contacts'] / core:,.0f} contacts/s)")
    print(f"generate {result['generate_s']:.2f} s (sample generator, not scoring);  wall {result['wall_s']:.2f} s")
    print(f"peak RSS {result['peak_rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
