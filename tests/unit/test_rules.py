"""Each rule kind of the scoring model, with decay, windows, caps and their edges."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from mqlsync.connector.model import Activity, Evidence
from tests.conftest import HEAD, NOW, make_activity, make_contact, scorer_from


def hit(card, rule_id):
    return next((h for h in card.hits if h.rule_id == rule_id), None)


def test_field_rule_gives_points_with_the_field_as_evidence(tmp_path):
    scorer = scorer_from(tmp_path, """
        - {id: exec, kind: field, category: profile, label: executive, points: 15,
           when: {title: {contains_any: [head of, vp]}}}
    """)
    card = scorer.score(make_contact(title="Head of Growth"), [], NOW)
    h = hit(card, "exec")
    assert h.points == 15
    assert (h.evidence[0].field, h.evidence[0].value) == ("title", "Head of Growth")
    assert hit(scorer.score(make_contact(title="Engineer"), [], NOW), "exec") is None


def test_field_rule_when_any_fires_on_one_matching_group(tmp_path):
    scorer = scorer_from(tmp_path, """
        - id: fake
          kind: field
          category: undesired
          label: fake identity
          points: 0
          disqualify: true
          when_any:
            - first_name: {matches: '^test$'}
            - email: {matches: '^test@'}
    """)
    assert hit(scorer.score(make_contact(email="test@x.com"), [], NOW), "fake")
    assert hit(scorer.score(make_contact(first_name="Test"), [], NOW), "fake")
    assert hit(scorer.score(make_contact(), [], NOW), "fake") is None


def test_custom_attribute_fields_can_be_scored(tmp_path):
    scorer = scorer_from(tmp_path, """
        - {id: partner, kind: field, category: profile, label: partner account, points: 7,
           when: {attributes.tier: gold}}
    """)
    assert hit(scorer.score(make_contact(attributes={"tier": "Gold"}), [], NOW), "partner").points == 7
    assert hit(scorer.score(make_contact(), [], NOW), "partner") is None


def test_completeness_rule_needs_min_present_fields(tmp_path):
    scorer = scorer_from(tmp_path, """
        - {id: complete, kind: completeness, category: profile, label: complete, points: 8,
           fields: [email, phone, company, country], min_present: 3}
    """)
    three = make_contact(phone="+36 1 234", company="Northwind", country="")
    two = make_contact(phone=" ", company="Northwind")
    assert hit(scorer.score(three, [], NOW), "complete").points == 8
    assert hit(scorer.score(two, [], NOW), "complete") is None


def test_completeness_rule_can_pay_per_field(tmp_path):
    scorer = scorer_from(tmp_path, """
        - {id: per-field, kind: completeness, category: profile, label: fields, points: 2, per: field,
           fields: [email, phone, company], min_present: 1}
    """)
    assert hit(scorer.score(make_contact(company="Northwind"), [], NOW), "per-field").points == 4


def test_activity_rule_counts_each_matching_occurrence(tmp_path):
    scorer = scorer_from(tmp_path, """
        - {id: guide, kind: activity, category: actions, label: downloaded a guide, points: 10,
           type: form_submission, where: {asset_type: guide}}
    """)
    acts = [make_activity("form_submission", 1, asset_type="guide"),
            make_activity("form_submission", 2, asset_type="guide"),
            make_activity("form_submission", 3, asset_type="whitepaper"),
            make_activity("page_view", 1, asset_type="guide")]
    h = hit(scorer.score(make_contact(), acts, NOW), "guide")
    assert (h.points, h.occurrences) == (20, 2)
    assert [e.activity_id for e in h.evidence] == [acts[0].id, acts[1].id]  # newest first


def test_min_count_within_window_fires_once(tmp_path):
    scorer = scorer_from(tmp_path, """
        - {id: pricing, kind: activity, category: actions, label: pricing 3x in 30 days, points: 15,
           per: once, min_count: 3, within_days: 30, type: page_view, where: {url: {contains_any: [/pricing]}}}
    """)
    views = [make_activity("page_view", d, url="https://x.io/pricing") for d in (1, 5, 29)]
    assert hit(scorer.score(make_contact(), views, NOW), "pricing").points == 15
    old = views[:2] + [make_activity("page_view", 31, url="https://x.io/pricing")]
    assert hit(scorer.score(make_contact(), old, NOW), "pricing") is None


def at_day(days_before: int, hour: int, minute: int = 0) -> datetime:
    """A moment `days_before` calendar days before NOW's day, at the given UTC time."""
    return (NOW - timedelta(days=days_before)).replace(hour=hour, minute=minute)


def test_window_counts_whole_calendar_days_and_is_half_open(tmp_path):
    scorer = scorer_from(tmp_path, """
        - {id: recent, kind: activity, category: actions, label: recent visit, points: 5,
           within_days: 30, type: page_view}
    """)
    day_30 = Activity(id="d30", contact_id="c1", type="page_view", at=at_day(30, 23, 59))
    day_29 = Activity(id="d29", contact_id="c1", type="page_view", at=at_day(29, 0, 0))
    assert hit(scorer.score(make_contact(), [day_30], NOW), "recent") is None
    assert hit(scorer.score(make_contact(), [day_29], NOW), "recent").points == 5


def test_scores_do_not_move_within_a_day(tmp_path):
    scorer = scorer_from(tmp_path, """
        - {id: click, kind: activity, category: actions, label: clicked, points: 8,
           type: email_click, decay: {half_life_days: 3}}
    """)
    click = Activity(id="c", contact_id="c1", type="email_click", at=at_day(3, 12))
    morning, evening = NOW.replace(hour=0, minute=1), NOW.replace(hour=23, minute=59)
    assert hit(scorer.score(make_contact(), [click], morning), "click").points == 4
    assert hit(scorer.score(make_contact(), [click], evening), "click").points == 4
    assert hit(scorer.score(make_contact(), [click], evening + timedelta(minutes=2)), "click").points < 4


def test_an_activity_counts_from_the_moment_it_happens(tmp_path):
    scorer = scorer_from(tmp_path, """
        - {id: demo, kind: activity, category: actions, label: requested a demo, points: 20, type: demo_request}
    """)
    later_today = Activity(id="x", contact_id="c1", type="demo_request", at=NOW + timedelta(hours=1))
    assert hit(scorer.score(make_contact(), [later_today], NOW), "demo") is None
    assert hit(scorer.score(make_contact(), [later_today], NOW + timedelta(hours=1)), "demo").points == 20


def test_distinct_counts_different_values_not_repeats(tmp_path):
    scorer = scorer_from(tmp_path, """
        - {id: three-wp, kind: activity, category: actions, label: 3 different whitepapers, points: 15,
           per: once, min_count: 3, distinct: asset_id, type: form_submission, where: {asset_type: whitepaper}}
    """)
    same = [make_activity("form_submission", d, asset_type="whitepaper", asset_id="wp-1") for d in (1, 2, 3)]
    assert hit(scorer.score(make_contact(), same, NOW), "three-wp") is None
    different = [make_activity("form_submission", d, asset_type="whitepaper", asset_id=f"wp-{d}") for d in (1, 2, 3)]
    h = hit(scorer.score(make_contact(), different, NOW), "three-wp")
    assert (h.points, h.occurrences) == (15, 3)


def test_half_life_halves_points_at_the_half_life(tmp_path):
    scorer = scorer_from(tmp_path, """
        - {id: click, kind: activity, category: actions, label: clicked, points: 8,
           type: email_click, decay: {half_life_days: 30}}
    """)
    assert hit(scorer.score(make_contact(), [make_activity("email_click", 0)], NOW), "click").points == 8
    assert hit(scorer.score(make_contact(), [make_activity("email_click", 30)], NOW), "click").points == 4
    assert hit(scorer.score(make_contact(), [make_activity("email_click", 60)], NOW), "click").points == 2


def test_expiry_drops_an_activity_on_the_day_it_expires(tmp_path):
    scorer = scorer_from(tmp_path, """
        - {id: demo, kind: activity, category: actions, label: requested a demo, points: 20,
           type: form_submission, where: {form_type: demo}, decay: {expires_after_days: 90}}
    """)
    alive = Activity(id="a", contact_id="c1", type="form_submission", at=at_day(89, 0),
                     attributes={"form_type": "demo"})
    expired = Activity(id="e", contact_id="c1", type="form_submission", at=at_day(90, 23, 59),
                       attributes={"form_type": "demo"})
    assert hit(scorer.score(make_contact(), [alive], NOW), "demo").points == 20
    assert hit(scorer.score(make_contact(), [expired], NOW), "demo") is None


def test_once_rule_decays_from_its_most_recent_activity(tmp_path):
    scorer = scorer_from(tmp_path, """
        - {id: trial, kind: activity, category: actions, label: trial, points: 20, per: once,
           type: trial_signup, decay: {half_life_days: 10}}
    """)
    acts = [make_activity("trial_signup", 30), make_activity("trial_signup", 10)]
    assert hit(scorer.score(make_contact(), acts, NOW), "trial").points == 10


def test_rule_cap_bounds_points_and_keeps_the_uncapped_sum(tmp_path):
    scorer = scorer_from(tmp_path, """
        - {id: views, kind: activity, category: actions, label: viewed pages, points: 1, cap: 3, type: page_view}
    """)
    h = hit(scorer.score(make_contact(), [make_activity("page_view", d) for d in range(1, 8)], NOW), "views")
    assert (h.points, h.uncapped, h.occurrences) == (3, 7, 7)


def test_category_cap_bounds_the_category_and_says_how_much_it_removed(tmp_path):
    scorer = scorer_from(tmp_path, """
        - {id: a, kind: activity, category: actions, label: a, points: 30, type: trial_signup}
        - {id: b, kind: activity, category: actions, label: b, points: 30, type: follow_up_request}
        - {id: free, kind: field, category: undesired, label: free, points: -30, when: {email: {present: true}}}
        - {id: student, kind: field, category: undesired, label: student, points: -30, when: {title: {present: true}}}
    """, head="""
        mql: {threshold: 50, grade_floor: F}
        grades: {A: {min: 10}, F: {max: 10}}
        caps: {actions: 40, undesired: 45}
    """)
    card = scorer.score(make_contact(), [make_activity("trial_signup"), make_activity("follow_up_request")], NOW)
    assert card.engagement == 40
    assert card.negative == -45
    assert card.category_capped == {"actions": 20, "undesired": -15}
    assert card.total == -5


def test_combination_needs_every_part_for_the_same_event(tmp_path):
    scorer = scorer_from(tmp_path, """
        - id: webinar
          kind: combination
          category: actions
          label: registered and attended
          points: 15
          same: event_id
          all_of:
            - type: webinar_registration
            - type: webinar_attendance
              where: {minutes: {min: 20}}
    """)
    registered = make_activity("webinar_registration", 5, event_id="w1")
    attended_other = make_activity("webinar_attendance", 4, event_id="w2", minutes=50)
    attended_short = make_activity("webinar_attendance", 4, event_id="w1", minutes=5)
    attended = make_activity("webinar_attendance", 4, event_id="W1 ", minutes=45)
    assert hit(scorer.score(make_contact(), [registered, attended_other], NOW), "webinar") is None
    assert hit(scorer.score(make_contact(), [registered, attended_short], NOW), "webinar") is None
    h = hit(scorer.score(make_contact(), [registered, attended, attended_other], NOW), "webinar")
    assert (h.points, h.occurrences) == (15, 1)
    assert {e.activity_id for e in h.evidence} == {registered.id, attended.id}


def test_duplicate_activity_ids_count_once(tmp_path):
    scorer = scorer_from(tmp_path, """
        - {id: click, kind: activity, category: actions, label: clicked, points: 2, type: email_click}
    """)
    click = make_activity("email_click", 1)
    assert hit(scorer.score(make_contact(), [click, click, click], NOW), "click").points == 2


def test_future_activities_and_other_contacts_activities_are_ignored(tmp_path):
    scorer = scorer_from(tmp_path, """
        - {id: click, kind: activity, category: actions, label: clicked, points: 2, type: email_click}
    """)
    future = make_activity("email_click", -1)
    someone_else = make_activity("email_click", 1, contact_id="c2")
    assert hit(scorer.score(make_contact(), [future, someone_else], NOW), "click") is None


def test_naive_timestamps_are_utc_and_time_zones_are_honoured(tmp_path):
    scorer = scorer_from(tmp_path, """
        - {id: recent, kind: activity, category: actions, label: recent, points: 5, within_days: 2, type: page_view}
    """)
    # 23 hours before NOW in UTC (yesterday), written three ways.
    naive = Activity(id="n", contact_id="c1", type="page_view", at=datetime(2026, 10, 31, 10, 0))
    jakarta = Activity(id="j", contact_id="c1", type="page_view",
                       at=datetime(2026, 10, 31, 17, 0, tzinfo=timezone(timedelta(hours=7))))
    tehran = Activity(id="t", contact_id="c1", type="page_view", at="2026-10-31T13:30:00+03:30")
    for act in (naive, jakarta, tehran):
        assert act.at == datetime(2026, 10, 31, 10, 0, tzinfo=UTC)
        assert hit(scorer.score(make_contact(), [act], NOW), "recent").points == 5
    # A naive `now` is UTC too: the same card.
    naive_now = NOW.replace(tzinfo=None)
    assert scorer.score(make_contact(), [naive], naive_now).total == scorer.score(make_contact(), [naive], NOW).total


def test_activity_without_the_distinct_attribute_is_not_counted(tmp_path):
    scorer = scorer_from(tmp_path, """
        - {id: assets, kind: activity, category: actions, label: assets, points: 1, distinct: asset_id,
           type: form_submission}
    """)
    acts = [make_activity("form_submission", 1), make_activity("form_submission", 2, asset_id="")]
    assert hit(scorer.score(make_contact(), acts, NOW), "assets") is None


@pytest.mark.parametrize("fit,grade", [(45, "A"), (44.99, "B"), (25, "B"), (10, "C"), (0, "D"), (-5, "F")])
def test_grade_bands_are_min_inclusive(tmp_path, fit, grade):
    scorer = scorer_from(tmp_path, f"""
        - {{id: fit, kind: field, category: profile, label: fit, points: {fit}, when: {{title: {{present: true}}}}}}
    """, head="""
        mql: {threshold: 50, grade_floor: C}
        grades: {A: {min: 45}, B: {min: 25, max: 45}, C: {min: 10, max: 25}, D: {min: 0, max: 10}, F: {max: 0}}
    """)
    assert scorer.score(make_contact(), [], NOW).grade == grade


GATE = """
    - {id: exec, kind: field, category: profile, label: executive, points: 30, when: {title: {contains_any: [head]}}}
    - {id: demo, kind: activity, category: actions, label: requested a demo, points: 30, type: demo_request}
    - {id: competitor, kind: field, category: undesired, label: competitor, points: 0, disqualify: true,
       when: {email_domain: {domain_in: [rival.io]}}}
"""


def test_mql_gate_opens_at_the_threshold_with_grade_and_profile(tmp_path):
    card = scorer_from(tmp_path, GATE).score(make_contact(), [make_activity("demo_request")], NOW)
    assert card.total == 60 and card.grade == "B"
    assert card.mql and card.unmet == ()


def test_mql_requires_name_and_title(tmp_path):
    scorer = scorer_from(tmp_path, GATE)
    demo = [make_activity("demo_request")]
    no_title = scorer.score(make_contact(title=None, attributes={}), demo, NOW)
    assert not no_title.mql
    no_name = scorer.score(make_contact(first_name="", last_name=None), demo, NOW)
    assert not no_name.mql
    assert "missing first name, last name" in no_name.unmet


def test_mql_gate_lists_every_unmet_condition(tmp_path):
    card = scorer_from(tmp_path, GATE).score(make_contact(title="Engineer", email="x@rival.io"), [], NOW)
    assert not card.mql
    assert card.unmet == ("total 0 below threshold 50", "grade D below C", "disqualified by competitor")
    assert card.disqualified_by == ("competitor",)


def test_disqualifier_closes_the_gate_whatever_the_score(tmp_path):
    card = scorer_from(tmp_path, GATE).score(make_contact(email="ceo@eu.rival.io"), [make_activity("demo_request")],
                                             NOW)
    assert card.total == 60
    assert not card.mql


def test_last_engaged_at_is_the_newest_activity_that_earned_action_points(tmp_path):
    scorer = scorer_from(tmp_path, GATE)
    acts = [make_activity("demo_request", 10), make_activity("demo_request", 3), make_activity("page_view", 1)]
    assert scorer.score(make_contact(), acts, NOW).last_engaged_at == NOW - timedelta(days=3)


def test_every_card_carries_the_model_version(tmp_path):
    scorer = scorer_from(tmp_path, GATE)
    card = scorer.score(make_contact(), [], NOW)
    assert card.model_version == scorer.version and len(card.model_version) == 12


def test_equal_values_of_different_types_are_not_confused(tmp_path):
    # Rule results are remembered per value: True, 1 and 1.0 must stay apart.
    scorer = scorer_from(tmp_path, """
        - {id: flag, kind: field, category: profile, label: flagged, points: 5, when: {attributes.x: {in: [1]}}}
    """)
    assert hit(scorer.score(make_contact(attributes={"x": 1}), [], NOW), "flag").points == 5
    assert hit(scorer.score(make_contact(attributes={"x": True}), [], NOW), "flag") is None
    assert hit(scorer.score(make_contact(attributes={"x": 1}), [], NOW), "flag").evidence[0].value == 1


# --- rule shapes the shipped model does not use (each found by a mutant that lived) ------

LISTED = HEAD + """
lists:
  webinars: {items: [w1, w2]}
  demo_forms: {items: [demo, trial]}
"""


def test_a_rule_with_several_types_counts_each_type_and_a_contact_may_lack_some(tmp_path):
    scorer = scorer_from(tmp_path, """
        - {id: content, kind: activity, category: actions, label: watched or read, points: 3,
           type: [page_view, video_watch]}
    """)
    video = make_activity("video_watch", 2)
    assert hit(scorer.score(make_contact(), [video], NOW), "content").points == 3
    both = hit(scorer.score(make_contact(), [video, make_activity("page_view", 1)], NOW), "content")
    assert (both.points, both.occurrences, both.per_occurrence) == (6, 2, True)


def test_a_window_counts_activities_in_it_whatever_their_order(tmp_path):
    scorer = scorer_from(tmp_path, """
        - {id: recent, kind: activity, category: actions, label: visited lately, points: 4,
           within_days: 30, type: page_view}
    """)
    old, new = make_activity("page_view", 40), make_activity("page_view", 2)
    assert hit(scorer.score(make_contact(), [old, new], NOW), "recent").occurrences == 1
    assert hit(scorer.score(make_contact(), [new, old], NOW), "recent").occurrences == 1


def test_a_window_shorter_than_the_expiry_wins(tmp_path):
    scorer = scorer_from(tmp_path, """
        - {id: demo, kind: activity, category: actions, label: asked for a demo, points: 20, within_days: 7,
           type: demo_request, decay: {expires_after_days: 90}}
    """)
    assert hit(scorer.score(make_contact(), [make_activity("demo_request", 30)], NOW), "demo") is None
    assert hit(scorer.score(make_contact(), [make_activity("demo_request", 6)], NOW), "demo").points == 20


def test_distinct_skips_activities_without_the_attribute_wherever_they_are(tmp_path):
    scorer = scorer_from(tmp_path, """
        - {id: papers, kind: activity, category: actions, label: read 3 papers, points: 9,
           per: once, min_count: 3, distinct: asset_id, type: form_submission}
    """)
    acts = [make_activity("form_submission", 1)] + [make_activity("form_submission", d, asset_id=f"wp{d}")
                                                      for d in (2, 3, 4)]
    assert hit(scorer.score(make_contact(), acts, NOW), "papers").occurrences == 3


def test_model_lists_work_in_where_in_combinations_and_in_when_any(tmp_path):
    scorer = scorer_from(tmp_path, """
        - {id: demo, kind: activity, category: actions, label: demo form, points: 10, type: form_submission,
           where: {form_type: {in: ["@demo_forms"]}}}
        - id: webinar
          kind: combination
          category: actions
          label: our webinar, registered and attended
          points: 15
          same: event_id
          all_of:
            - {type: webinar_registration, where: {event_id: {contains_any: ["@webinars"]}}}
            - {type: webinar_attendance}
        - id: exec
          kind: field
          category: profile
          label: webinar speaker
          points: 5
          when_any:
            - title: {contains_any: ["@webinars"]}
            - company: ["@demo_forms"]
    """, head=LISTED)
    acts = [make_activity("form_submission", 1, form_type="Trial"),
            make_activity("webinar_registration", 3, event_id="w2"),
            make_activity("webinar_attendance", 2, event_id="w2")]
    card = scorer.score(make_contact(title="Host of w1"), acts, NOW)
    assert {h.rule_id for h in card.hits} == {"demo", "webinar", "exec"}
    assert hit(scorer.score(make_contact(title="Host"), [], NOW), "exec") is None


def test_when_any_gives_the_evidence_of_the_group_that_matched(tmp_path):
    scorer = scorer_from(tmp_path, """
        - id: senior
          kind: field
          category: profile
          label: senior
          points: 5
          when_any:
            - title: {contains_any: [director]}
            - company_size: {min: 1000}
    """)
    h = hit(scorer.score(make_contact(title="Engineer", company_size=5000), [], NOW), "senior")
    assert [(e.field, e.value) for e in h.evidence] == [("company_size", 5000)]
    assert (h.occurrences, h.per_occurrence) == (1, False)


def test_the_sales_text_says_how_many_times_a_per_occurrence_rule_counted(tmp_path):
    from mqlsync.connector.scoring.explain import sales_text

    scorer = scorer_from(tmp_path, """
        - {id: view, kind: activity, category: actions, label: viewed a page, points: 2, type: page_view}
        - {id: once, kind: activity, category: actions, label: opened a mail, points: 1, per: once, type: email_open}
    """)
    acts = [make_activity("page_view", d) for d in (1, 2, 3)] + [make_activity("email_open", d) for d in (1, 2)]
    text = sales_text(scorer.score(make_contact(), acts, NOW))
    assert "viewed a page +6 (\u00d73)" in text and "opened a mail +1," not in text and "opened a mail +1" in text
    assert "opened a mail +1 (" not in text


def test_a_completeness_hit_lists_the_fields_filled_as_its_evidence(tmp_path):
    scorer = scorer_from(tmp_path, """
        - {id: complete, kind: completeness, category: profile, label: complete, points: 2, per: field,
           fields: [email, phone, company, country], min_present: 2}
    """)
    h = hit(scorer.score(make_contact(phone="+36 1 234", company="", country="HU"), [], NOW), "complete")
    assert [e.field for e in h.evidence] == ["email", "phone", "country"]
    assert (h.occurrences, h.points) == (3, 6)


def test_a_field_tested_only_for_being_filled_is_evidence_as_filled_not_its_value(tmp_path):
    scorer = scorer_from(tmp_path, """
        - {id: social, kind: field, category: profile, label: LinkedIn known, points: 3,
           when: {linkedin_url: {present: true}, country: HU}}
    """)
    h = hit(scorer.score(make_contact(linkedin_url="https://linkedin.com/in/agnes", country="HU"), [], NOW), "social")
    assert h.evidence == (Evidence(field="linkedin_url", filled=True), Evidence(field="country", value="HU"))


def test_a_custom_attribute_whose_name_has_a_dot_is_read_whole(tmp_path):
    scorer = scorer_from(tmp_path, """
        - {id: tier, kind: field, category: profile, label: gold plan, points: 7, when: {attributes.plan.tier: gold}}
    """)
    assert hit(scorer.score(make_contact(attributes={"plan.tier": "gold"}), [], NOW), "tier").points == 7


def test_points_are_kept_to_two_decimals_before_and_after_the_cap(tmp_path):
    scorer = scorer_from(tmp_path, """
        - {id: click, kind: activity, category: actions, label: clicked, points: 10, cap: 3,
           type: email_click, decay: {half_life_days: 7}}
    """)
    h = hit(scorer.score(make_contact(), [make_activity("email_click", 1)], NOW), "click")
    assert (h.points, h.uncapped) == (3, 9.06)  # 10 * 0.5 ** (1/7) = 9.0572...
    one = scorer_from(tmp_path, """
        - {id: click, kind: activity, category: actions, label: clicked, points: 1,
           type: email_click, decay: {half_life_days: 7}}
    """)
    assert hit(one.score(make_contact(), [make_activity("email_click", 1)], NOW), "click").points == 0.91


def test_a_combination_counted_once_decays_from_its_newest_part(tmp_path):
    scorer = scorer_from(tmp_path, """
        - id: webinar
          kind: combination
          category: actions
          label: registered and attended
          points: 16
          per: once
          decay: {half_life_days: 2}
          same: event_id
          all_of:
            - type: webinar_registration
            - type: webinar_attendance
    """)
    acts = [make_activity("webinar_registration", 6, event_id="w1"), make_activity("webinar_attendance", 4,
                                                                                   event_id="w1")]
    assert hit(scorer.score(make_contact(), acts, NOW), "webinar").points == 4  # 16 * 0.5 ** (4 / 2)


def test_a_total_over_the_matching_activities_fires_once_in_its_range(tmp_path):
    scorer = scorer_from(tmp_path, """
        - {id: time-on-site, kind: activity, category: actions, label: 10+ minutes on the site in all, points: 12,
           type: page_view, within_days: 30, total: {attribute: seconds, min: 600}}
        - {id: long-view, kind: activity, category: actions, label: one long view, points: 4,
           type: page_view, total: {attribute: seconds, of: max, min: 300}}
        - {id: skimmer, kind: activity, category: undesired, label: skims, points: -3,
           type: page_view, total: {attribute: seconds, of: average, max: 20}}
    """)
    views = [make_activity("page_view", 1, id="v1", seconds=400), make_activity("page_view", 3, id="v2", seconds="320"),
             make_activity("page_view", 40, id="v3", seconds=900), make_activity("page_view", 2, id="v4")]
    card = scorer.score(make_contact(), views, NOW)
    total = hit(card, "time-on-site")
    assert total.points == 12 and total.occurrences == 3  # v3 is outside the 30 days; v4 has no seconds
    assert total.evidence[0] == Evidence(field="sum of seconds", value=720)
    assert [e.activity_id for e in total.evidence[1:]] == ["v1", "v4", "v2"]
    assert hit(card, "long-view").evidence[0] == Evidence(field="max of seconds", value=900)
    assert hit(card, "skimmer") is None
    short = [make_activity("page_view", 1, id="s1", seconds=5), make_activity("page_view", 1, id="s2", seconds=15)]
    skimmed = scorer.score(make_contact(), short, NOW)
    assert hit(skimmed, "skimmer").evidence[0] == Evidence(field="average of seconds", value=10)
    assert hit(skimmed, "time-on-site") is None


def test_recency_scores_the_days_since_the_last_activity_and_never_counts_when_asked(tmp_path):
    scorer = scorer_from(tmp_path, """
        - {id: gone-quiet, kind: recency, category: undesired, label: chatted then nothing for 30 days, points: -8,
           type: [chat, page_view], days: {min: 30}}
        - {id: never-chatted, kind: recency, category: undesired, label: no chat in 60 days, points: -2,
           type: chat, days: {min: 60}, never: true}
    """)
    quiet = scorer.score(make_contact(), [make_activity("chat", 45, id="c1"), make_activity("page_view", 31)], NOW)
    assert hit(quiet, "gone-quiet").evidence[0] == Evidence(field="days since the last", value=31)
    assert hit(quiet, "never-chatted") is None  # chatted 45 days ago: not 60
    busy = scorer.score(make_contact(), [make_activity("chat", 45), make_activity("page_view", 3)], NOW)
    assert hit(busy, "gone-quiet") is None
    nobody = scorer.score(make_contact(), [], NOW)
    assert hit(nobody, "gone-quiet") is None
    assert hit(nobody, "never-chatted").evidence == (Evidence(field="days since the last", value="never"),)
    assert hit(nobody, "never-chatted").occurrences == 1


def test_an_activity_rule_can_test_the_contacts_fields_too(tmp_path):
    scorer = scorer_from(tmp_path, """
        - {id: exec-demo, kind: activity, category: actions, label: an executive asked for a demo, points: 25,
           type: demo_request, when: {title: {contains_any: [head of, vp]}}}
    """)
    demo = [make_activity("demo_request", 1)]
    assert hit(scorer.score(make_contact(title="Head of Marketing"), demo, NOW), "exec-demo").points == 25
    assert hit(scorer.score(make_contact(title="Analyst"), demo, NOW), "exec-demo") is None
    assert hit(scorer.score(make_contact(title="Head of Marketing"), [], NOW), "exec-demo") is None


def test_a_recency_rule_can_ask_what_the_last_thing_done_was(tmp_path):
    scorer = scorer_from(tmp_path, """
        - {id: ended-in-chat, kind: recency, category: undesired, label: the last thing was a chat, points: -5,
           type: chat, latest: true, days: {min: 14}}
        - {id: views, kind: activity, category: actions, label: viewed pages, points: 1, type: page_view}
    """)
    ended = scorer.score(make_contact(), [make_activity("page_view", 40), make_activity("chat", 20, id="c9")], NOW)
    assert [e.activity_id for e in hit(ended, "ended-in-chat").evidence if e.activity_id] == ["c9"]
    went_on = scorer.score(make_contact(), [make_activity("chat", 20), make_activity("page_view", 15)], NOW)
    assert hit(went_on, "ended-in-chat") is None
    recent = scorer.score(make_contact(), [make_activity("page_view", 40), make_activity("chat", 3)], NOW)
    assert hit(recent, "ended-in-chat") is None  # the chat was the last thing, but 3 days ago


def test_totals_and_recency_keep_their_edges_times_and_tie_breaks(tmp_path):
    scorer = scorer_from(tmp_path, """
        - {id: ten-minutes, kind: activity, category: actions, label: 10 minutes in all, points: 12,
           type: page_view, total: {attribute: seconds, min: 600, max: 1200}, decay: {half_life_days: 7}}
        - {id: thirds, kind: activity, category: actions, label: average third, points: 1,
           type: video_watch, total: {attribute: percent, of: average, min: 1}}
        - {id: weekly, kind: recency, category: undesired, label: quiet for a listed number of days, points: -1,
           type: chat, days: {in: ["@quiet"]}}
        - {id: last-chat, kind: recency, category: undesired, label: ended in a chat, points: -2, type: chat,
           latest: true}
    """, head=HEAD + "lists: {quiet: ['7', '14']}\n")
    at_min = scorer.score(make_contact(), [make_activity("page_view", 14, id="p1", seconds=600)], NOW)
    assert hit(at_min, "ten-minutes").points == 3  # fires at min (inclusive), a quarter after two half-lives
    assert hit(scorer.score(make_contact(), [make_activity("page_view", 0, seconds=1200)], NOW), "ten-minutes") \
        is None  # max is exclusive
    view = hit(at_min, "ten-minutes").evidence[1]
    assert (view.activity_id, view.at) == ("p1", NOW - timedelta(days=14))
    thirds = [make_activity("video_watch", 1, percent=v) for v in (1, 1, 2)]
    assert hit(scorer.score(make_contact(), thirds, NOW), "thirds").evidence[0].value == 1.33  # to two decimals
    # Two chats the same day: the later id is the last, by the same order as every window.
    same_day = [make_activity("chat", 7, id="c2"), make_activity("chat", 7, id="c1")]
    quiet = hit(scorer.score(make_contact(), same_day, NOW), "weekly")
    assert quiet.occurrences == 1 and quiet.evidence == (
        Evidence(field="days since the last", value=7), Evidence(activity_id="c1", at=NOW - timedelta(days=7)))
    assert hit(scorer.score(make_contact(), [make_activity("chat", 8)], NOW), "weekly") is None
    assert hit(scorer.score(make_contact(), same_day, NOW), "last-chat").occurrences == 1
    assert hit(scorer.score(make_contact(), [], NOW), "last-chat") is None  # nothing at all: not a chat


def test_an_activity_rules_contact_conditions_and_a_negated_condition_read_the_models_lists(tmp_path):
    scorer = scorer_from(tmp_path, """
        - {id: exec-demo, kind: activity, category: actions, label: an executive asked for a demo, points: 25,
           type: demo_request, when: {title: {in: ["@execs"]}}}
        - {id: not-student, kind: field, category: profile, label: not a student, points: 2,
           when: {title: {not: {in: ["@students"]}}}}
        - {id: sized, kind: field, category: profile, label: size known and 50+, points: 3,
           when: {company_size: {present: true, min: 50}}}
    """, head=HEAD + "lists: {execs: [ceo, cto], students: [student]}\n")
    demo = [make_activity("demo_request", 1)]
    card = scorer.score(make_contact(title="CEO", company_size=80), demo, NOW)
    assert hit(card, "exec-demo").points == 25 and hit(card, "not-student") is not None
    assert hit(card, "sized").evidence == (Evidence(field="company_size", value=80),)  # a value, not "filled"
    assert hit(scorer.score(make_contact(title="Student"), demo, NOW), "not-student") is None


def test_a_completeness_hits_evidence_says_filled(tmp_path):
    scorer = scorer_from(tmp_path, """
        - {id: complete, kind: completeness, category: profile, label: complete, points: 2, fields: [email, phone]}
    """)
    h = hit(scorer.score(make_contact(phone="+36 1"), [], NOW), "complete")
    assert h.evidence == (Evidence(field="email", filled=True), Evidence(field="phone", filled=True))
