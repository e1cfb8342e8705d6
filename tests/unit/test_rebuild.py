"""What a run takes from the CRM's copy of mqlsync's own fields: values read back the
way mqlsync writes them, whatever shape each CRM returns, and a state rebuilt only
where it knows nothing, or an older story, of a person."""

from __future__ import annotations

from datetime import UTC, datetime

from mqlsync.connector.adapters.mapped import recorded
from mqlsync.connector.config.mapping import ObjectMapping, WriteBack
from mqlsync.connector.model import Stage, StageRow
from mqlsync.connector.sync import Adopted, adopt_from_crm

WRITE_BACK = WriteBack(fields={"score": "s", "fit": "f", "grade": "g", "stage": "st", "mql": "m", "mql_at": "at",
                               "explanation": "x"},
                       stage_values={Stage.MQL: "marketingqualifiedlead", Stage.LEAD: "lead", Stage.SQL: "sql",
                                     Stage.RECYCLED: "lead"})
OBJ = ObjectMapping(fields={"first_name": "firstname"}, stage_field="lifecyclestage")
T = datetime(2026, 11, 30, 2, 31, 7, tzinfo=UTC)


def test_each_crms_shapes_read_back_as_mqlsync_writes_them():
    hubspot = recorded(WRITE_BACK, OBJ, {"s": "74", "f": "58", "g": "A", "st": "mql", "m": "true",
                                         "at": "2026-11-30T02:31:07.123Z", "x": "Score 74",
                                         "lifecyclestage": "marketingqualifiedlead"})
    salesforce = recorded(WRITE_BACK, OBJ, {"s": 74.0, "f": 57.6, "g": "A", "st": "mql", "m": True,
                                            "at": "2026-11-30T02:31:07.000+0000", "x": "Score 74",
                                            "lifecyclestage": "marketingqualifiedlead"})
    assert hubspot == salesforce == {"score": "74", "fit": "58", "grade": "A", "stage": "mql", "mql": "true",
                                     "mql_at": "2026-11-30T02:31:07Z", "explanation": "Score 74", "lifecycle": "mql"}


def test_empty_unreadable_and_ambiguous_values():
    shown = recorded(WRITE_BACK, OBJ, {"s": "lots", "m": False, "at": "", "lifecyclestage": "lead"})
    assert shown["score"] == "lots"  # kept as typed: differs from anything written, so written again
    assert shown["mql"] == "false" and shown["mql_at"] is None and shown["fit"] is None
    assert "lifecycle" not in shown  # "lead" stands for two stages: no single one to name


def test_a_person_the_state_knows_nothing_of_is_taken_as_the_crm_shows_them():
    shown = {"stage": "mql", "mql_at": "2026-11-30T02:31:07Z", "score": "74", "lifecycle": "mql"}
    assert adopt_from_crm({"c1": shown}, {}, {}) == {"c1": Adopted(StageRow(Stage.MQL, T, T), shown)}
    # A stage past MQL keeps its qualification time, not as the time it got there.
    later = {"stage": "sql", "mql_at": "2026-11-30T02:31:07Z"}
    assert adopt_from_crm({"c1": later}, {}, {}) == {"c1": Adopted(StageRow(Stage.SQL, None, T), later)}


def test_a_later_qualification_in_the_crm_replaces_an_older_story():
    shown = {"stage": "mql", "mql_at": "2026-11-30T02:31:07Z", "score": "74"}
    older = {"c1": StageRow(Stage.LEAD, datetime(2026, 11, 1, tzinfo=UTC), None)}
    earlier = {"c1": StageRow(Stage.MQL, datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC))}
    taken = {"c1": Adopted(StageRow(Stage.MQL, T, T), shown)}
    assert adopt_from_crm({"c1": shown}, older, {"c1": {"score": "12"}}) == taken
    assert adopt_from_crm({"c1": shown}, earlier, {"c1": {}}) == taken


def test_the_states_own_story_stands_when_it_is_as_new_as_the_crms():
    shown = {"stage": "mql", "mql_at": "2026-11-30T02:31:07Z", "score": "74"}
    same = {"c1": StageRow(Stage.MQL, T, T.replace(microsecond=450_000))}  # written with microseconds by 0.1.0
    assert adopt_from_crm({"c1": shown}, same, {"c1": {"score": "70"}}) == {}
    recycled = {"c1": StageRow(Stage.RECYCLED, T, None)}  # sales rejected it since: the CRM's stage field lags
    assert adopt_from_crm({"c1": {"stage": "mql", "mql_at": None}}, recycled, {"c1": {}}) == {}


def test_records_mqlsync_never_wrote_and_typed_stages():
    assert adopt_from_crm({"c1": {"stage": None, "score": None, "lifecycle": "lead"}}, {}, {}) == {}
    typed = {"stage": "hot lead", "score": "80"}  # someone typed in mqlsync's field
    assert adopt_from_crm({"c1": typed}, {}, {}) == {"c1": Adopted(None, typed)}
    assert adopt_from_crm({"c1": typed}, {}, {"c1": {"score": "80"}}) == {}
