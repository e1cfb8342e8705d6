"""Going live, as an admin does it from the README: `check` before anything, `run`
refusing to start on a CRM that lacks mqlsync's fields. The sandbox as its own
process, the CLI as the README shows it."""

from __future__ import annotations

import json

from tests.e2e.harness import HubSpot, Salesforce, admin, cli, sandbox_process


def test_check_lists_every_item_and_passes_only_when_all_do(tmp_path):
    state = tmp_path / "state.db"
    with sandbox_process(HubSpot, 30, "--tier", "professional") as crm:
        before = cli(crm, state, "check")
        assert before.returncode == 1
        lines = before.stdout.splitlines()
        assert "✓ credentials: HubSpot accepts the token" in lines
        assert "✓ deal outcomes can be read, for the review (crm.objects.deals.read)" in lines
        assert "✗ writes score to property mqlsync_score" in lines
        assert lines[lines.index("✗ writes score to property mqlsync_score") + 1] == \
            "    fix: it does not exist: run `mqlsync setup --mapping FILE`"
        assert any(line.startswith("    fix: the Events API needs an Enterprise portal") for line in lines)
        assert lines[-1].startswith("hubspot-main: ") and lines[-1].endswith("to fix.")
        assert cli(crm, state, "setup").returncode == 0
        report = json.loads(cli(crm, state, "check", "--json").stdout)
        failing = [c["item"] for c in report["checks"] if not c["ok"]]
        assert not report["ok"] and failing and all(i.startswith("activity source events:") for i in failing)
        admin(crm.url, "/__sandbox/access", {"tier": "enterprise"})
        after = cli(crm, state, "check")
        assert after.returncode == 0, after.stdout
        assert after.stdout.splitlines()[-1] == f"hubspot-main: {len(report['checks'])} of " \
                                                f"{len(report['checks'])} checks passed."


def test_a_run_before_setup_stops_at_once_and_says_to_run_setup(tmp_path):
    state = tmp_path / "state.db"
    with sandbox_process(Salesforce, 30) as crm:
        ran = cli(crm, state, "run")
        assert ran.returncode == 2
        assert "the CRM lacks 19 field(s) mqlsync writes (Lead.MQL_Score__c" in ran.stderr
        assert "run `mqlsync setup --mapping FILE` first; nothing was read or written" in ran.stderr
        served = admin(crm.url, "/__sandbox/stats")["requests"]
        assert served <= 3  # the describes of Lead, Contact and Task: not a request per record
        assert not any(r.get("MQL_Score__c") is not None for r in crm.records().values())
        assert cli(crm, state, "setup").returncode == 0
        assert cli(crm, state, "run").returncode == 0


def test_a_wrong_address_is_named_within_seconds_exits_with_the_crms_code_and_status_says_why(tmp_path):
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    env = dict(os.environ, MQLSYNC_STATE_URL=f"sqlite:///{tmp_path / 'state.db'}", NO_COLOR="1",
               MQLSYNC_HUBSPOT_BASE_URL="http://127.0.0.1:9", HUBSPOT_ACCESS_TOKEN="sandbox-token")

    def mqlsync(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "mqlsync.jobs.cli", *args, "--mapping",
                               str(ROOT / "mappings" / "hubspot.yaml")], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)

    ran = mqlsync("-v", "run")
    assert ran.returncode == 69  # the CRM's failure, not the user's mistake (2)
    assert "HubSpot cannot be reached at http://127.0.0.1:9" in ran.stderr and "Traceback" not in ran.stderr
    # Log lines to a pipe are one line each, whatever their length (no wrapping at 80).
    retry = [line for line in ran.stderr.splitlines() if "retrying after" in line]
    assert len(retry) == 2 and all(" INFO mqlsync.http: retrying after " in line for line in retry)
    status = mqlsync("status")
    assert status.returncode == 1
    assert "the last run failed: HubSpot cannot be reached at http://127.0.0.1:9" in status.stdout
    row = next(line for line in status.stdout.splitlines() if line.strip().startswith("20"))
    assert row.split()[0].endswith("Z") and " failed " in row  # the start time whole, not cut at 80 columns


def test_an_answer_no_call_expects_is_one_line_not_an_internal_error(tmp_path):
    with sandbox_process(HubSpot, 10) as crm:
        crm.url += "/not-the-api"  # a wrong path: every call answers 404
        state = tmp_path / "state.db"
        ran = cli(crm, state, "run")
    assert ran.returncode == 69
    assert "internal error" not in ran.stderr and "Traceback" not in ran.stderr
    assert ran.stderr.strip().startswith("the CRM answered HTTP 404 to a call mqlsync makes")


def test_a_dry_run_lists_every_change_new_mqls_first_and_writes_the_whole_plan_to_a_file(tmp_path):
    import csv

    state = tmp_path / "state.db"
    with sandbox_process(HubSpot, 60) as crm:
        assert cli(crm, state, "setup").returncode == 0
        dry = cli(crm, state, "run", "--dry-run", "--out", str(tmp_path / "plan.csv"))
        assert dry.returncode == 0, dry.stderr
        rows = list(csv.DictReader((tmp_path / "plan.csv").open(encoding="utf-8")))
        assert len(rows) == 60 and all(r["crm_stage_after"] for r in rows)  # the CRM's values, never None
        mqls = [r for r in rows if r["new_mql"] == "True"]
        assert mqls and all(r["crm_stage_after"] == "marketingqualifiedlead" and r["task_subject"].startswith(
            "MQL: ") and r["task_due"] for r in mqls)
        lines = dry.stdout.splitlines()
        assert lines[0] == f"new MQLs ({len(mqls)}):" and f"other changes ({60 - len(mqls)}):" in lines
        listed = [line.split()[0] for line in lines[1:len(mqls) + 1]]
        assert listed == sorted(listed, key=int)  # natural order
        assert f"stage changes: lead → mql: {len(mqls)}" in dry.stderr
        assert "None" not in dry.stdout
        assert list(tmp_path.glob("state.db*")) == []  # "nothing written, not even its own state"
        assert not any(p.get(crm.mapping.write_back.fields["score"]) for p in crm.sdk_people().values())
        jsonl = cli(crm, state, "run", "--dry-run", "--out", str(tmp_path / "plan.jsonl"))
        assert jsonl.returncode == 0
        assert len((tmp_path / "plan.jsonl").read_text(encoding="utf-8").splitlines()) == 60


def test_the_go_live_walk_check_setup_shadow_review_then_full(tmp_path):
    """The README's going-live steps, as an admin runs them on a mapping of their own:
    check fails and says to run setup; shadow mode writes scores and nothing sales acts
    on; the MQLs it found can be reviewed with `leads`; full mode then hands them over,
    each with one task, as hubspot-api-client shows."""
    from tests.e2e.harness import ROOT

    shipped = (ROOT / "mappings" / "hubspot.yaml").read_text(encoding="utf-8")
    mapping = tmp_path / "acme.yaml"
    (tmp_path / "scoring.yaml").write_text((ROOT / "mappings" / "scoring.yaml").read_text(encoding="utf-8"))
    mapping.write_text(shipped.replace("connection: hubspot-main", "connection: acme")
                       .replace("  group: mqlsync\n", "  group: mqlsync\n  mode: shadow\n"), encoding="utf-8")
    state = tmp_path / "state.db"

    with sandbox_process(HubSpot, 200) as crm:
        def mqlsync(*args: str):
            return cli(crm, state, *args, mapping=mapping)

        first = mqlsync("check")
        assert first.returncode == 1 and "fix: it does not exist: run `mqlsync setup --mapping FILE`" in first.stdout
        assert mqlsync("setup").returncode == 0
        assert mqlsync("check").returncode == 0

        stages_before = {cid: p.get("lifecyclestage") for cid, p in crm.sdk_people().items()}
        shadow = mqlsync("run", "--json")
        assert shadow.returncode == 0, shadow.stderr
        found = json.loads(shadow.stdout)
        assert found["mode"] == "shadow" and found["new_mqls"] > 0 and found["tasks_created"] == 0
        people = crm.sdk_people()
        assert all(p.get("mqlsync_score") not in (None, "") for p in people.values())
        assert not any(p.get("mqlsync_mql") for p in people.values())  # nothing sales acts on
        assert {cid: p.get("lifecyclestage") for cid, p in people.items()} == stages_before
        assert crm.sdk_tasks() == []
        said = mqlsync("run")
        assert "shadow mode: only mqlsync's score fields are written" in " ".join(said.stderr.split())

        review = [json.loads(line) for line in mqlsync("leads", "--stage", "mql", "--json").stdout.splitlines()]
        assert len(review) == found["new_mqls"]

        mapping.write_text(mapping.read_text(encoding="utf-8").replace("  mode: shadow\n", "  mode: full\n"))
        full = mqlsync("run", "--json")
        assert full.returncode == 0, full.stderr
        handed = json.loads(full.stdout)
        assert handed["mode"] == "full" and handed["tasks_created"] == len(review)
        people = crm.sdk_people()
        tagged = {cid for cid, p in people.items()
                  if p.get("mqlsync_mql") == "true" and p.get("mqlsync_stage") == "mql"}
        assert tagged == {r["contact_id"] for r in review}
        assert sorted(cid for cid, _ in crm.sdk_tasks()) == sorted(r["contact_id"] for r in review)
