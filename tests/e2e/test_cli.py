"""The `mqlsync` command as a user runs it: a separate process, its output and exit code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def mqlsync(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, COLUMNS="160", NO_COLOR="1", TERM="dumb", PYTHONIOENCODING="utf-8")
    return subprocess.run([sys.executable, "-m", "mqlsync.jobs.cli", *args], cwd=cwd or ROOT, env=env,
                          capture_output=True, text=True, encoding="utf-8", timeout=120)


@pytest.fixture(scope="module")
def sample_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sample")
    result = mqlsync("sample", "--out", str(out), "--contacts", "300", "--seed", "7")
    assert result.returncode == 0, result.stderr
    return out


def no_traceback(result: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in result.stdout + result.stderr


def test_validate_prints_one_line_per_good_file():
    result = mqlsync("validate", "mappings/scoring.yaml", "mappings/hubspot.yaml", "mappings/salesforce.yaml")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("mappings/scoring.yaml: scoring model 'default' OK: 39 rules")
    assert lines[1].startswith("mappings/hubspot.yaml: hubspot mapping 'hubspot-main' OK")


def test_validate_lists_every_error_as_file_line_field_and_exits_2(tmp_path):
    model = (ROOT / "mappings" / "scoring.yaml").read_text(encoding="utf-8")
    broken = model.replace("  threshold: 70", "  threshold: seventy").replace("title: {contains_any: [chief",
                                                                            "titel: {contains_any: [chief")
    (tmp_path / "scoring.yaml").write_text(broken, encoding="utf-8")
    result = mqlsync("validate", "scoring.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "scoring.yaml:13: mql.threshold: Input should be a valid number, unable to parse string as a number "
        "(got 'seventy')",
        "scoring.yaml:55: rules[0].when.titel: unknown contact field 'titel' (did you mean 'title'?); "
        "custom fields are written attributes.<name>"]
    no_traceback(result)


def test_validate_a_file_that_does_not_exist(tmp_path):
    result = mqlsync("validate", "nowhere.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == "nowhere.yaml: file not found"


def test_sample_writes_canonical_json_lines(sample_dir):
    contacts = (sample_dir / "contacts.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(contacts) == 300
    assert json.loads(contacts[0])["id"] == "c-000001"
    assert (sample_dir / "activities.jsonl").stat().st_size > 0


def test_score_outputs_one_json_object_per_contact(sample_dir):
    result = mqlsync("score", "-c", str(sample_dir / "contacts.jsonl"), "-a", str(sample_dir / "activities.jsonl"),
                     "--now", "2026-11-01T09:00:00Z", "--format", "jsonl")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == 300
    assert set(rows[0]) >= {"contact_id", "total", "fit", "engagement", "negative", "grade", "mql", "unmet",
                            "stage", "transitions", "mql_at", "hits", "text", "model_version"}
    mqls = [r for r in rows if r["stage"] == "mql"]
    assert mqls and all(r["mql_at"] == "2026-11-01T09:00:00Z" for r in mqls)
    assert "Scored 300 contacts at 2026-11-01T09:00Z" in result.stderr


def test_score_reports_bad_lines_scores_the_rest_and_exits_1(sample_dir, tmp_path):
    contacts = tmp_path / "contacts.jsonl"
    good = (sample_dir / "contacts.jsonl").read_text(encoding="utf-8")
    contacts.write_text(good + '{"id": "x1", "company_size": -3}\n{oops\n', encoding="utf-8")
    result = mqlsync("score", "-c", str(contacts), "-a", str(sample_dir / "activities.jsonl"),
                     "--now", "2026-11-01T09:00:00", "-f", "jsonl")
    assert result.returncode == 1
    assert len(result.stdout.splitlines()) == 300
    assert f"skipped {contacts}:301 (x1): company_size: Input should be greater than or equal to 0 (got -3)" \
        in result.stderr
    assert f"skipped {contacts}:302: not valid JSON" in result.stderr
    assert "2 lines skipped" in result.stderr
    no_traceback(result)


def test_score_table_shows_stage_and_why(sample_dir):
    result = mqlsync("score", "-c", str(sample_dir / "contacts.jsonl"), "-a", str(sample_dir / "activities.jsonl"),
                     "--now", "2026-11-01T09:00:00Z")
    assert result.returncode == 0
    assert "c-000001" in result.stdout and "below threshold 70" in result.stdout


def test_score_with_a_broken_model_writes_nothing_and_exits_2(sample_dir, tmp_path):
    (tmp_path / "model.yaml").write_text("mql: {threshold: 1}\ngrades: {A: {}}\nrules: []\n", encoding="utf-8")
    result = mqlsync("score", "-c", str(sample_dir / "contacts.jsonl"), "--model", str(tmp_path / "model.yaml"))
    assert result.returncode == 2
    assert result.stdout == ""
    assert f"{tmp_path / 'model.yaml'}:3: rules: List should have at least 1 item" in result.stderr


def test_score_refuses_a_time_that_is_not_iso(sample_dir):
    result = mqlsync("score", "-c", str(sample_dir / "contacts.jsonl"), "--now", "yesterday")
    assert result.returncode == 2
    assert "'yesterday' is not an ISO 8601 time" in result.stderr
    no_traceback(result)


def test_score_a_missing_contacts_file_is_one_line(tmp_path):
    result = mqlsync("score", "-c", str(tmp_path / "nope.jsonl"))
    assert result.returncode == 2
    assert result.stderr.strip() == f"{tmp_path / 'nope.jsonl'}: cannot open: No such file or directory"


def test_explain_shows_rules_evidence_gate_and_stage(sample_dir):
    result = mqlsync("explain", "c-000010", "-c", str(sample_dir / "contacts.jsonl"),
                     "-a", str(sample_dir / "activities.jsonl"), "--now", "2026-11-01T09:00:00Z")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "c-000010  Test Test" in out
    assert "fake-identity" in out and "disqualifies" in out and "first_name = Test" in out
    assert "MQL gate closed:" in out
    assert "stage: disqualified (lead -> disqualified: disqualified by fake-identity)" in out


def test_explain_an_unknown_contact_exits_2(sample_dir):
    result = mqlsync("explain", "c-000001", "nobody", "-c", str(sample_dir / "contacts.jsonl"), "--json")
    assert result.returncode == 2
    assert json.loads(result.stdout)["contact_id"] == "c-000001"
    assert result.stderr.strip() == "not found: nobody"


def test_demo_syncs_a_sandbox_twice_and_the_second_run_writes_nothing():
    result = mqlsync("demo", "--json", "--contacts", "400")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    first, second = report["runs"]
    assert report["mode"] == "sandbox" and len(report["setup"]["created"]) == 10
    assert first["contacts"] == first["writes"] == 400
    assert first["new_mqls"] > 0 and first["tasks_created"] == first["new_mqls"] == report["tasks_in_crm"]
    assert second["writes"] == second["tasks_created"] == second["new_mqls"] == 0
    for run in (first, second):
        assert {"contacts", "mqls", "tasks_created", "writes", "requests"} <= set(run)
        assert run["requests"] > 0 and run["status"] == "ok"
    assert report["sandbox"]["requests"] == 10 + 2 + first["requests"] + second["requests"]


def test_demo_on_salesforce_syncs_leads_and_contacts_twice(tmp_path):
    result = mqlsync("demo", "--crm", "salesforce", "--json", "--contacts", "300", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    first, second = report["runs"]
    assert report["crm"] == "salesforce" and "Lead.MQL_Score__c" in report["setup"]["created"]
    assert "Task.MQL_Task_Key__c" in report["setup"]["created"]
    assert first["contacts"] == first["writes"] == 300 and first["status"] == "ok"
    assert first["new_mqls"] > 0 and first["tasks_created"] == first["new_mqls"] == report["tasks_in_crm"]
    assert second["writes"] == second["tasks_created"] == second["new_mqls"] == 0
    assert list(tmp_path.iterdir()) == []
    unknown = mqlsync("demo", "--crm", "pipedrive")
    assert unknown.returncode == 2 and "pipedrive" in unknown.stderr and "'hubspot', 'salesforce'" in unknown.stderr


def test_demo_runs_from_any_folder_and_shows_a_summary(tmp_path):
    result = mqlsync("demo", "--contacts", "200", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "mqlsync demo" in result.stdout and "top rules" in result.stdout
    assert "The second run wrote 0 changes" in result.stdout
    assert list(tmp_path.iterdir()) == []  # the demo leaves nothing behind


def test_unknown_option_is_a_usage_error_not_a_traceback():
    result = mqlsync("score", "--contcts", "x")
    assert result.returncode == 2
    no_traceback(result)


def test_a_piped_score_table_keeps_each_contact_on_one_line_and_jsonl_is_plain(sample_dir):
    args = ("score", "-c", str(sample_dir / "contacts.jsonl"), "-a", str(sample_dir / "activities.jsonl"),
            "--now", "2026-11-01T09:00:00Z")
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    table = subprocess.run([sys.executable, "-m", "mqlsync.jobs.cli", *args], capture_output=True, text=True,
                           env=env, timeout=120)
    row = next(line for line in table.stdout.splitlines() if "c-000001" in line)
    assert "Katalin Kiss" in row and "below threshold 70" in row  # not cut, not wrapped at 80 columns
    lines = subprocess.run([sys.executable, "-m", "mqlsync.jobs.cli", *args, "-f", "jsonl"], capture_output=True,
                           text=True, env=env, timeout=120).stdout.splitlines()
    people = (sample_dir / "contacts.jsonl").read_text(encoding="utf-8").count("\n")
    assert len(lines) == people and json.loads(lines[0])["contact_id"] == "c-000001"


def test_the_demos_second_run_stays_on_the_day_of_the_first():
    from datetime import UTC, datetime

    from mqlsync.jobs.demo import quarter_hour_later

    assert quarter_hour_later(datetime(2026, 11, 30, 12, 0, tzinfo=UTC)) == datetime(2026, 11, 30, 12, 15,
                                                                                      tzinfo=UTC)
    assert quarter_hour_later(datetime(2026, 11, 30, 23, 50, tzinfo=UTC)) == datetime(2026, 11, 30, 23, 59, 59,
                                                                                       tzinfo=UTC)


def test_explain_says_a_field_is_filled_where_the_rule_only_checks_that(sample_dir):
    result = mqlsync("explain", "c-000008", "-c", str(sample_dir / "contacts.jsonl"),
                     "-a", str(sample_dir / "activities.jsonl"), "--now", "2026-11-01T09:00:00Z")
    assert result.returncode == 0, result.stderr
    assert "email filled" in result.stdout and "= None" not in result.stdout


def test_validate_prints_what_can_never_work_as_warnings_and_exits_0_or_2_for_errors(tmp_path):
    import shutil
    shipped = (ROOT / "mappings" / "scoring.yaml").read_text(encoding="utf-8")
    (tmp_path / "scoring.yaml").write_text(shipped.replace("threshold: 70", "threshold: 250")
                                           .replace("    type: trial_signup", "    type: trial_sign_up"))
    shutil.copy(ROOT / "mappings" / "hubspot.yaml", tmp_path / "hubspot.yaml")
    result = mqlsync("validate", str(tmp_path / "hubspot.yaml"))
    assert result.returncode == 0, result.stderr
    assert "hubspot mapping 'hubspot-main' OK" in result.stdout
    assert "warning: " in result.stderr and "no contact can reach threshold 250" in result.stderr
    assert "rule 'trial-signup' can never fire on hubspot" in result.stderr
    (tmp_path / "scoring.yaml").write_text(shipped.replace('country: ["@core_markets"]', 'country: "@core_markets"'))
    result = mqlsync("validate", str(tmp_path / "hubspot.yaml"))
    assert result.returncode == 2 and "a list is named inside [...]" in result.stderr
    no_traceback(result)
