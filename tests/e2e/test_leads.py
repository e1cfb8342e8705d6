"""Every lead's verdict without reading JSON lines: `leads` lists the records of a
connection by stage from its state, `--held` the ones whose score passes but the gate
holds back (and why), and `explain --mapping` explains one CRM record. Neither calls
the CRM: here the sandbox is stopped before they run. What they say is checked against
what the CRM shows, read through hubspot-api-client."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from tests.e2e.harness import HubSpot, cli, run, sandbox_process


def lines(result) -> list[dict]:
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_leads_and_explain_read_the_state_and_agree_with_the_crm(tmp_path):
    state = tmp_path / "state.db"
    started = datetime.now(UTC)
    with sandbox_process(HubSpot, 300) as crm:
        assert cli(crm, state, "setup").returncode == 0
        summary = run(crm, state)
        shown = crm.sdk_people()
    # The sandbox is gone: whatever follows reads the state only.
    everyone = lines(cli(crm, state, "leads", "--json"))
    assert len(everyone) == 300 == len(shown)
    assert {r["contact_id"]: r["stage"] for r in everyone} == {cid: p["mqlsync_stage"] for cid, p in shown.items()}
    mqls = [r for r in everyone if r["stage"] == "mql"]
    assert len(mqls) == summary["new_mqls"] > 0
    assert everyone[:len(mqls)] == mqls  # marketing's hand-offs first
    assert [r["total"] for r in mqls] == sorted((r["total"] for r in mqls), reverse=True)

    held = lines(cli(crm, state, "leads", "--held", "--json"))
    assert held, "the sample has hot leads the gate holds back"
    for r in held:
        assert r["total"] >= 70 and r["stage"] in ("lead", "disqualified", "recycled") and r["held"]
        text = shown[r["contact_id"]]["mqlsync_explanation"]
        assert shown[r["contact_id"]]["mqlsync_mql"] == "false"
        assert r["stage"] == "recycled" or r["held"] in text, (r, text)  # the same reason sales can read
    assert any("missing" in r["held"] for r in held)
    # The run that scored everyone counted them, by reason, in its summary.
    assert sum(summary["held_back"].values()) == len(held)
    assert summary["held_back"] == {why: sum(r["held"] == why for r in held) for why in {r["held"] for r in held}}
    table = cli(crm, state, "leads", "--held")
    assert f"{len(held):,} held back" in table.stderr and held[0]["contact_id"] in table.stdout

    tomorrow = (started + timedelta(days=1)).date().isoformat()
    assert lines(cli(crm, state, "leads", "--since", tomorrow, "--json")) == []
    recent = lines(cli(crm, state, "leads", "--stage", "mql", "--since", started.isoformat(), "--json"))
    assert {r["contact_id"] for r in recent} == {r["contact_id"] for r in mqls}

    one = mqls[0]["contact_id"]
    explained = cli(crm, state, "explain", one)
    assert explained.returncode == 0, explained.stderr
    out = explained.stdout
    assert one in out and "MQL." in out and "MQL gate passes" in out
    assert "stage: mql since " in out and "; MQL at " in out
    assert "lead -> mql: score " in out and "met the threshold" in out
    as_json = lines(cli(crm, state, "explain", one, held[0]["contact_id"], "--json"))
    assert [e["contact_id"] for e in as_json] == [one, held[0]["contact_id"]]
    assert as_json[0]["history"][0]["to_stage"] == "mql" and as_json[0]["mql_at"]
    assert held[0]["stage"] == "recycled" or f"Not an MQL: {held[0]['held']}." in as_json[1]["text"]
    missing = cli(crm, state, "explain", "no-such-id")
    assert missing.returncode == 2 and "not found in the state of this connection" in missing.stderr
