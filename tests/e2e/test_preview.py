"""`mqlsync preview` says, from the state and without calling the CRM, what switching
to another model would do; then the switch does exactly that: the same new MQLs, one
task each, and today's MQLs kept."""

from __future__ import annotations

import json

from tests.e2e.harness import ROOT, HubSpot, admin, cli, sandbox_process


def test_preview_names_the_mqls_and_tasks_a_switch_makes_and_the_switch_makes_them(tmp_path):
    shipped = (ROOT / "mappings" / "scoring.yaml").read_text(encoding="utf-8")
    (tmp_path / "scoring.yaml").write_text(shipped, encoding="utf-8")
    (tmp_path / "looser.yaml").write_text(shipped.replace("threshold: 70", "threshold: 60"), encoding="utf-8")
    (tmp_path / "stricter.yaml").write_text(shipped.replace("threshold: 70", "threshold: 95"), encoding="utf-8")
    mapping = tmp_path / "hubspot.yaml"
    mapping.write_text((ROOT / "mappings" / "hubspot.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    state = tmp_path / "state.db"

    with sandbox_process(HubSpot, 300) as crm:
        def mqlsync(*args: str):
            return cli(crm, state, *args, mapping=mapping)

        assert mqlsync("setup").returncode == 0
        first = json.loads(mqlsync("run", "--json").stdout)
        before = {cid for cid, p in crm.sdk_people().items() if p.get("mqlsync_stage") == "mql"}
        served = admin(crm.url, "/__sandbox/stats")["requests"]

        looser = mqlsync("preview", "--model", "looser.yaml", "--json")
        assert looser.returncode == 0, looser.stderr
        found = json.loads(looser.stdout)
        assert admin(crm.url, "/__sandbox/stats")["requests"] == served  # the preview called the CRM not once
        gained = {c["contact_id"] for c in found["gained"]}
        assert gained and found["lost"] == [] and found["people"] == 300 and gained.isdisjoint(before)
        assert all(c["score"] >= 60 for c in found["gained"])
        assert all(c["task"]["subject"].startswith("MQL: ") for c in found["gained"])
        table = mqlsync("preview", "--model", "looser.yaml")
        assert f"{len(gained):,} new MQLs ({len(gained):,} tasks would be created)" in table.stderr
        assert "Nothing was written." in table.stderr

        stricter = json.loads(mqlsync("preview", "--model", "stricter.yaml", "--json").stdout)
        assert stricter["gained"] == [] and stricter["lost"]
        assert all(c["score"] < 95 and any("below threshold 95" in u for u in c["unmet"]) for c in stricter["lost"])

        # The switch, made: the same people become MQLs, each with one task.
        mapping.write_text(mapping.read_text(encoding="utf-8").replace("model: scoring.yaml", "model: looser.yaml"),
                           encoding="utf-8")
        switched = json.loads(mqlsync("run", "--json").stdout)
        assert switched["new_mqls"] == switched["tasks_created"] == len(gained)
        now_mql = {cid for cid, p in crm.sdk_people().items() if p.get("mqlsync_stage") == "mql"}
        assert now_mql == before | gained and len(before) == first["new_mqls"]
