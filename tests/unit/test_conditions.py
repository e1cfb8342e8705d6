"""The condition language rules use on contact fields and activity attributes."""

import pytest

from mqlsync.connector.config.scoring import Condition
from mqlsync.connector.scoring.conditions import compile_condition, domain_matches

LISTS = {"freemail": frozenset({"gmail.com", "freemail.hu"}), "markets": frozenset({"hu", "id"})}


def check(cond, value) -> bool:
    return compile_condition(Condition.model_validate(cond), LISTS)(value)


def test_equals_ignores_case_and_surrounding_space():
    assert check("Inbound_Form", " inbound_form ")
    assert not check("inbound_form", "event")


def test_equals_compares_non_ascii_text_by_casefolding():
    assert check("STRASSE", "straße")
    assert check("ágnes", "ÁGNES")


def test_a_list_means_any_of_its_items_and_can_name_a_model_list():
    assert check(["DE", "@markets"], "HU")
    assert check(["DE", "@markets"], "de")
    assert not check(["DE", "@markets"], "FR")


def test_numbers_in_lists_match_numeric_text():
    assert check({"in": [5, 10]}, "10")
    assert check({"in": [5, 10]}, 5)


def test_keywords_match_whole_words_only():
    cond = {"contains_any": ["cto", "vp"]}
    assert check(cond, "CTO & Co-founder")
    assert check(cond, "VP, Marketing")
    assert not check(cond, "Director")  # "cto" inside a word is not the CTO
    assert not check(cond, "Vpn engineer")


def test_keyword_starting_with_punctuation_matches_inside_a_url():
    cond = {"contains_any": ["/pricing"]}
    assert check(cond, "https://www.example.com/pricing?plan=pro")
    assert check(cond, "/pricing")
    assert not check(cond, "https://www.example.com/pricingfaq")


def test_keywords_match_non_ascii_words():
    assert check({"contains_any": ["diák"]}, "Egyetemi diák")
    assert not check({"contains_any": ["diák"]}, "diákszervező")


def test_matches_is_a_case_insensitive_search():
    assert check({"matches": "^test$"}, "TEST")
    assert not check({"matches": "^test$"}, "Tester")


def test_numeric_range_is_min_inclusive_max_exclusive():
    band = {"min": 50, "max": 1000}
    assert check(band, 50)
    assert check(band, 999)
    assert not check(band, 1000)
    assert not check(band, 49)
    assert check(band, "250")  # CRMs send numbers as text
    assert not check(band, "many")


@pytest.mark.parametrize("missing", [None, "", "   "])
def test_missing_and_blank_values_fail_every_test_but_absence(missing):
    for cond in ("x", ["x"], {"contains_any": ["x"]}, {"matches": ".*"}, {"min": 0},
                 {"present": True}, {"domain_in": ["x.com"]}):
        assert not check(cond, missing), cond
    assert check({"present": False}, missing)


def test_false_and_zero_are_values_not_absence():
    assert check({"present": True}, False)
    assert check({"present": True}, 0)
    assert check(False, False)
    assert not check(True, False)
    assert check(True, "yes")


def test_domain_matches_subdomains_but_not_lookalikes():
    domains = frozenset({"rival.io"})
    assert domain_matches("rival.io", domains)
    assert domain_matches("mail.rival.io", domains)
    assert domain_matches("someone@EU.Rival.io", domains)
    assert not domain_matches("notrival.io", domains)
    assert not domain_matches("rival.io.evil.com", domains)


def test_domain_in_reads_a_named_list():
    assert check({"domain_in": ["@freemail"]}, "someone@freemail.hu")
    assert not check({"domain_in": ["@freemail"]}, "someone@northwind.hu")


def test_several_operators_must_all_hold():
    cond = {"contains_any": ["manager"], "matches": "^marketing"}
    assert check(cond, "Marketing Manager")
    assert not check(cond, "Sales Manager")
