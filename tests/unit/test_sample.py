"""The sample generator: the same seed gives the same data, realistic enough to
exercise every rule category."""

from collections import Counter

from mqlsync.connector.adapters.jsonl import dump_line
from mqlsync.connector.model import Activity, Contact
from mqlsync.connector.sample import ANCHOR, generate


def test_same_seed_same_data_and_another_seed_other_data():
    a, b, c = generate(seed=3, contacts=50), generate(seed=3, contacts=50), generate(seed=4, contacts=50)
    assert a.contacts == b.contacts and a.activities == b.activities
    assert a.contacts != c.contacts


def test_sample_has_non_ascii_names_freemail_and_every_scored_activity_type():
    data = generate(seed=7, contacts=1500)
    names = [c.name for c in data.contacts]
    assert any(not n.isascii() for n in names)
    domains = Counter(c.email_domain for c in data.contacts)
    assert domains["gmail.com"] > 0
    types = {a.type for a in data.activities}
    assert {"form_submission", "page_view", "email_open", "email_click", "video_watch", "trial_signup",
            "webinar_registration", "webinar_attendance", "event_attendance", "booth_conversation",
            "follow_up_request"} <= types


def test_sample_activities_are_in_the_past_and_belong_to_their_contact():
    data = generate(seed=7, contacts=200)
    ids = {c.id for c in data.contacts}
    assert all(a.at <= ANCHOR and a.contact_id in ids for a in data.activities)


def test_sample_records_are_valid_canonical_json():
    data = generate(seed=7, contacts=100)
    for contact in data.contacts:
        assert Contact.model_validate_json(dump_line(contact)) == contact
    for activity in data.activities[:500]:
        assert Activity.model_validate_json(dump_line(activity)) == activity
