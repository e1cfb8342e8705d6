"""`mqlsync backtest` on files whose truth is known: a model whose rule is the one
outcomes follow ranks perfectly, another does not; the MQL flag's precision and recall
are counted; a hold-out reports on the newest people only; a rule that never fires is
named; activity after a person's outcome does not count."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

START = datetime(2026, 1, 1, tzinfo=UTC)
HEAD = """
mql: {threshold: 20, grade_floor: F, required_fields: []}
grades: {A: {min: 20}, F: {max: 20}}
rules:
"""
PLANTED = HEAD + """
  - {id: demo, kind: activity, category: actions, label: requested a demo, points: 30, per: once,
     type: demo_request}
  - {id: webinar, kind: activity, category: actions, label: webinar, points: 5, type: webinar_attendance}
"""
BLIND = HEAD + """
  - {id: webinar, kind: activity, category: actions, label: webinar, points: 25, type: webinar_attendance}
  - {id: trial, kind: activity, category: actions, label: trial, points: 10, type: trial_signup}
"""


def write(folder: Path) -> None:
    """40 people created a day apart. The even ones requested a demo and won, but for
    every 10th, whose demo came a day after it was lost; everyone went to a webinar."""
    contacts, acts, outcomes = [], [], ["id,outcome,at"]
    for i in range(40):
        created = START + timedelta(days=i)
        contacts.append({"id": f"p{i:02d}", "first_name": "A", "last_name": "B", "created_at": created.isoformat()})
        acts.append({"id": f"w{i}", "contact_id": f"p{i:02d}", "type": "webinar_attendance",
                     "at": (created + timedelta(days=1)).isoformat()})
        decided = created + timedelta(days=5)
        if i % 2 == 0:
            late = i % 10 == 0
            acts.append({"id": f"d{i}", "contact_id": f"p{i:02d}", "type": "demo_request",
                         "at": (decided + timedelta(days=1) if late else created + timedelta(days=2)).isoformat()})
            outcomes.append(f"p{i:02d},{'lost' if late else 'won'},{decided.isoformat()}")
        else:
            outcomes.append(f"p{i:02d},0,{decided.isoformat()}")
    (folder / "contacts.jsonl").write_text("\n".join(json.dumps(c) for c in contacts) + "\n", encoding="utf-8")
    (folder / "activities.jsonl").write_text("\n".join(json.dumps(a) for a in acts) + "\n", encoding="utf-8")
    (folder / "outcomes.csv").write_text("\n".join(outcomes + ["p99,won,", "p00,maybe,"]) + "\n", encoding="utf-8")
    (folder / "planted.yaml").write_text(PLANTED, encoding="utf-8")
    (folder / "blind.yaml").write_text(BLIND, encoding="utf-8")


def mqlsync(folder: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1")
    return subprocess.run([sys.executable, "-m", "mqlsync.jobs.cli", "backtest", "--contacts", "contacts.jsonl",
                           "--activities", "activities.jsonl", "--outcomes", "outcomes.csv", *args], cwd=folder,
                          env=env, capture_output=True, text=True, timeout=120)


def test_the_model_whose_rule_outcomes_follow_ranks_them_and_the_other_does_not(tmp_path):
    write(tmp_path)
    result = mqlsync(tmp_path, "--model", "planted.yaml", "--model", "blind.yaml", "--json")
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    planted, blind = found["models"]
    # 16 won: the even people but the 4 whose demo came after their outcome (not counted).
    assert (planted["people"], planted["won"]) == (40, 16)
    assert planted["auc"] == 1.0 and blind["auc"] == 0.5
    assert (planted["mqls"], planted["precision"], planted["recall"]) == (16, 1.0, 1.0)
    assert (blind["mqls"], blind["precision"], blind["recall"]) == (40, 0.4, 1.0)
    assert planted["top"]["10%"] == 1.0 and planted["top"]["30%"] == 1.0
    assert blind["never_fired"] == ["trial"] and planted["never_fired"] == []
    assert "skipped outcomes.csv:43 (p00): outcome 'maybe' is not one of 1/0, won/lost, true/false" in result.stderr
    assert found["unknown_outcomes"] == 1  # p99, no such contact
    table = mqlsync(tmp_path, "--model", "planted.yaml", "--model", "blind.yaml")
    assert "ROC AUC of the score" in table.stdout and "1.000" in table.stdout and "0.500" in table.stdout
    assert "blind.yaml: rules that never fired: trial" in table.stdout


def test_a_holdout_reports_on_the_newest_people_only(tmp_path):
    write(tmp_path)
    found = json.loads(mqlsync(tmp_path, "--model", "planted.yaml", "--holdout", "0.25", "--json").stdout)
    (planted,) = found["models"]
    # The newest quarter by created_at: p30..p39, of whom p30 (late demo), p32..p38 even won.
    assert found["held_out"] == 10 and planted["people"] == 10 and planted["won"] == 4
    assert planted["never_fired"] == []  # counted over everyone, held out or not
