"""The sync as a user runs it, for both CRMs from one test: the mqlsync CLI against a
sandbox HubSpot or Salesforce running as its own process, through setup, repeated
runs, new engagement and a sales rejection. Each CRM differs only in how a person,
their activity and sales' verdict look in it (tests/e2e/harness.py) and in its mapping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e.harness import HubSpot, Salesforce, cli, run, start, stop


@pytest.fixture(scope="module", params=[HubSpot, Salesforce], ids=["hubspot", "salesforce"])
def crm(request):
    harness, proc = start(request.param)
    yield harness
    stop(proc)


def test_a_lead_becomes_an_mql_with_one_task_then_a_rejection_recycles_it(crm, tmp_path):
    state = tmp_path / "state.db"
    out = crm.mapping.write_back.fields  # canonical key -> the CRM's field
    fields = crm.obj.fields
    setup = cli(crm, state, "setup")
    assert setup.returncode == 0, setup.stderr

    first = run(crm, state)
    assert first["writes"] == first["contacts"] == 300 and first["status"] == "ok"
    assert run(crm, state)["writes"] == 0

    # A lead close to the threshold, with the profile an MQL needs, on the lead object.
    people = crm.records()
    candidates = [(int(float(p[out["score"]])), cid) for cid, p in people.items()
                  if p.get(out["stage"]) == "lead" and p.get(out["grade"]) in ("A", "B", "C")
                  and p.get(fields["first_name"]) and p.get(fields["last_name"]) and p.get(fields["title"])
                  and p.get(fields["owner_id"]) and 55 <= int(float(p[out["score"]])) < 70
                  and crm.lifecycle(p) is not None]
    score, cid = max(candidates)
    tasks_before = len(crm.tasks())

    # The lead visits the pricing page three times and reads around the site.
    crm.visit_pricing(cid, people[cid], datetime.now(UTC) - timedelta(minutes=5))

    dry = cli(crm, state, "run", "--dry-run")
    assert dry.returncode == 0 and f"{cid} " in dry.stdout and "lead → mql" in dry.stdout
    assert crm.records()[cid][out["stage"]] == "lead"  # a dry run writes nothing

    engaged = run(crm, state)
    assert engaged["new_mqls"] == 1 and engaged["tasks_created"] == 1
    after = crm.records()[cid]
    assert after[out["stage"]] == "mql" and after[out["mql"]] == "true"
    assert crm.lifecycle(after) == crm.expected_mql_lifecycle and int(float(after[out["score"]])) >= 70
    (task,) = [t for t in crm.tasks() if cid in t["who"]]
    assert task["owner"] == after[fields["owner_id"]]
    assert "viewed the pricing page 3+ times in 30 days" in task["body"]
    assert len(crm.tasks()) == tasks_before + 1

    again = run(crm, state)
    assert again["writes"] == again["tasks_created"] == 0
    assert len([t for t in crm.tasks() if cid in t["who"]]) == 1

    # Sales looks at it and rejects it.
    crm.reject(cid, datetime.now(UTC))
    recycled = run(crm, state)
    assert recycled["writes"] == 1 and recycled["tasks_created"] == 0
    final = crm.records()[cid]
    assert final[out["stage"]] == "recycled" and final[out["mql"]] == "false"
    assert crm.lifecycle(final) == crm.expected_rejected_lifecycle
    assert run(crm, state)["writes"] == 0
    assert len([t for t in crm.tasks() if cid in t["who"]]) == 1


def test_no_secret_in_any_output_even_at_debug_or_with_a_wrong_credential(crm, tmp_path):
    import subprocess

    from tests.e2e.harness import SECRET, cli_args, cli_env

    state = tmp_path / "state.db"
    verbose = cli(crm, state, "-vv", "run", "--dry-run")  # cli() asserts the secret is in no output
    assert verbose.returncode == 0
    wrong = "wrong-" + SECRET[::-1]
    env = cli_env(crm, state) | {crm.env_names[1]: wrong}
    refused = subprocess.run(cli_args(crm, "-vv", "run"), cwd=tmp_path, env=env, capture_output=True, text=True,
                             timeout=120)
    assert refused.returncode == 2 and "refused" in refused.stderr
    assert wrong not in refused.stdout + refused.stderr and SECRET not in refused.stdout + refused.stderr
