"""The parts of suggested points that are arithmetic: which candidates the data makes,
and where a threshold for a stated precision falls."""

from __future__ import annotations

import numpy as np

from mqlsync.connector.review.suggest import candidates, precise_threshold
from tests.conftest import make_activity, make_contact


def test_candidates_come_from_values_words_bands_types_counts_and_totals_people_share():
    people = [make_contact(f"c{i}", industry="Software" if i < 6 else "Retail", company_size=120, title="Head of IT",
                           channel="webinar" if i < 4 else "event") for i in range(10)]
    acts = {f"c{i}": [make_activity("video_watch", 1, contact_id=f"c{i}", minutes=i + 1)] for i in range(10)}
    found = {c.id: c for c in candidates(people, acts, min_support=5)}
    assert {"industry-software", "size-50-199", "title-head", "video-watch-1"} <= set(found)
    assert "industry-retail" not in found  # 4 people: fewer than the 5 a candidate needs
    assert "channel-webinar" not in found  # not a channel mqlsync knows: no rule could match it
    assert "channel-event" in found and "industry-software" in found
    totals = [c for c in found.values() if "total" in c.spec]
    assert [(c.spec["total"]["attribute"], c.spec["total"]["min"]) for c in totals] == [("minutes", 6.0)]
    assert "video-watch-3" not in found  # one each: nobody watched 3 times


def test_a_threshold_for_a_stated_precision_is_the_lowest_that_reaches_it():
    totals = np.array([50, 40, 40, 30, 20, 10])
    won = np.array([1, 1, 0, 1, 0, 0])
    assert precise_threshold(totals, won, 0.75) == 30  # 3 of the 4 at 30 or more won
    assert precise_threshold(totals, won, 0.6) == 20  # 3 of the 5 at 20 or more
    assert precise_threshold(totals, won, 1.0) == 50
    assert precise_threshold(totals, won, 0.99) == 50  # only the top reaches it
