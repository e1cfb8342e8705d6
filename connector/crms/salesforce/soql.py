"""Writing SOQL for the Salesforce adapter: literals quoted and escaped as the SOQL
reference says ("Quoted String Escape Sequences", "Date Formats and Date Literals":
dateTime values are unquoted, in UTC with Z), and the mapping's activity conditions
as WHERE clauses, with the same test applied to each row that came back."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus

from mqlsync.connector.config.scoring import Condition
from mqlsync.connector.crms.salesforce.rules import SOQL_OPERATORS
from mqlsync.connector.errors import ConfigError, ConfigIssue


def soql_time(value: datetime) -> str:
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def soql_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return f"{value:g}"
    if isinstance(value, datetime):
        return soql_time(value)
    text = str(value).replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\r", "\\r")
    return f"'{text}'"


def condition_soql(field: str, cond: Condition, where: str = "activities.where") -> str:
    """One mapping condition as a SOQL expression (all operators must hold)."""
    used = [name for name in cond.model_fields_set if name not in SOQL_OPERATORS]
    if used:
        raise ConfigError([ConfigIssue("mapping", None, f"{where}.{field}",
                                       f"Salesforce filters activity with equals, in, min, max and present; "
                                       f"{used[0].rstrip('_')} cannot be sent as SOQL")])
    parts = []
    ops = cond.model_fields_set
    if "equals" in ops:
        parts.append(f"{field} = {soql_value(cond.equals)}")
    if cond.in_ is not None:
        parts.append(f"{field} IN ({', '.join(soql_value(v) for v in cond.in_)})")
    if cond.min is not None:
        parts.append(f"{field} >= {soql_value(cond.min)}")
    if cond.max is not None:
        parts.append(f"{field} < {soql_value(cond.max)}")
    if cond.present is not None:
        parts.append(f"{field} {'!=' if cond.present else '='} null")
    return " AND ".join(parts)


def holds(cond: Condition, value: Any) -> bool:
    """The same test on a value read back (text compares without case, as SOQL does)."""
    ops = cond.model_fields_set
    missing = value in (None, "")
    if cond.present is not None and cond.present == missing:
        return False
    if "equals" in ops:
        if cond.equals is None:
            return missing
        if missing or _fold(value) != _fold(cond.equals):
            return False
    if cond.in_ is not None and (missing or _fold(value) not in {_fold(v) for v in cond.in_}):
        return False
    if cond.min is not None or cond.max is not None:
        try:
            number = float(value)
        except (TypeError, ValueError):
            return False
        if (cond.min is not None and number < cond.min) or (cond.max is not None and number >= cond.max):
            return False
    return True


def _fold(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        return text.casefold()


def field_value(record: dict[str, Any], name: str) -> Any:
    """A field of a REST record (parent fields nested: Campaign -> Name) or of a Bulk
    CSV row (a column named Campaign.Name; empty means null)."""
    if name in record:
        value = record[name]
        return None if value == "" else value
    node: Any = record
    for part in name.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


#: the longest IN list sent, URL-encoded: the whole request (URI and headers) must stay
#: under 16,384 bytes, and Salesforce recommends URIs of about 2,000 characters (help
#: article 000386264); the rest of a query and the headers fit in what is left
IN_LIST_BUDGET = 6_000


def in_lists(values: list[str], most: int = 200, budget: int = IN_LIST_BUDGET) -> Iterator[str]:
    """`values` as SOQL IN lists ("'a', 'b'"), each at most `most` values and `budget`
    characters once URL-encoded, in order."""
    listed: list[str] = []
    size = 0
    for value in values:
        item = soql_value(value)
        cost = len(quote_plus(item)) + len(quote_plus(", "))
        if listed and (len(listed) == most or size + cost > budget):
            yield ", ".join(listed)
            listed, size = [], 0
        listed.append(item)
        size += cost
    if listed:
        yield ", ".join(listed)
