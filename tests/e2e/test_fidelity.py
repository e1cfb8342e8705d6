"""Real-API behaviour the sandbox now has, seen as a user sees it: the sandbox as its own
process, the CLI run as the README says, the result read back through the official SDK."""

from __future__ import annotations

import time

from tests.e2e.harness import HubSpot, admin, cli, run, start, stop


def test_a_bots_click_changes_no_score_and_a_persons_click_does(tmp_path):
    crm, proc = start(HubSpot, 40)
    try:
        state = tmp_path / "state.db"
        assert cli(crm, state, "setup").returncode == 0
        run(crm, state)
        out = crm.mapping.write_back.fields
        people = crm.sdk_people()
        records = crm.records()
        cid = min((cid for cid, p in records.items() if p.get("email")),
                  key=lambda c: int(float(people[c][out["engagement"]] or 0)))
        before = people[cid][out["engagement"]]

        def click(filtered: bool) -> None:
            admin(crm.url, "/__sandbox/email-events", {
                "type": "CLICK", "recipient": records[cid]["email"], "created": int(time.time() * 1000),
                "emailCampaignId": 4242, "url": "https://www.mqlsync.example/pricing", "filteredEvent": filtered})

        click(filtered=True)  # a security scanner following every link
        run(crm, state)
        assert crm.sdk_people()[cid][out["engagement"]] == before
        click(filtered=False)
        run(crm, state)
        assert int(float(crm.sdk_people()[cid][out["engagement"]])) > int(float(before or 0))
    finally:
        stop(proc)
