"""Mistakes the schema lets through, caught by `validate` at their line: the newcomer
trial's model, which validated and then could never work (a typo'd activity type, an
attribute no source maps, a list named as plain text, an unreachable threshold or
grade, values outside the documented sets, a required field the mapping never fills)."""

from __future__ import annotations

import shutil

import pytest

from mqlsync.connector.config import load_model, validate_file
from mqlsync.connector.errors import ConfigError
from mqlsync.connector.model import odd_values
from tests.conftest import ROOT, make_contact

SHIPPED = (ROOT / "mappings" / "scoring.yaml").read_text(encoding="utf-8")


def setup_files(tmp_path, model_text: str, crm: str = "hubspot"):
    (tmp_path / "scoring.yaml").write_text(model_text, encoding="utf-8")
    shutil.copy(ROOT / "mappings" / f"{crm}.yaml", tmp_path / f"{crm}.yaml")
    return tmp_path / f"{crm}.yaml"


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def warnings_of(path) -> list[str]:
    return [str(w) for w in validate_file(path).warnings]


def errors_of(path) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        validate_file(path)
    return [str(i) for i in exc.value.issues]


def test_an_activity_type_no_source_produces_is_a_warning_at_the_rule(tmp_path):
    text = SHIPPED.replace("    type: trial_signup", "    type: trial_sign_up")
    mapping = setup_files(tmp_path, text)
    found = [w for w in warnings_of(mapping) if "trial_sign_up" in w]
    (warning,) = found
    assert warning.startswith(f"{tmp_path / 'scoring.yaml'}:{line_of(text, 'type: trial_sign_up')}: rules[")
    assert f"rule 'trial-signup' can never fire on hubspot: no activity source of {mapping} produces " \
           "'trial_sign_up'; types produced: booth_conversation, call, " in warning
    # The model alone cannot know what a CRM produces: no warning there.
    assert not [w for w in validate_file(tmp_path / "scoring.yaml").warnings if "trial_sign_up" in str(w)]


def test_a_where_attribute_no_source_maps_is_a_warning_naming_what_is_mapped(tmp_path):
    text = SHIPPED.replace("      url: {contains_any: [/pricing]}", "      page_url: {contains_any: [/pricing]}")
    (found,) = [w for w in warnings_of(setup_files(tmp_path, text)) if "page_url" in w]
    assert f"scoring.yaml:{line_of(text, 'page_url:')}: rules[" in found
    assert "rule 'pricing-page-repeat' can never fire on hubspot: no source of page_view maps the attribute " \
           "'page_url'; mapped: url" in found


def test_a_list_named_as_plain_text_is_an_error_with_the_fix(tmp_path):
    text = SHIPPED.replace('country: ["@core_markets"]', 'country: "@core_markets"')
    (found,) = errors_of(setup_files(tmp_path, text))
    line = line_of(text, 'country: "@core_markets"')
    assert f"scoring.yaml:{line}:" in found
    assert "'@core_markets' is one value here, not the list: a list is named inside [...]: " \
           "write `country: [\"@core_markets\"]`" in found


def test_a_threshold_above_what_the_rules_and_caps_allow_is_named_with_the_most_reachable(tmp_path):
    text = SHIPPED.replace("threshold: 70", "threshold: 250")
    setup_files(tmp_path, text)
    (found,) = [w for w in warnings_of(tmp_path / "scoring.yaml") if "threshold" in w]
    assert f"scoring.yaml:{line_of(text, 'threshold: 250')}: mql.threshold: no contact can reach threshold 250: " \
           "the rules and caps allow at most 200 (profile 60, channel 20, actions 120)" in found


def test_a_grade_floor_no_fit_reaches_is_named(tmp_path):
    text = SHIPPED.replace("grade_floor: C", "grade_floor: A").replace("  profile: 60", "  profile: 40")
    setup_files(tmp_path, text)
    (found,) = [w for w in warnings_of(tmp_path / "scoring.yaml") if "grade_floor" in w]
    assert "mql.grade_floor: no contact can reach grade A: it needs fit 45, and the profile rules and caps " \
           "allow at most 40" in found


def test_fit_alone_reaching_the_threshold_is_a_warning(tmp_path):
    text = SHIPPED.replace("threshold: 70", "threshold: 50")
    setup_files(tmp_path, text)
    assert any("fit alone (up to 60) reaches threshold 50: a contact can be an MQL with no engagement" in w
               for w in warnings_of(tmp_path / "scoring.yaml"))
    # The shipped model needs engagement: no such warning.
    assert not any("fit alone" in str(w) for w in validate_file(ROOT / "mappings" / "scoring.yaml").warnings)


def test_rules_that_can_never_count_are_warnings(tmp_path):
    text = SHIPPED.replace("lists:\n", "lists:\n  nobody: []\n", 1).replace(
        'country: ["@core_markets"]', 'country: ["@nobody"]')
    text = text.replace("    points: 15\n", "    points: 0\n", 1)
    setup_files(tmp_path, text)
    found = warnings_of(tmp_path / "scoring.yaml")
    assert any("list '@nobody' is empty: rule 'country-core-market' can never fire" in w for w in found), found
    assert any("gives 0 points and does not disqualify: it never changes a score" in w for w in found), found


def test_channel_and_form_type_values_outside_their_sets_are_errors_in_the_model(tmp_path):
    text = SHIPPED.replace("when: {channel: event}", "when: {channel: webinar}").replace(
        "where: {form_type: demo}", "where: {form_type: demo_request}")
    found = errors_of(setup_files(tmp_path, text))
    assert any(f":{line_of(text, 'channel: webinar')}: " in e and "'webinar' is not a channel mqlsync knows" in e
               and "channel is one of inbound_form, event, interaction, referral, outbound, other" in e
               for e in found), found
    assert any("'demo_request' is not a form_type mqlsync knows" in e for e in found), found


def test_values_outside_their_sets_in_records_are_reported_per_record():
    assert odd_values(make_contact(channel="Website", form_type="demo")) == [
        "channel 'Website' is not one of inbound_form, event, interaction, referral, outbound, other; no rule can "
        "match it (map the CRM's value under `values: {channel: ...}`)"]
    assert odd_values(make_contact(channel="EVENT", form_type="badge_scan")) == []


def test_a_required_field_the_mapping_never_fills_is_an_error_at_the_gate(tmp_path):
    text = SHIPPED.replace("required_fields: [first_name, last_name, title]",
                           "required_fields: [first_name, last_name, title, phone_mobile]")
    # An unknown field is refused by name, as before.
    assert any("unknown contact field 'phone_mobile'" in e for e in errors_of(setup_files(tmp_path, text)))
    text = SHIPPED.replace("required_fields: [first_name, last_name, title]",
                           "required_fields: [first_name, last_name, title, region]")
    found = errors_of(setup_files(tmp_path, text))
    assert any(f"scoring.yaml:{line_of(text, 'required_fields:')}: mql.required_fields[3]: 'region' is required "
               f"for an MQL, but the hubspot mapping" in e and "fills it on no object: nobody could become an MQL"
               in e for e in found), found
    # The model on its own is fine: only the mapping knows what it fills.
    assert load_model(tmp_path / "scoring.yaml").model.mql.required_fields[-1] == "region"


def test_the_shipped_files_have_no_errors_and_name_the_rules_their_crm_cannot_feed():
    for crm in ("hubspot", "salesforce"):
        found = [str(w) for w in validate_file(ROOT / "mappings" / f"{crm}.yaml").warnings]
        assert {w.split(": rule ")[1].split("'")[1] for w in found} == {"org-type-business", "bounced-address"}, found


def test_a_mapping_that_translates_to_a_channel_outside_the_set_is_an_error_at_its_line(tmp_path):
    mapping = setup_files(tmp_path, SHIPPED)
    text = mapping.read_text(encoding="utf-8").replace("OFFLINE: event", "OFFLINE: tradeshow")
    mapping.write_text(text, encoding="utf-8")
    (found,) = errors_of(mapping)
    assert found == f"{mapping}:{line_of(text, 'OFFLINE: tradeshow')}: objects.contacts.values.channel.OFFLINE: " \
                    "'tradeshow' is not a channel mqlsync knows: channel is one of inbound_form, event, " \
                    "interaction, referral, outbound, other"
