"""Compile a rule's `when`/`where` conditions into plain predicates on values."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from mqlsync.connector.config.scoring import Condition

Predicate = Callable[[Any], bool]


def present(value: Any) -> bool:
    """Known to the CRM: not None and not blank text. False and 0 are values."""
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    return True


def as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip().replace(",", ""))
        except ValueError:
            return None
    return None


def as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("true", "yes", "y", "1", "on"):
            return True
        if text in ("false", "no", "n", "0", "off"):
            return False
    return None


def _expand(items: list[Any], lists: Mapping[str, frozenset[str]]) -> list[Any]:
    out: list[Any] = []
    for item in items:
        if isinstance(item, str) and item.startswith("@"):
            out.extend(sorted(lists[item[1:]]))
        else:
            out.append(item)
    return out


def keyword_pattern(keywords: list[str]) -> re.Pattern[str]:
    """Whole-word matches, case-insensitive. A keyword edge that is a word character
    must not touch another one ("cto" does not match "director"); an edge that is
    punctuation matches anywhere, so "/pricing" matches inside a URL."""
    parts = []
    for kw in sorted({k.strip() for k in keywords if k.strip()}, key=len, reverse=True):
        body = re.escape(kw)
        if re.match(r"\w", kw):
            body = r"(?<!\w)" + body
        if re.search(r"\w$", kw):
            body = body + r"(?!\w)"
        parts.append(body)
    return re.compile("|".join(parts) or r"(?!)", re.IGNORECASE)


def compile_condition(cond: Condition, lists: Mapping[str, frozenset[str]]) -> Predicate:
    """All of the condition's operators must hold for the value."""
    tests: list[Predicate] = []
    allows_missing = False
    ops = cond.model_fields_set

    if "equals" in ops:
        expected = cond.equals
        if expected is None:
            allows_missing = True
            tests.append(lambda v: not present(v))
        elif isinstance(expected, bool):
            tests.append(lambda v: as_bool(v) is expected)
        elif isinstance(expected, float):
            tests.append(lambda v: as_number(v) == expected)
        else:
            folded = expected.casefold()
            tests.append(lambda v: str(v).strip().casefold() == folded)
    if cond.in_ is not None:
        items = _expand(cond.in_, lists)
        texts = frozenset(str(i).casefold() for i in items if isinstance(i, str))
        numbers = frozenset(float(i) for i in items if not isinstance(i, str))

        def _in(v: Any, texts=texts, numbers=numbers) -> bool:
            if numbers and (n := as_number(v)) is not None and n in numbers:
                return True
            return str(v).strip().casefold() in texts

        tests.append(_in)
    if cond.contains_any is not None:
        pattern = keyword_pattern([str(i) for i in _expand(cond.contains_any, lists)])
        tests.append(lambda v: pattern.search(str(v)) is not None)
    if cond.matches is not None:
        regex = re.compile(cond.matches, re.IGNORECASE)
        tests.append(lambda v: regex.search(str(v)) is not None)
    if cond.min is not None or cond.max is not None:
        lo = float("-inf") if cond.min is None else cond.min
        hi = float("inf") if cond.max is None else cond.max

        def _range(v: Any, lo=lo, hi=hi) -> bool:
            n = as_number(v)
            return n is not None and lo <= n < hi

        tests.append(_range)
    if cond.present is not None:
        want = cond.present
        allows_missing = allows_missing or not want
        tests.append(lambda v: present(v) is want)
    if cond.domain_in is not None:
        domains = frozenset(str(d).strip().lower().lstrip("@") for d in _expand(cond.domain_in, lists))
        tests.append(lambda v: domain_matches(str(v), domains))
    if cond.not_in is not None:
        excluded = compile_condition(Condition.model_validate({"in": cond.not_in}), lists)
        tests.append(lambda v: not excluded(v))
    if cond.not_ is not None:
        # The value is filled (checked below) and the inner condition fails for it.
        negated = compile_condition(cond.not_, lists)
        tests.append(lambda v: not negated(v))

    def check(value: Any) -> bool:
        if not allows_missing and not present(value):
            return False
        for test in tests:
            if not test(value):
                return False
        return True

    return memoized(check)


#: distinct values remembered per condition; titles, domains and URLs repeat a lot
MEMO_SIZE = 8192


def memoized(check: Predicate, size: int = MEMO_SIZE) -> Predicate:
    """Remember a condition's verdict per distinct value: the same title or URL is
    tested across many contacts. Keyed by type too, since 1 == 1.0 == True in a dict."""
    cache: dict[tuple[type, Any], bool] = {}

    def cached(value: Any) -> bool:
        key = (value.__class__, value)
        try:
            return cache[key]
        except KeyError:
            verdict = check(value)
            if len(cache) < size:
                cache[key] = verdict
            return verdict
        except TypeError:  # an unhashable value (a list in a custom attribute)
            return check(value)

    return cached


def domain_matches(value: str, domains: frozenset[str]) -> bool:
    """`mail.rival.io` and `a@rival.io` match the domain `rival.io`; `notrival.io` does not."""
    host = value.rsplit("@", 1)[-1].strip().lower().rstrip(".")
    while host:
        if host in domains:
            return True
        _, _, host = host.partition(".")
    return False
