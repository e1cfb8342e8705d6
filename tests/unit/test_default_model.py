"""The shipped model scores the sources' examples as they state them, and the text
sales reads says why."""

from mqlsync.connector.model import Stage
from mqlsync.connector.scoring import SalesSignals, StageState, decide, sales_text
from tests.conftest import NOW, make_activity, make_contact

FIT = dict(first_name="Ágnes", last_name="Kovács", title="Head of Marketing", email="agnes@northwind.hu",
           phone="+36 1 555 0100", company="Northwind Kft.", company_size=250, industry="Software",
           org_type="Private Company", country="HU")


def points(card, rule_id):
    return next(h.points for h in card.hits if h.rule_id == rule_id)


def test_downloading_a_guide_gives_10_and_requesting_a_demo_20(default_scorer):
    acts = [make_activity("form_submission", 0, asset_type="guide", asset_id="g1"),
            make_activity("form_submission", 0, form_type="demo")]
    card = default_scorer.score(make_contact(**FIT), acts, NOW)
    assert points(card, "guide-download") == 10
    assert points(card, "demo-request") == 20


def test_a_qualified_lead_becomes_an_mql_with_a_text_that_says_why(default_scorer):
    acts = [make_activity("form_submission", 1, form_type="demo"),
            make_activity("trial_signup", 2),
            *[make_activity("page_view", d, url="https://www.example.com/pricing") for d in (1, 3, 6)]]
    contact = make_contact(**FIT, channel="inbound_form", form_type="demo")
    card = default_scorer.score(contact, acts, NOW)
    assert card.mql and card.grade == "A"
    text = sales_text(card)
    assert text.startswith(f"Score {round(card.total)} (fit 57, grade A; engagement ")
    assert "requested a demo +" in text and "viewed the pricing page 3+ times in 30 days +15" in text
    assert text.endswith(f"MQL. Model {card.model_version}.")
    decision = decide(StageState(), card, SalesSignals.of(contact), NOW)
    assert decision.stage == Stage.MQL


def test_the_text_says_why_a_lead_is_not_an_mql(default_scorer):
    card = default_scorer.score(make_contact(**dict(FIT, email="ceo@leadrank.io", title=None)), [], NOW)
    text = sales_text(card)
    assert "Not an MQL: total" in text
    assert "missing title" in text
    assert "works for a competitor (disqualifies)" in text


def test_free_mail_students_and_procurement_subtract(default_scorer):
    card = default_scorer.score(make_contact(**dict(FIT, email="a@gmail.com", title="Purchasing student")), [], NOW)
    assert {h.rule_id: h.points for h in card.hits if h.category == "undesired"} == {
        "freemail-address": -10, "procurement-title": -15, "student": -25}
    assert card.negative == -50


def test_a_disqualifier_leads_the_text_even_among_many_rules(default_scorer):
    contact = make_contact(**dict(FIT, email="someone@mail.scorewise.com", linkedin_url="https://x",
                                  channel="inbound_form", form_type="demo"))
    acts = [make_activity("form_submission", 1, form_type="demo"), make_activity("trial_signup", 1)]
    card = default_scorer.score(contact, acts, NOW)
    assert len([h for h in card.hits if h.points]) > 6
    assert sales_text(card).split(": ", 1)[1].startswith("works for a competitor (disqualifies)")
