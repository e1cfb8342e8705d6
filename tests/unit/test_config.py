"""Loading the scoring model and mapping files: what is accepted, the version hash, and
errors that name the file, the line and the field with a fix."""

import shutil
import textwrap

import pytest

from mqlsync.connector.config import load_mapping, load_model, model_version, validate_file
from mqlsync.connector.errors import ConfigError
from tests.conftest import HEAD, ROOT, model_from


def issues_of(tmp_path, text, name="model.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        validate_file(path)
    return [str(i) for i in exc.value.issues]


MINIMAL = HEAD + """
rules:
  - id: exec
    kind: field
    category: profile
    label: executive
    points: 10
    when: {title: {contains_any: [ceo]}}
"""


def test_shipped_files_validate():
    for name in ("scoring.yaml", "hubspot.yaml", "salesforce.yaml"):
        summary = validate_file(ROOT / "mappings" / name).summary
        assert " OK: " in summary


def test_summary_counts_rules_per_category():
    summary = validate_file(ROOT / "mappings" / "scoring.yaml").summary
    assert "profile 11, channel 6, actions 15, undesired 7" in summary


def test_unknown_field_names_its_line_and_suggests_the_fix(tmp_path):
    issues = issues_of(tmp_path, MINIMAL.replace("    points: 10", "    pionts: 10"))
    assert issues == [f"{tmp_path}/model.yaml:10: rules[0].pionts: unknown field 'pionts' (did you mean 'points'?)"]


def test_wrong_type_names_the_value(tmp_path):
    (issue,) = issues_of(tmp_path, MINIMAL.replace("points: 10", "points: lots"))
    assert issue.endswith("model.yaml:10: rules[0].points: Input should be a valid number, "
                          "unable to parse string as a number (got 'lots')")


def test_unknown_rule_kind_suggests_the_closest(tmp_path):
    (issue,) = issues_of(tmp_path, MINIMAL.replace("kind: field", "kind: feild"))
    assert ":6: rules[0]: unknown rule kind 'feild' (did you mean 'field'?)" in issue


def test_missing_rule_kind_lists_the_kinds(tmp_path):
    (issue,) = issues_of(tmp_path, MINIMAL.replace("    kind: field\n", ""))
    assert "rules[0]: missing `kind:` (one of field, completeness, activity, combination, recency)" in issue


def test_unknown_category_suggests_the_closest(tmp_path):
    (issue,) = issues_of(tmp_path, MINIMAL.replace("category: profile", "category: profil"))
    assert ":8: rules[0].category: 'profil' is not one of profile, channel, actions, undesired " \
           "(did you mean 'profile'?)" in issue


def test_bad_regex_is_reported_at_its_line(tmp_path):
    (issue,) = issues_of(tmp_path, MINIMAL.replace("{contains_any: [ceo]}", "{matches: '(ceo'}"))
    assert ":11: rules[0].when.title.matches: not a valid regular expression: missing )" in issue


def test_unknown_contact_field_suggests_the_closest(tmp_path):
    (issue,) = issues_of(tmp_path, MINIMAL.replace("when: {title:", "when: {titel:"))
    assert ":11: rules[0].when.titel: unknown contact field 'titel' (did you mean 'title'?)" in issue


def test_unknown_list_reference_suggests_the_closest(tmp_path):
    text = MINIMAL.replace("{contains_any: [ceo]}", "{domain_in: ['@freemial']}") + "lists: {freemail: [gmail.com]}\n"
    (issue,) = issues_of(tmp_path, text)
    assert "rules[0].when.title.domain_in[0]: unknown list '@freemial' (did you mean 'freemail'?)" in issue


def test_overlapping_grade_bands_are_refused(tmp_path):
    text = MINIMAL.replace("B: {min: 25, max: 40}", "B: {min: 25, max: 45}")
    (issue,) = issues_of(tmp_path, text)
    assert "grades.A: band A overlaps band B (fit from 40 to 45 would be in both)" in issue


def test_a_gap_between_grade_bands_is_refused(tmp_path):
    (issue,) = issues_of(tmp_path, MINIMAL.replace("C: {min: 10, max: 25}", "C: {min: 12, max: 25}"))
    assert "no grade for fit from 10 to 12: bands D and C leave a gap" in issue


def test_grade_floor_must_be_a_grade(tmp_path):
    (issue,) = issues_of(tmp_path, MINIMAL.replace("grade_floor: C", "grade_floor: G"))
    assert ":2: mql.grade_floor: grade 'G' is not one of the grades" in issue


def test_a_duplicate_key_is_refused_instead_of_silently_kept(tmp_path):
    (issue,) = issues_of(tmp_path, MINIMAL.replace("    label: executive\n", "    label: executive\n    label: boss\n"))
    assert ":10: rules[0].label: duplicate key (YAML would silently keep only the last)" in issue


def test_duplicate_rule_ids_are_refused(tmp_path):
    text = MINIMAL + """
  - {id: exec, kind: field, category: profile, label: again, points: 1, when: {title: {present: true}}}
"""
    (issue,) = issues_of(tmp_path, text)
    assert "rules[1].id: duplicate rule id 'exec' (first used by rules[0])" in issue


def test_undesired_rules_cannot_give_points(tmp_path):
    (issue,) = issues_of(tmp_path, MINIMAL.replace("category: profile", "category: undesired"))
    assert "rules[0].points: undesired rules take points away" in issue


def test_unquoted_no_is_explained_as_yaml_reading_a_boolean(tmp_path):
    (issue,) = issues_of(tmp_path, MINIMAL + "lists: {markets: [SE, NO]}\n")
    assert "lists.markets.items[1]: YAML read this as false" in issue
    assert "put it in quotes" in issue


def test_yaml_syntax_error_names_the_line(tmp_path):
    (issue,) = issues_of(tmp_path, MINIMAL.replace("label: executive", "label: [executive"))
    assert issue.startswith(f"{tmp_path}/model.yaml:")
    assert "not valid YAML" in issue


def test_every_problem_is_reported_at_once_in_line_order(tmp_path):
    text = MINIMAL.replace("grade_floor: C", "grade_floor: G").replace("when: {title:", "when: {titel:")
    issues = issues_of(tmp_path, text)
    assert [i.split(":")[1] for i in issues] == ["2", "11"]


def test_schema_errors_and_name_checks_are_reported_together(tmp_path):
    text = MINIMAL.replace("grade_floor: C", "grade_floor: [C]").replace("when: {title:", "when: {titel:")
    issues = issues_of(tmp_path, text)
    assert [i.split(": ")[1] for i in issues] == ["mql.grade_floor", "rules[0].when.titel"]


def test_a_file_of_neither_kind_is_named_as_such(tmp_path):
    (issue,) = issues_of(tmp_path, "hello: world\n")
    assert "neither a scoring model" in issue


def test_model_version_ignores_layout_but_not_meaning(tmp_path):
    base = model_from(tmp_path, """
        - {id: exec, kind: field, category: profile, label: executive, points: 10, when: {title: ceo}}
    """, name="a.yaml")
    reformatted = model_from(tmp_path, """
        # the same rule, written out and reordered
        - when:
            title: ceo
          points: 10.0
          label: executive
          category: profile
          kind: field
          id: exec
    """, name="b.yaml")
    changed = model_from(tmp_path, """
        - {id: exec, kind: field, category: profile, label: executive, points: 11, when: {title: ceo}}
    """, name="c.yaml")
    assert base.version == reformatted.version
    assert base.version != changed.version
    assert model_version(base.model) == base.version


def test_list_files_are_part_of_the_version(tmp_path):
    shutil.copy(ROOT / "mappings" / "scoring.yaml", tmp_path / "scoring.yaml")
    (tmp_path / "freemail_domains.txt").write_text("gmail.com\n", encoding="utf-8")
    local = load_model(tmp_path / "scoring.yaml")
    shipped = load_model(ROOT / "mappings" / "scoring.yaml")
    assert local.model.lists["freemail"].items == ["gmail.com"]
    assert len(shipped.model.lists["freemail"].items) > 50
    assert local.version != shipped.version


def test_a_missing_list_file_is_named(tmp_path):
    (issue,) = issues_of(tmp_path, MINIMAL + "lists: {blocked: {file: nowhere.txt}}\n")
    assert "lists.blocked.file: list file 'nowhere.txt' not found" in issue


# --- mapping files -------------------------------------------------------------------

def _mapping(tmp_path, text: str):
    shutil.copy(ROOT / "mappings" / "scoring.yaml", tmp_path / "scoring.yaml")
    return issues_of(tmp_path, text, name="hubspot.yaml")


MAPPING = (ROOT / "mappings" / "hubspot.yaml").read_text(encoding="utf-8")


def test_a_secret_in_a_mapping_file_is_refused_without_echoing_it(tmp_path):
    # Assembled here so no credential-shaped literal sits in the repository.
    secret = "-".join(["pat", "na1", "1" * 8, "2222", "3333", "4444", "5" * 12])
    text = MAPPING.replace("crm: hubspot\n", f"crm: hubspot\naccess_token: {secret}\n")
    (issue,) = _mapping(tmp_path, text)
    assert "hubspot.yaml:5: access_token: secrets never live in mapping files" in issue
    assert secret not in issue


def test_a_credential_shaped_value_anywhere_is_refused_without_echoing_it(tmp_path):
    secret = "00D5g000004XyZa" + "!" + "AQ8AQJ9_not_a_real_session_id_abcdef"
    text = MAPPING.replace("connection: hubspot-main", f"connection: hubspot-main\nnote: '{secret}'")
    (issue,) = _mapping(tmp_path, text)
    assert "note: this value looks like a credential" in issue
    assert secret not in issue


def test_mapping_errors_name_the_mapping_file_and_line(tmp_path):
    (issue,) = _mapping(tmp_path, MAPPING.replace("every_minutes: 15", "cron: '*/15 * *'"))
    assert issue.endswith("hubspot.yaml:8: schedule: cron needs five fields (minute hour day month weekday), "
                          "got '*/15 * *'")


def test_mapping_field_names_are_checked_against_the_canonical_fields(tmp_path):
    issues = _mapping(tmp_path, MAPPING.replace("title: jobtitle", "titel: jobtitle"))
    assert "objects.contacts.fields.titel: unknown contact field 'titel' (did you mean 'title'?)" in issues[0]
    # And the model's gate, which requires a title, says nobody could pass it.
    assert "mql.required_fields[2]: 'title' is required for an MQL" in issues[1]


def test_unknown_write_back_key_suggests_the_closest(tmp_path):
    (issue,) = _mapping(tmp_path, MAPPING.replace("    score: mqlsync_score", "    scroe: mqlsync_score"))
    assert "write_back.fields.scroe: 'scroe' is not one of score," in issue
    assert "(did you mean 'score'?)" in issue


def test_a_missing_model_file_is_named_from_the_mapping(tmp_path):
    (tmp_path / "hubspot.yaml").write_text(MAPPING.replace("model: scoring.yaml", "model: nowhere.yaml"))
    with pytest.raises(ConfigError) as exc:
        load_mapping(tmp_path / "hubspot.yaml")
    assert "hubspot.yaml:6: model: scoring model 'nowhere.yaml' not found" in str(exc.value)


def test_errors_in_the_model_a_mapping_names_are_reported_against_the_model(tmp_path):
    model = (ROOT / "mappings" / "scoring.yaml").read_text(encoding="utf-8").replace("threshold: 70", "threshold: x")
    (tmp_path / "scoring.yaml").write_text(model, encoding="utf-8")
    (tmp_path / "hubspot.yaml").write_text(MAPPING, encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_mapping(tmp_path / "hubspot.yaml")
    (issue,) = exc.value.issues
    assert issue.file.endswith("scoring.yaml") and issue.field == "mql.threshold"


def test_a_sales_verdict_may_take_its_time_from_the_crms_history_alone(tmp_path):
    # The stamped field is a fallback now: the CRM's history of the status says when.
    shutil.copy(ROOT / "mappings" / "scoring.yaml", tmp_path / "scoring.yaml")
    path = tmp_path / "hubspot.yaml"
    path.write_text(MAPPING.replace("      at_field: mqlsync_sales_status_at", ""), encoding="utf-8")
    validate_file(path)
    assert load_mapping(path).mapping.objects["contacts"].sales_status.at_field is None


def test_task_subject_placeholders_are_checked(tmp_path):
    (issue,) = _mapping(tmp_path, MAPPING.replace("({grade}, score {total})", "({grade}, score {score})"))
    assert "tasks.subject: unknown placeholder {score}" in issue


SF_MAPPING = (ROOT / "mappings" / "salesforce.yaml").read_text(encoding="utf-8")


def _sf_mapping(tmp_path, text: str):
    shutil.copy(ROOT / "mappings" / "scoring.yaml", tmp_path / "scoring.yaml")
    return issues_of(tmp_path, text, name="salesforce.yaml")


def test_a_salesforce_custom_activity_object_must_name_its_person_field(tmp_path):
    text = SF_MAPPING.replace("{source: Marketing_Activity__c, type: page_view, person: [Contact__c, Lead__c], ",
                              "{source: Marketing_Activity__c, type: page_view, ")
    (issue,) = _sf_mapping(tmp_path, text)
    line = next(i for i, row in enumerate(text.splitlines(), 1) if "type: page_view" in row)
    assert f"salesforce.yaml:{line}: activities[4].source: Marketing_Activity__c is not a standard activity " \
           "object (Task, Event, CampaignMember): give `person`" in issue


def test_a_salesforce_condition_soql_cannot_express_is_refused_at_its_line(tmp_path):
    text = SF_MAPPING.replace("where: {TaskSubtype: Call}", "where: {Subject: {contains_any: [demo]}}")
    (issue,) = _sf_mapping(tmp_path, text)
    assert "activities[12].where.Subject: Salesforce filters with equals, in, min, max and present (sent as " \
           "SOQL); not contains_any" in issue


def test_salesforce_people_are_leads_and_contacts(tmp_path):
    (issue,) = _sf_mapping(tmp_path, SF_MAPPING.replace("  Contact:\n", "  Contacts:\n"))
    assert "objects.Contacts: Salesforce people are the objects Lead and Contact (did you mean 'Contact'?)" in issue


def test_an_unknown_hubspot_activity_source_is_named_with_the_known_ones(tmp_path):
    (issue,) = _mapping(tmp_path, MAPPING.replace('source: "events:e_visited_page"', 'source: "event:e_visited_page"'))
    assert "activities[0].source: unknown HubSpot activity source 'event:e_visited_page'; known: events:<" in issue
    assert "(did you mean 'events'?)" in issue
    (issue,) = _mapping(tmp_path, MAPPING.replace('source: "objects:meetings"', 'source: "objects:notes"'))
    assert "'objects:notes': objects takes `objects:<meetings or calls>`" in issue


def test_a_value_yaml_reads_as_an_impossible_date_is_named_not_a_traceback(tmp_path):
    (issue,) = _mapping(tmp_path, MAPPING.replace("connection: hubspot-main", "connection: 2026-13-45"))
    assert "hubspot.yaml:5: connection: cannot read '2026-13-45': month must be in 1..12; quote it if it is text" \
        in issue


def test_keys_the_schema_gained_later_change_a_models_version_only_where_used():
    from mqlsync.connector.config import model_from_text

    shipped = (ROOT / "mappings" / "scoring.yaml").read_text(encoding="utf-8")
    assert load_model(ROOT / "mappings" / "scoring.yaml").version == "487e13f9e232"  # as before they existed
    used = shipped.replace('country: ["@core_markets"]', "country: {not_in: [XX]}")
    assert used != shipped and model_from_text(used, "used.yaml").version != "487e13f9e232"
