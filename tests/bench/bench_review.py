"""Benchmark: the funnel review (funnel, breakdowns, lift, the four signals) over about
1,000,000 recorded transitions and 100,000 outcomes; print the time of each part and
peak memory.

    python3 tests/bench/bench_review.py [--people N]

Run on demand, never in the test suite. The histories are generated: 250,000 people
qualified over two years, most accepted, many SQLs, some opportunities and deals.
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from mqlsync.connector.model import Stage, Transition
from mqlsync.connector.review import Journey, Outcome
from mqlsync.jobs.review import Period, report

NOW = datetime(2026, 11, 30, tzinfo=UTC)
CHANNELS = ("inbound_form", "event", "interaction", "referral", "outbound", "other")
RULES = [f"rule-{i}" for i in range(30)]


def generate(people: int, seed: int = 5) -> tuple[list[Journey], int, int]:
    rng = random.Random(seed)
    out, moves, deals = [], 0, 0
    day = timedelta(days=1)
    for i in range(people):
        pid = f"p{i}"
        at = NOW - rng.uniform(0, 730) * day
        steps = [Transition(pid, Stage.LEAD, Stage.MQL, "score 80 met the threshold with grade A", at)]
        stage = Stage.MQL
        for to in (Stage.SAL, Stage.SQL, Stage.OPPORTUNITY):
            if rng.random() > 0.75:
                break
            at += rng.uniform(1, 20) * day
            steps.append(Transition(pid, stage, to, "accepted by sales", at))
            stage = to
        if stage == Stage.MQL and rng.random() < 0.3:
            at += rng.uniform(1, 10) * day
            steps.append(Transition(pid, stage, Stage.RECYCLED, f"rejected by sales on {at:%Y-%m-%d}", at))
        outcome = None
        if stage == Stage.OPPORTUNITY:
            outcome = Outcome(rng.random() < 0.4, at + rng.uniform(5, 90) * day, rng.uniform(1e3, 5e4))
            deals += 1
        moves += len(steps)
        out.append(Journey(pid, tuple(steps), channel=rng.choice(CHANNELS), grade=rng.choice("ABC"),
                           score=rng.uniform(70, 160), rules=tuple(rng.sample(RULES, 6)), model_version="v1",
                           outcome=outcome))
    return out, moves, deals


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=380_000)
    args = parser.parse_args()
    t0 = time.perf_counter()
    journeys, moves, deals = generate(args.people)
    t1 = time.perf_counter()
    period = Period(NOW - timedelta(days=730), NOW, 90, 90, NOW)
    found = report("bench", journeys, period)
    t2 = time.perf_counter()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{len(journeys):,} people, {moves:,} transitions, {deals:,} outcomes: generated in {t1 - t0:.1f}s; "
          f"review (funnel, {len(found['breakdowns'])} breakdowns, lift of {len(found['lift']['rules'])} rules, "
          f"{len(found['signals'])} signals) in {t2 - t1:.1f}s; peak memory {peak_mb:,.0f} MB")


if __name__ == "__main__":
    main()
