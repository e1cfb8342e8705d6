"""The part of SOQL the sandbox Salesforce understands: the queries mqlsync's adapter
issues, parsed and run over in-memory records, with Salesforce's errors otherwise.

    SELECT field, Parent.Field, ... | COUNT()
    FROM Object
    [WHERE condition {AND|OR condition}, with NOT and parentheses]
    [ORDER BY field [ASC|DESC] [NULLS FIRST|LAST], ...]
    [LIMIT n]

Conditions compare a field with a literal (=, !=, <>, <, <=, >, >=, LIKE, IN (...),
NOT IN (...)). Literals follow the SOQL reference ("SOQL SELECT Syntax", "Comparison
Operators", "Date Formats and Date Literals"): 'quoted strings' with backslash escapes,
numbers, true/false, null, and unquoted date (2026-11-01) and dateTime
(2026-11-01T09:00:00Z, with optional .SSS and +hh:mm) values. String comparison with
= is case-insensitive, as in Salesforce. A quoted value compared with a date or
dateTime field is refused, as Salesforce refuses it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

#: the field types whose values compare as times
TIME_TYPES = ("datetime", "date")
NUMBER_TYPES = ("int", "double", "currency", "percent")


class SoqlError(Exception):
    """A query Salesforce would refuse: errorCode and message as its REST API sends them."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


_TOKEN = re.compile(r"""
    \s*(?:
      (?P<string>'(?:[^'\\]|\\.)*')
    | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:?\d{2}))
    | (?P<date>\d{4}-\d{2}-\d{2})
    | (?P<number>-?\d+(?:\.\d+)?)
    | (?P<op><=|>=|!=|<>|=|<|>)
    | (?P<punct>[(),])
    | (?P<word>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
    )""", re.VERBOSE)

KEYWORDS = {"SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "ORDER", "BY", "ASC", "DESC", "NULLS",
            "FIRST", "LAST", "LIMIT", "TRUE", "FALSE", "NULL", "COUNT"}


@dataclass
class Query:
    object: str
    fields: list[str]
    count: bool = False
    where: Any = None  # a condition tree: ("and"|"or", a, b) | ("not", a) | ("cmp", field, op, value)
    order: list[tuple[str, bool, bool]] = field(default_factory=list)  # (field, descending, nulls_last)
    limit: int | None = None


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, Any, int]] = []
        pos = 0
        text = text.rstrip()
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if not m or m.end() == pos:
                bad = text[pos:].strip().split()[0] if text[pos:].strip() else text[pos:]
                raise self._malformed(f"unexpected token: '{bad}'")
            kind = m.lastgroup or ""  # every alternative of _TOKEN is a named group
            value, at = m.group(kind), m.start(kind)
            if kind == "word" and value.upper() in KEYWORDS:
                kind, value = "kw", value.upper()
            self.tokens.append((kind, value, at))
            pos = m.end()
        self.i = 0

    def _malformed(self, message: str) -> SoqlError:
        return SoqlError("MALFORMED_QUERY", f"\n{self.text}\n^\nERROR at Row:1:Column:1\n{message}")

    def peek(self, kind: str | None = None, value: str | None = None) -> bool:
        if self.i >= len(self.tokens):
            return False
        k, v, _ = self.tokens[self.i]
        return (kind is None or k == kind) and (value is None or v == value)

    def take(self, kind: str | None = None, value: str | None = None) -> Any:
        if not self.peek(kind, value):
            found = self.tokens[self.i][1] if self.i < len(self.tokens) else "<EOF>"
            raise self._malformed(f"unexpected token: '{found}'")
        self.i += 1
        return self.tokens[self.i - 1][1]

    def parse(self) -> Query:
        self.take("kw", "SELECT")
        fields: list[str] = []
        count = False
        if self.peek("kw", "COUNT"):
            self.take()
            self.take("punct", "(")
            self.take("punct", ")")
            count = True
        else:
            fields.append(self.take("word"))
            while self.peek("punct", ","):
                self.take()
                fields.append(self.take("word"))
        self.take("kw", "FROM")
        query = Query(object=self.take("word"), fields=fields, count=count)
        if self.peek("kw", "WHERE"):
            self.take()
            query.where = self._or()
        if self.peek("kw", "ORDER"):
            self.take()
            self.take("kw", "BY")
            while True:
                name = self.take("word")
                desc = False
                if self.peek("kw", "ASC") or self.peek("kw", "DESC"):
                    desc = self.take() == "DESC"
                nulls_last = desc  # Salesforce: nulls first ascending, last descending
                if self.peek("kw", "NULLS"):
                    self.take()
                    nulls_last = self.take("kw") == "LAST"
                query.order.append((name, desc, nulls_last))
                if not self.peek("punct", ","):
                    break
                self.take()
        if self.peek("kw", "LIMIT"):
            self.take()
            query.limit = int(self.take("number"))
        if self.i != len(self.tokens):
            raise self._malformed(f"unexpected token: '{self.tokens[self.i][1]}'")
        return query

    def _or(self):
        left = self._and()
        while self.peek("kw", "OR"):
            self.take()
            left = ("or", left, self._and())
        return left

    def _and(self):
        left = self._not()
        while self.peek("kw", "AND"):
            self.take()
            left = ("and", left, self._not())
        return left

    def _not(self):
        if self.peek("kw", "NOT"):
            self.take()
            return ("not", self._not())
        if self.peek("punct", "("):
            self.take()
            inner = self._or()
            self.take("punct", ")")
            return inner
        name = self.take("word")
        if self.peek("kw", "NOT"):
            self.take()
            self.take("kw", "IN")
            return ("cmp", name, "NOT IN", self._list())
        if self.peek("kw", "IN"):
            self.take()
            return ("cmp", name, "IN", self._list())
        if self.peek("kw", "LIKE"):
            self.take()
            return ("cmp", name, "LIKE", self._literal())
        op = self.take("op")
        return ("cmp", name, "!=" if op == "<>" else op, self._literal())

    def _list(self) -> list:
        self.take("punct", "(")
        values = [self._literal()]
        while self.peek("punct", ","):
            self.take()
            values.append(self._literal())
        self.take("punct", ")")
        return values

    def _literal(self):
        if self.i >= len(self.tokens):
            raise self._malformed("unexpected token: '<EOF>'")
        kind, value, _ = self.tokens[self.i]
        self.i += 1
        if kind == "string":
            return ("string", re.sub(r"\\(.)", r"\1", value[1:-1]))
        if kind == "number":
            return ("number", float(value))
        if kind == "datetime":
            return ("datetime", parse_datetime(value))
        if kind == "date":
            return ("date", datetime.combine(date.fromisoformat(value), datetime.min.time(), UTC))
        if kind == "kw" and value in ("TRUE", "FALSE"):
            return ("boolean", value == "TRUE")
        if kind == "kw" and value == "NULL":
            return ("null", None)
        raise self._malformed(f"unexpected token: '{value}'")


def parse(text: str) -> Query:
    return _Parser(text).parse()


def parse_datetime(text: str) -> datetime:
    """Salesforce's dateTime forms: 2026-11-01T09:00:00Z, .000Z, +0000, +00:00."""
    text = text.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    elif re.search(r"[+-]\d{4}$", text):
        text = text[:-2] + ":" + text[-2:]
    return datetime.fromisoformat(text).astimezone(UTC)


#: object -> {field name in lower case: describe type}
Types = Mapping[str, Mapping[str, str]]


class Runner:
    """Runs parsed queries over records. `types[object][field.lower()]` is the describe type;
    `parent(object, field, record)` follows a relationship (e.g. Campaign.Name)."""

    def __init__(self, types: Types, relationships: Mapping[str, Mapping[str, tuple[str, str]]],
                 fetch: Callable[[str, str], dict | None]) -> None:
        self.types = types
        #: object -> relationship name -> (reference field, parent object)
        self.relationships = relationships
        self.fetch = fetch

    def check(self, query: Query) -> None:
        if query.object not in self.types:
            raise SoqlError("INVALID_TYPE", f"\n{query.object}\n^\nERROR at Row:1:Column:1\nsObject type "
                                            f"'{query.object}' is not supported. If you are attempting to use a "
                                            "custom object, be sure to append the '__c' after the entity name. "
                                            "Please reference your WSDL or the describe call for the appropriate "
                                            "names.")
        names = list(query.fields) + [o[0] for o in query.order] + list(_fields_of(query.where))
        for name in names:
            self.type_of(query.object, name)
        self._check_values(query.object, query.where)

    def type_of(self, obj: str, name: str) -> str:
        parts = name.split(".")
        if len(parts) == 2 and parts[0] in self.relationships.get(obj, {}):
            parent = self.relationships[obj][parts[0]][1]
            return self._field_type(parent, parts[1], name, obj)
        if len(parts) > 1:
            raise SoqlError("INVALID_FIELD", self._no_column(name, obj, relationship=parts[0]))
        return self._field_type(obj, name, name, obj)

    def _field_type(self, obj: str, name: str, full: str, entity: str) -> str:
        type_ = self.types[obj].get(name.lower())  # field names are case-insensitive in SOQL
        if type_ is None:
            raise SoqlError("INVALID_FIELD", self._no_column(full, entity))
        return type_

    @staticmethod
    def _no_column(name: str, entity: str, relationship: str | None = None) -> str:
        if relationship:
            return (f"\n{name}\n^\nERROR at Row:1:Column:1\nDidn't understand relationship '{relationship}' in "
                    f"field path. If you are attempting to use a custom relationship, be sure to append the '__r' "
                    "after the custom relationship name. Please reference your WSDL or the describe call for the "
                    "appropriate names.")
        return (f"\n{name}\n^\nERROR at Row:1:Column:1\nNo such column '{name}' on entity '{entity}'. If you are "
                "attempting to use a custom field, be sure to append the '__c' after the custom field name. Please "
                "reference your WSDL or the describe call for the appropriate names.")

    def _check_values(self, obj: str, node) -> None:
        if node is None:
            return
        if node[0] in ("and", "or"):
            self._check_values(obj, node[1])
            self._check_values(obj, node[2])
        elif node[0] == "not":
            self._check_values(obj, node[1])
        else:
            _, name, _, literal = node
            type_ = self.type_of(obj, name)
            for kind, _ in (literal if isinstance(literal, list) else [literal]):
                if type_ in TIME_TYPES and kind == "string":
                    label = "dateTime" if type_ == "datetime" else "date"
                    raise SoqlError("INVALID_FIELD", f"\n{name}\n^\nERROR at Row:1:Column:1\nvalue of filter "
                                                     f"criterion for field '{name}' must be of type {label} and "
                                                     "should not be enclosed in quotes")

    def value(self, obj: str, record: dict, name: str) -> Any:
        parts = name.split(".")
        if len(parts) == 2:
            ref, parent_obj = self.relationships[obj][parts[0]]
            parent = self.fetch(parent_obj, ref_id) if (ref_id := record.get(ref)) else None
            return None if parent is None else _get(parent, parts[1])
        return _get(record, name)

    def matches(self, obj: str, record: dict, node) -> bool:
        if node is None:
            return True
        kind = node[0]
        if kind == "and":
            return self.matches(obj, record, node[1]) and self.matches(obj, record, node[2])
        if kind == "or":
            return self.matches(obj, record, node[1]) or self.matches(obj, record, node[2])
        if kind == "not":
            return not self.matches(obj, record, node[1])
        _, name, op, literal = node
        type_ = self.type_of(obj, name)
        value = _comparable(self.value(obj, record, name), type_)
        if op in ("IN", "NOT IN"):
            inside = any(value == _comparable(v, type_) for _, v in literal)
            return inside if op == "IN" else not inside
        target = _comparable(literal[1], type_)
        if op == "=":
            return value == target
        if op == "!=":
            return value != target
        if op == "LIKE":
            pattern = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in str(target))
            return value is not None and re.fullmatch(pattern, str(value), re.IGNORECASE | re.DOTALL) is not None
        if value is None or target is None:
            return False
        try:
            return {"<": value < target, "<=": value <= target, ">": value > target, ">=": value >= target}[op]
        except TypeError:
            return False

    def sort(self, obj: str, records: list[dict], order: list[tuple[str, bool, bool]]) -> list[dict]:
        """ORDER BY: one stable pass per key, last key first."""
        for name, desc, nulls_last in reversed(order):
            type_ = self.type_of(obj, name)
            null_group = (0 if nulls_last else 2) if desc else (2 if nulls_last else 0)

            def key(record: dict, name=name, type_=type_, null_group=null_group):
                value = _comparable(self.value(obj, record, name), type_)
                return (null_group, 0) if value is None else (1, value)

            records.sort(key=key, reverse=desc)
        return records


def _get(record: dict, name: str) -> Any:
    if name in record:
        return record[name]
    lower = name.lower()
    for key, value in record.items():
        if key.lower() == lower:
            return value
    return None


def _comparable(value: Any, type_: str) -> Any:
    if value is None or value == "":
        return None
    if type_ in TIME_TYPES:
        if isinstance(value, datetime):
            return value
        return parse_datetime(value if "T" in str(value) else f"{value}T00:00:00Z")
    if type_ in NUMBER_TYPES:
        return float(value)
    if type_ == "boolean":
        return value if isinstance(value, bool) else str(value).lower() == "true"
    return str(value).lower() if isinstance(value, str) else value


def _fields_of(node) -> list[str]:
    if node is None:
        return []
    if node[0] in ("and", "or"):
        return _fields_of(node[1]) + _fields_of(node[2])
    if node[0] == "not":
        return _fields_of(node[1])
    return [node[1]]
