"""Benchmark: follow-up tasks made twice when runs of one connection meet, counted
through the CRM's own SDK. Rounds of several `mqlsync run` started together on one
state database while leads qualify between rounds; then runs from new state databases
(another folder, a lost state).

    python3 tests/bench/bench_concurrency.py [--crm hubspot|salesforce] [--rounds 20] [--runs 3]
    python3 tests/bench/bench_concurrency.py --code /path/to/an/older/checkout

The sandbox runs as its own process from this checkout; `--code` runs the mqlsync CLI
from another checkout instead (to measure an older version the same way). Run on
demand, never in the suite.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.e2e import harness  # noqa: E402
from tests.e2e.test_one_writer import engage_leads  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crm", choices=["hubspot", "salesforce"], default="hubspot")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3, help="runs started together in each round")
    parser.add_argument("--contacts", type=int, default=300)
    parser.add_argument("--folders", type=int, default=2, help="runs from new state databases at the end")
    parser.add_argument("--code", type=Path, default=ROOT, help="the checkout whose CLI runs")
    args = parser.parse_args()
    kind = harness.HubSpot if args.crm == "hubspot" else harness.Salesforce
    crm, sandbox = harness.start(kind, args.contacts, "--delay", "0.01")
    env_extra = {"PYTHONPATH": str(args.code.resolve())}
    codes: Counter[int] = Counter()
    broken = 0
    try:
        with tempfile.TemporaryDirectory() as tmp:
            state = Path(tmp) / "state.db"

            def start_run(path: Path) -> subprocess.Popen:
                return subprocess.Popen(harness.cli_args(crm, "run", "--json"), cwd=path.parent,
                                        env=harness.cli_env(crm, path) | env_extra, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, text=True)

            setup = subprocess.run(harness.cli_args(crm, "setup"), cwd=tmp, env=harness.cli_env(crm, state) | env_extra,
                                   capture_output=True, text=True, timeout=180)
            assert setup.returncode == 0, setup.stderr
            engaged: set[str] = set()
            for round_ in range(args.rounds):
                if round_:
                    try:
                        engaged.update(engage_leads(crm, 2, engaged))
                    except AssertionError:
                        pass  # no lead left near the threshold: the runs still meet
                procs = [start_run(state) for _ in range(args.runs)]
                for proc in procs:
                    _, err = proc.communicate(timeout=300)
                    codes[proc.returncode] += 1
                    broken += "Traceback" in err or "internal error" in err
            before_folders = Counter(crm.sdk_tasks())
            for i in range(args.folders):
                folder = Path(tmp) / f"folder-{i}"
                folder.mkdir()
                proc = start_run(folder / "state.db")
                _, err = proc.communicate(timeout=300)
                codes[proc.returncode] += 1
                broken += "Traceback" in err or "internal error" in err
            tasks = Counter(crm.sdk_tasks())
    finally:
        harness.stop(sandbox)
    per_key = Counter(n for n in tasks.values())
    people = Counter(who for who, _ in tasks)
    print(f"{args.crm}, CLI from {args.code}: {args.rounds} rounds of {args.runs} runs started together, then "
          f"{args.folders} runs from new state databases")
    print(f"  exit codes {dict(sorted(codes.items()))}; runs that crashed with a traceback or database error: {broken}")
    print(f"  qualifications (task keys) {len(tasks)}, tasks {sum(tasks.values())}: "
          f"{sum(n - 1 for n in tasks.values())} made twice under one key; "
          f"{sum(n - 1 for n in people.values())} more than one per person (each qualified once)")
    print(f"  after the concurrent rounds: {sum(before_folders.values())} tasks for {len(before_folders)} keys; "
          f"the new state databases added {sum(tasks.values()) - sum(before_folders.values())}; {dict(per_key)}")
    os.sys.stdout.flush()


if __name__ == "__main__":
    main()
