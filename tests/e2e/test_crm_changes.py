"""People deleted or merged in the CRM, for both CRMs from one test, against in-process
sandboxes: a record deleted between the pull and the write is forgotten, not failed;
merged records leave the survivor with their history and their qualification, and no
second task."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mqlsync.connector.config import load_mapping
from mqlsync.connector.state import StateStore
from mqlsync.jobs.connect import adapter_for
from mqlsync.jobs.sandbox import mapping_file, start_sandbox
from mqlsync.jobs.sync import run_sync


class World:
    """A seeded sandbox CRM, its adapter and a state store, after a first full run."""

    def __init__(self, crm: str, folder, first_run: bool = True) -> None:
        self.crm = crm
        self.loaded = load_mapping(mapping_file(crm))
        self.running = start_sandbox(crm, contacts=150, now=datetime.now(UTC), burst_limit=10**6)
        self.running.server.start()
        self.adapter = adapter_for(self.loaded, self.running.env())
        self.adapter.ensure_fields()
        self.store = StateStore(f"sqlite:///{folder / 'state.db'}")
        self.conn = self.loaded.mapping.connection
        self.first = self.run() if first_run else None

    def run(self, later_s: float = 0.0):
        return run_sync(self.loaded, self.adapter, self.store,
                        datetime.now(UTC) + timedelta(seconds=later_s))

    def stages(self) -> dict[str, str]:
        """Person id -> the stage mqlsync wrote to the CRM (people still there)."""
        field = self.loaded.mapping.write_back.fields["stage"]
        org = self.running.emulation
        if self.crm == "hubspot":
            return {cid: c["properties"].get(field) for cid, c in org.contacts.items()}
        return {i: r.get(field) for i, r in org.records["Lead"].items()
                if not r["IsDeleted"] and not r["IsConverted"]}

    def delete(self, cid: str) -> None:
        org = self.running.emulation
        if self.crm == "hubspot":
            org.contacts.pop(cid)
        else:
            org.delete("Lead", cid)

    def merge(self, survivor: str, victim: str) -> None:
        org = self.running.emulation
        if self.crm == "hubspot":
            org.merge(survivor, victim)
        else:
            org.merge("Lead", survivor, victim)

    def tasks_for(self, cid: str) -> int:
        org = self.running.emulation
        if self.crm == "hubspot":
            return sum(cid in t["contacts"] for t in org.tasks.values())
        return sum(t.get("MQL_Task_Key__c") is not None and t["WhoId"] == cid for t in org.records["Task"].values())


@pytest.fixture(params=["hubspot", "salesforce"])
def world(request, tmp_path):
    world = World(request.param, tmp_path)
    yield world
    world.running.server.stop()


def test_a_record_deleted_between_pull_and_write_is_forgotten_not_failed(world):
    victim = next(cid for cid, stage in world.stages().items() if stage == "lead")
    # The next run sees the person changed, and by the time it writes they are gone.
    world.running.emulation.touch(victim, {"jobtitle": "CEO"}) if world.crm == "hubspot" else \
        world.running.emulation.touch("Lead", victim, {"Title": "CEO"})
    apply = world.adapter.apply

    def delete_then_apply(plan):
        world.delete(victim)
        return apply(plan)

    world.adapter.apply = delete_then_apply
    summary = world.run()
    world.adapter.apply = apply
    assert summary.failed == [] and summary.deleted == 1 and summary.status == "ok"
    assert world.store.load_contacts(world.conn, [victim]) == {} and world.store.failures_of(world.conn) == {}
    again = world.run()
    assert again.failed == [] and again.writes == 0


def test_merged_records_leave_the_survivor_qualified_with_their_history_and_one_task(world):
    stages = world.stages()
    victim = next(cid for cid, stage in stages.items() if stage == "mql" and world.tasks_for(cid) == 1)
    survivor = next(cid for cid, stage in stages.items() if stage == "lead")
    history = {a.id for a in world.store.activities_of(world.conn, [victim])[victim]}
    mql_at = world.store.stages_of(world.conn, [victim])[victim][2]

    world.merge(survivor, victim)
    summary = world.run()
    assert summary.status == "ok" and summary.failed == [] and summary.merged == 1
    assert summary.tasks_created == 0  # the person qualified once, before the merge
    assert world.stages()[survivor] == "mql" and victim not in world.stages()
    assert world.store.stages_of(world.conn, [survivor])[survivor][2] == mql_at
    ledger = {a.id for a in world.store.activities_of(world.conn, [survivor])[survivor]}
    assert history <= ledger
    again = world.run()
    assert again.merged == 0 and again.writes == again.tasks_created == 0


def visit_pricing(world: World, cid: str) -> None:
    """Three pricing page views and ten blog reads, five minutes ago."""
    org = world.running.emulation
    when = datetime.now(UTC).timestamp() - 300
    for i in range(13):
        url = "https://www.mqlsync.example/pricing" if i < 3 else f"https://www.mqlsync.example/blog/{i}"
        if world.crm == "hubspot":
            org.activity.add_event("e_visited_page", cid, int((when + i) * 1000), {"hs_url": url})
        else:
            org.insert("Marketing_Activity__c", {"Lead__c": cid, "Type__c": "page_view", "URL__c": url,
                                                 "Name": "page view",
                                                 "Occurred_At__c": datetime.fromtimestamp(when + i, UTC)})


def test_a_run_stopped_after_writing_but_before_recording_creates_no_second_task(world):
    out = world.loaded.mapping.write_back.fields
    org = world.running.emulation
    rows = ({cid: c["properties"] for cid, c in org.contacts.items()} if world.crm == "hubspot" else
            {i: r for i, r in org.records["Lead"].items() if not r["IsDeleted"] and not r["IsConverted"]})
    near = [cid for cid, p in rows.items() if p.get(out["stage"]) == "lead" and p.get(out["grade"]) in ("A", "B", "C")
            and 50 <= float(p.get(out["score"]) or 0) < 70][:5]
    assert near
    for cid in near:
        visit_pricing(world, cid)

    commit = world.store.commit_writes

    def crash(*args, **kwargs):  # the process dies between the CRM's answer and the state
        raise KeyboardInterrupt("killed")

    world.store.commit_writes = crash
    with pytest.raises(KeyboardInterrupt):
        world.run()
    world.store.commit_writes = commit
    qualified = [cid for cid in near if world.tasks_for(cid) == 1]
    assert qualified  # the stopped run had created their tasks

    resumed = world.run(later_s=90)  # the next scheduled run, a while later
    assert resumed.status == "ok" and resumed.tasks_created == 0
    assert all(world.tasks_for(cid) <= 1 for cid in near)
    assert all(world.stages()[cid] == "mql" for cid in qualified)
    assert world.run(later_s=120).writes == 0


def add_person(world: World, **fields) -> str:
    """A person as someone typed or imported them into the CRM (no API validation)."""
    org = world.running.emulation
    mapped = world.loaded.mapping.objects["contacts" if world.crm == "hubspot" else "Lead"]
    props = {mapped.fields[k]: v for k, v in fields.items() if k in mapped.fields}
    props.update({k: v for k, v in fields.items() if k not in mapped.fields})
    if world.crm == "hubspot":
        return org.add_contact(props)
    props.setdefault("Company", "Northwind")
    props.setdefault("LastName", "Kovács")
    return org.insert("Lead", props)


def test_hostile_records_are_reported_one_by_one_and_the_run_goes_on(world):
    crm_name = world.crm
    fine = add_person(world, first_name="Ann\x00e", title="Head of \udc80Marketing", email="anne@northwind.example")
    huge = add_person(world, first_name="Huge", company="N" * 50_000)
    odd_picklist = add_person(world, first_name="Odd", channel="Carrier Pigeon",
                              **({"lifecyclestage": "foo"} if crm_name == "hubspot" else {}))
    if crm_name == "hubspot":
        bad = add_person(world, first_name="Bad", company_size="lots")
        bad_reason = "company_size: 'lots' in numemployees is not a number"
        # A stamp that is not a time: the verdict's time comes from the property's
        # history, so the stamp is not needed and the record is read.
        when = add_person(world, first_name="When", hs_lead_status="UNQUALIFIED",
                          mqlsync_sales_status_at="yesterday")
    else:
        bad = add_person(world, first_name="Bad", company_size=-5)
        bad_reason = "company_size"
        when = None

    summary = world.run()
    rejected = "\n".join(summary.rejected)
    assert summary.failed == [] and summary.status == "partial"
    assert f"{huge}" in rejected and "company: 50,000 characters, more than the 10,000 mqlsync reads" in rejected
    assert f"{bad}" in rejected and bad_reason in rejected
    written = world.stages()
    assert written[fine] is not None and written[odd_picklist] is not None  # read, scored and written
    if when:
        assert f"{when}" not in rejected and written[when] is not None
    stored = world.store.load_contacts(world.conn, [fine])[fine]
    assert stored.first_name == "Anne" and stored.title == "Head of ?Marketing"
    assert len(summary.rejected) == 2


@pytest.mark.parametrize("crm", ["hubspot", "salesforce"])
def test_a_first_run_stopped_after_the_field_writes_but_before_the_tasks_still_makes_each_task_once(crm, tmp_path):
    world = World(crm, tmp_path, first_run=False)
    try:
        name = "_create_tasks" if crm == "hubspot" else "_upsert_tasks"
        writer = world.adapter.writer
        send = getattr(writer, name)

        def killed(*args, **kwargs):  # the fields are written; the process dies before the tasks go out
            raise KeyboardInterrupt("killed")

        setattr(writer, name, killed)
        with pytest.raises(KeyboardInterrupt):
            world.run()
        setattr(writer, name, send)
        # The CRM now shows MQLs (HubSpot: their lifecycle stage too) that have no task, and
        # mqlsync recorded no stage for them: only its journal of task keys knows.
        shown = [cid for cid, stage in world.stages().items() if stage == "mql"]
        assert shown and all(world.tasks_for(cid) == 0 for cid in shown)

        resumed = world.run(later_s=90)
        assert resumed.status == "ok" and resumed.tasks_created == len(shown)
        assert all(world.tasks_for(cid) == 1 for cid in shown)
        again = world.run(later_s=120)
        assert again.writes == again.tasks_created == 0 and all(world.tasks_for(cid) == 1 for cid in shown)
    finally:
        world.running.server.stop()


def _near_leads(world: World, count: int) -> list[str]:
    out = world.loaded.mapping.write_back.fields
    org = world.running.emulation
    rows = ({cid: c["properties"] for cid, c in org.contacts.items()} if world.crm == "hubspot" else
            {i: r for i, r in org.records["Lead"].items() if not r["IsDeleted"] and not r["IsConverted"]})
    near = [cid for cid, p in rows.items() if p.get(out["stage"]) == "lead" and p.get(out["grade"]) in ("A", "B", "C")
            and 50 <= float(p.get(out["score"]) or 0) < 70][:count]
    assert near
    return near


def _dies_after_the_fields(world: World):
    """A run that writes the fields, then dies before it makes the tasks; then its
    state database is lost (a new folder, a reset, another machine)."""
    apply = world.adapter.apply

    def fields_only(plan):
        apply(plan.model_copy(update={"tasks": []}))
        raise KeyboardInterrupt("killed")

    world.adapter.apply = fields_only
    with pytest.raises(KeyboardInterrupt):
        world.run()
    world.adapter.apply = apply


@pytest.mark.parametrize("later_h, made", [(1, True), (30, False)], ids=["within-sla", "past-sla"])
def test_a_qualification_the_crm_shows_without_its_task_gets_one_while_it_is_due(world, tmp_path, later_h, made):
    near = _near_leads(world, 4)
    for cid in near:
        visit_pricing(world, cid)
    _dies_after_the_fields(world)
    qualified = [cid for cid in near if world.stages()[cid] == "mql"]
    assert qualified and all(world.tasks_for(cid) == 0 for cid in qualified)

    (tmp_path / "new").mkdir()
    world.store = StateStore(f"sqlite:///{tmp_path / 'new' / 'state.db'}")
    resumed = world.run(later_s=later_h * 3600)  # the model's SLA is 24 hours
    assert resumed.status == "ok" and resumed.new_mqls == 0
    assert resumed.tasks_created == (len(qualified) if made else 0)
    assert all(world.tasks_for(cid) == (1 if made else 0) for cid in qualified)
    again = world.run(later_s=later_h * 3600 + 60)
    assert again.tasks_created == 0
    assert all(world.tasks_for(cid) == (1 if made else 0) for cid in qualified)
