"""One writer per connection, and the CRM as the record of what was done, for both
CRMs, with the sandbox as its own process and every task counted through the CRM's
own SDK: concurrent runs, a lost or second state database, a killed lock holder and
processes starting together on a new database never make a second follow-up task for
a qualification, never end in a traceback, and leave the CRM as one run would."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e.harness import ROOT, HubSpot, Salesforce, admin, cli, cli_args, cli_env, run, start, stop

#: the lock code: another run holds the connection (README, exit codes)
BUSY = 75


@pytest.fixture(params=[HubSpot, Salesforce], ids=["hubspot", "salesforce"])
def crm(request):
    # Each answer slowed a little, so runs started together overlap for a while.
    harness, proc = start(request.param, 200, "--delay", "0.01")
    yield harness
    stop(proc)


@pytest.fixture(params=[HubSpot, Salesforce], ids=["hubspot", "salesforce"])
def slow(request):
    """A sandbox slow enough that a first run lasts several seconds (a Salesforce run
    makes fewer, larger requests than a HubSpot one), once set up."""
    harness, proc = start(request.param, 200)
    harness.slowed = 0.12 if request.param is HubSpot else 0.35
    yield harness
    stop(proc)


def set_up(crm, state) -> None:
    done = cli(crm, state, "setup")
    assert done.returncode == 0, done.stderr
    if getattr(crm, "slowed", None):
        admin(crm.url, "/__sandbox/faults", {"delay_s": crm.slowed})


def launch(crm, state, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(cli_args(crm, "run", "--json", *extra), cwd=state.parent, env=cli_env(crm, state),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen) -> tuple[int, dict | None, str]:
    out, err = proc.communicate(timeout=180)
    assert "Traceback" not in err and "internal error" not in err and "OperationalError" not in err, err
    return proc.returncode, json.loads(out) if proc.returncode == 0 else None, err


def one_task_per_qualification(crm) -> Counter:
    """Tasks per (person, task key) through the SDK: every qualification has one task,
    and every person has one task per time mqlsync says they qualified."""
    tasks = Counter(crm.sdk_tasks())
    assert tasks and max(tasks.values()) == 1, [k for k, n in tasks.items() if n > 1][:5]
    per_person = Counter(who for who, _ in tasks)
    assert max(per_person.values()) == 1, [k for k, n in per_person.items() if n > 1][:5]  # each qualified once
    qualified = {cid for cid, p in crm.sdk_people().items() if p.get(crm.mapping.write_back.fields["mql_at"])}
    assert set(per_person) == qualified
    return tasks


def engage_leads(crm, count: int, skip: set[str]) -> list[str]:
    """Leads close to the threshold, with the profile an MQL needs, visit the pricing
    page and read the blog: enough to qualify."""
    out, fields = crm.mapping.write_back.fields, crm.obj.fields
    people = crm.records()
    near = sorted(((int(float(p[out["score"]])), cid) for cid, p in people.items()
                   if p.get(out["stage"]) == "lead" and p.get(out["grade"]) in ("A", "B", "C") and cid not in skip
                   and all(p.get(fields[f]) for f in ("first_name", "last_name", "title", "owner_id"))
                   and 55 <= int(float(p[out["score"]])) < 70 and crm.lifecycle(p) is not None), reverse=True)
    leads = [cid for _, cid in near[:count]]
    assert len(leads) == count
    for cid in leads:
        crm.visit_pricing(cid, people[cid], datetime.now(UTC) - timedelta(minutes=5))
    return leads


def test_runs_started_together_make_one_task_per_qualification(crm, tmp_path):
    state = tmp_path / "state.db"
    set_up(crm, state)
    engaged: set[str] = set()
    outcomes = Counter()
    for round_ in range(3):
        if round_:
            engaged.update(engage_leads(crm, 2, engaged))
        procs = [launch(crm, state) for _ in range(3)]
        results = [finish(p) for p in procs]
        outcomes.update(code for code, _, _ in results)
        assert {code for code, _, _ in results} <= {0, BUSY}
        assert any(code == 0 for code, _, _ in results)
        for code, _, err in results:
            if code == BUSY:  # one line naming the connection and who holds it
                line = err.strip().splitlines()[-1]
                assert line.startswith(f"{crm.mapping.connection}: another run holds this connection's lock (host ")
                assert " pid " in line and " since " in line
    final = run(crm, state)
    assert final["tasks_created"] == 0 and final["writes"] == 0
    tasks = one_task_per_qualification(crm)
    assert {who for who, _ in tasks} >= engaged  # they qualified while runs met
    assert outcomes[BUSY] > 0  # the runs really did meet


def test_a_second_run_waits_for_the_first_then_runs_after_it(slow, tmp_path):
    crm, state = slow, tmp_path / "state.db"
    set_up(crm, state)
    first = launch(crm, state)
    time.sleep(1.5)  # the first is reading or writing by now
    second = launch(crm, state, "--wait", "120")
    (code1, one, _), (code2, two, _) = finish(first), finish(second)
    assert code1 == code2 == 0
    assert one["tasks_created"] > 0 and two["tasks_created"] == 0 and two["writes"] == 0
    status = json.loads(cli(crm, state, "status", "--json").stdout)
    later, earlier = status["runs"][:2]
    assert later["started_at"] >= earlier["finished_at"]  # it ran after, not beside, the first
    one_task_per_qualification(crm)


def test_a_lost_reset_or_second_state_database_makes_no_task_again(crm, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "c").mkdir()
    state_a, state_b, state_c = tmp_path / "a" / "state.db", tmp_path / "b" / "state.db", tmp_path / "c" / "state.db"
    set_up(crm, state_a)
    first = run(crm, state_a)
    assert first["tasks_created"] == first["new_mqls"] > 0
    written = crm.sdk_people()
    tasks = one_task_per_qualification(crm)

    # Another machine (a second state database) on the same CRM: nothing to do, as its
    # dry run shows first.
    preview = json.loads(cli(crm, state_b, "run", "--dry-run", "--json").stdout)
    assert preview["changed"] == preview["tasks_created"] == preview["new_mqls"] == 0
    other = run(crm, state_b)
    assert other["tasks_created"] == 0 and other["new_mqls"] == 0
    assert other["writes"] == 0 and other["rebuilt"] == first["writes"]
    # The state deleted: the same.
    state_a.unlink()
    lost = run(crm, state_a)
    assert lost["tasks_created"] == 0 and lost["new_mqls"] == 0 and lost["writes"] == 0
    assert Counter(crm.sdk_tasks()) == tasks and crm.sdk_people() == written

    # A lead qualifies through one state; the other state learns it from the CRM.
    (lead,) = engage_leads(crm, 1, set())
    assert run(crm, state_b)["tasks_created"] == 1
    behind = run(crm, state_a)
    assert behind["tasks_created"] == behind["new_mqls"] == 0
    # A full run on an empty database converges to the same CRM, with no extra task.
    converged = crm.sdk_people()
    full = run(crm, state_c, "--full")
    assert full["tasks_created"] == 0 and full["new_mqls"] == 0 and full["writes"] == 0
    assert crm.sdk_people() == converged
    tasks = one_task_per_qualification(crm)
    assert lead in {who for who, _ in tasks}


def test_the_lock_of_a_killed_run_is_free_at_once(slow, tmp_path):
    crm, state = slow, tmp_path / "state.db"
    set_up(crm, state)
    holder = launch(crm, state)
    time.sleep(1.5)  # started, and holding the lock for its reading and writing
    code, _, err = finish(launch(crm, state))
    assert code == BUSY and f"pid {holder.pid}," in err and holder.poll() is None
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    code, summary, _ = finish(launch(crm, state))
    assert code == 0 and summary["status"] == "ok"
    assert finish(launch(crm, state))[1]["writes"] == 0
    one_task_per_qualification(crm)


def _start_together(url: str, n: int) -> list[subprocess.CompletedProcess]:
    code = ("import sys; from mqlsync.connector.state import StateStore; s = StateStore(sys.argv[1]); "
            "print(len(s.status('x')['runs']))")
    procs = [subprocess.Popen([sys.executable, "-c", code, url], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=dict(os.environ)) for _ in range(n)]
    return [subprocess.CompletedProcess(p.args, p.wait(timeout=120), *p.communicate()) for p in procs]


@pytest.mark.parametrize("where", ["sqlite", "postgresql"])
def test_processes_starting_together_on_a_new_database_all_start(where, tmp_path, request):
    url = f"sqlite:///{tmp_path / 'new.db'}" if where == "sqlite" else request.getfixturevalue("fresh_postgres")
    for done in _start_together(url, 6):
        assert done.returncode == 0 and done.stdout.strip() == "0", done.stderr


@pytest.mark.parametrize("where", ["sqlite", "postgresql"])
def test_the_lock_is_one_per_connection_and_dies_with_its_holder(where, tmp_path, request):
    from mqlsync.connector.errors import ConnectionBusy
    from mqlsync.connector.state import StateStore

    url = f"sqlite:///{tmp_path / 'state.db'}" if where == "sqlite" else request.getfixturevalue("fresh_postgres")
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\n"
                               "from mqlsync.connector.state import StateStore\n"
                               "with StateStore(sys.argv[1]).lock('hubspot-main'):\n"
                               "    print('held', flush=True); time.sleep(120)", url],
                              cwd=ROOT, stdout=subprocess.PIPE, text=True)
    store = StateStore(url)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(ConnectionBusy, match=f"pid {holder.pid}, since "):
            with store.lock("hubspot-main"):
                pass
        started = time.monotonic()
        with pytest.raises(ConnectionBusy, match="waited 0.5 s and did nothing"):
            with store.lock("hubspot-main", wait=0.5):
                pass
        assert time.monotonic() - started >= 0.5
        with store.lock("salesforce-main"):  # another connection is not held up
            pass
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        with store.lock("hubspot-main", wait=10):  # the dead holder's lock went with it
            pass
    finally:
        holder.kill()
        store.engine.dispose()
