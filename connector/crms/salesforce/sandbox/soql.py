"""The part of SOQL the sandbox Salesforce understands: the queries mqlsync's adapter
issues, parsed and run over in-memory records, with Salesforce's errors otherwise.

    SELECT field, Parent.Field, Who.Name, ... | COUNT()
         | [field, ...] COUNT(field) | SUM|AVG|MIN|MAX|COUNT_DISTINCT(field) [alias], ...
    FROM Object
    [WHERE condition {AND|OR condition}, with NOT and parentheses]
    [GROUP BY field, ... [HAVING condition on aggregates]]
    [ORDER BY field [ASC|DESC] [NULLS FIRST|LAST], ...]
    [LIMIT n]

Conditions compare a field with a literal (=, !=, <>, <, <=, >, >=, LIKE, IN (...),
NOT IN (...)). Literals follow the SOQL reference ("SOQL SELECT Syntax", "Comparison
Operators", "Date Formats and Date Literals"): 'quoted strings' with backslash escapes,
numbers, true/false, null, unquoted date (2026-11-01) and dateTime
(2026-11-01T09:00:00Z, with optional .SSS and +hh:mm) values, and the date literals
TODAY, YESTERDAY, TOMORROW, LAST_N_DAYS:n and NEXT_N_DAYS:n (ranges of whole days, in
UTC here: "= TODAY" is within today, "> TODAY" after it, "< TODAY" before it). String
comparison with = is case-insensitive, as in Salesforce. A quoted value compared with a
date or dateTime field is refused, as Salesforce refuses it. Aggregate queries answer
AggregateResult rows, each aggregate named by its alias or expr0, expr1, ... in order
("Aggregate Functions", "GROUP BY", "HAVING"); a selected field neither grouped nor
aggregated is refused. Who and What, the polymorphic relationships of Task and Event,
give the Name, Type, Id (and a few more) of whatever record they point to.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
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
    | (?P<dateliteral>(?i:TODAY|YESTERDAY|TOMORROW|(?:LAST|NEXT)_N_DAYS:\d+)\b)
    | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:?\d{2}))
    | (?P<date>\d{4}-\d{2}-\d{2})
    | (?P<number>-?\d+(?:\.\d+)?)
    | (?P<op><=|>=|!=|<>|=|<|>)
    | (?P<punct>[(),])
    | (?P<word>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
    )""", re.VERBOSE)

KEYWORDS = {"SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "ORDER", "BY", "ASC", "DESC", "NULLS",
            "FIRST", "LAST", "LIMIT", "TRUE", "FALSE", "NULL", "COUNT", "GROUP", "HAVING"}
#: aggregate functions ("Aggregate Functions", SOQL and SOSL Reference)
AGGREGATES = ("COUNT", "COUNT_DISTINCT", "SUM", "AVG", "MIN", "MAX")


@dataclass
class Query:
    object: str
    fields: list[str]
    count: bool = False
    where: Any = None  # a condition tree: ("and"|"or", a, b) | ("not", a) | ("cmp", field, op, value)
    order: list[tuple[str, bool, bool]] = field(default_factory=list)  # (field, descending, nulls_last)
    limit: int | None = None
    #: aggregate functions in the SELECT list: (function, field or None, the name it answers under)
    aggregates: list[tuple[str, str | None, str]] = field(default_factory=list)
    group_by: list[str] = field(default_factory=list)
    having: Any = None  # a condition tree whose fields are aggregates, e.g. "COUNT(Id)"


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
        aggregates: list[tuple[str, str | None, str]] = []
        count = False
        if self.peek("kw", "COUNT") and self._ahead(1, "punct", "(") and self._ahead(2, "punct", ")"):
            self.i += 3
            count = True
        else:
            unnamed = 0
            while True:
                if self._at_aggregate():
                    func, arg = self._aggregate()
                    if self.peek("word"):
                        alias = self.take("word")
                    else:
                        alias, unnamed = f"expr{unnamed}", unnamed + 1
                    aggregates.append((func, arg, alias))
                else:
                    fields.append(self.take("word"))
                if not self.peek("punct", ","):
                    break
                self.take()
        self.take("kw", "FROM")
        query = Query(object=self.take("word"), fields=fields, count=count, aggregates=aggregates)
        if self.peek("kw", "WHERE"):
            self.take()
            query.where = self._or()
        if self.peek("kw", "GROUP"):
            self.take()
            self.take("kw", "BY")
            query.group_by.append(self.take("word"))
            while self.peek("punct", ","):
                self.take()
                query.group_by.append(self.take("word"))
            if self.peek("kw", "HAVING"):
                self.take()
                query.having = self._or()
        if (query.aggregates or query.group_by) and (missing := [f for f in fields if f not in query.group_by]):
            raise self._malformed(f"Field must be grouped or aggregated: {missing[0]}")
        if self.peek("kw", "ORDER"):
            self.take()
            self.take("kw", "BY")
            while True:
                if self._at_aggregate():  # ORDER BY COUNT(Id) DESC
                    func, arg = self._aggregate()
                    name = f"{func}({arg or ''})"
                else:
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

    def _ahead(self, n: int, kind: str, value: str | None = None) -> bool:
        if self.i + n >= len(self.tokens):
            return False
        k, v, _ = self.tokens[self.i + n]
        return k == kind and (value is None or v == value)

    def _at_aggregate(self) -> bool:
        if self.i >= len(self.tokens):
            return False
        _, value, _ = self.tokens[self.i]
        return str(value).upper() in AGGREGATES and self._ahead(1, "punct", "(")

    def _aggregate(self) -> tuple[str, str | None]:
        func = str(self.take()).upper()
        self.take("punct", "(")
        arg = None if self.peek("punct", ")") else self.take("word")
        self.take("punct", ")")
        return func, arg

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
        if self._at_aggregate():  # HAVING COUNT(Id) > 1
            func, arg = self._aggregate()
            name = f"{func}({arg or ''})"
        else:
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
        if kind == "dateliteral":
            return ("range", date_range(value))
        raise self._malformed(f"unexpected token: '{value}'")


def date_range(literal: str, today: date | None = None) -> tuple[datetime, datetime]:
    """A date literal as [start, end) in UTC ("Date Formats and Date Literals": LAST_N_DAYS:n
    "starts 00:00:00 of the current day and continues for the past n days")."""
    today = today or datetime.now(UTC).date()
    word, _, n = literal.upper().partition(":")
    first, last = {"TODAY": (0, 0), "YESTERDAY": (-1, -1), "TOMORROW": (1, 1),
                   "LAST_N_DAYS": (-int(n or 0), 0), "NEXT_N_DAYS": (0, int(n or 0))}[word]
    start = datetime.combine(today + timedelta(days=first), datetime.min.time(), UTC)
    return start, datetime.combine(today + timedelta(days=last + 1), datetime.min.time(), UTC)


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
                 fetch: Callable[[str, str], dict | None],
                 object_of: Callable[[str | None], str | None] = lambda record_id: None) -> None:
        self.types = types
        #: object -> relationship name -> (reference field, parent object)
        self.relationships = relationships
        self.fetch = fetch
        self.object_of = object_of

    def check(self, query: Query) -> None:
        if query.object not in self.types:
            raise SoqlError("INVALID_TYPE", f"\n{query.object}\n^\nERROR at Row:1:Column:1\nsObject type "
                                            f"'{query.object}' is not supported. If you are attempting to use a "
                                            "custom object, be sure to append the '__c' after the entity name. "
                                            "Please reference your WSDL or the describe call for the appropriate "
                                            "names.")
        names = list(query.fields) + [o[0] for o in query.order if "(" not in o[0]] + list(_fields_of(query.where)) \
            + query.group_by + [arg for _, arg, _ in query.aggregates if arg] \
            + [inner for name in _fields_of(query.having) if (inner := _aggregated(name)[1])]
        for name in names:
            self.type_of(query.object, name)
        self._check_values(query.object, query.where)

    def type_of(self, obj: str, name: str) -> str:
        parts = name.split(".")
        if len(parts) == 2 and parts[0] in POLYMORPHIC.get(obj, {}):
            type_ = NAME_FIELDS.get(parts[1].lower())
            if type_ is None:
                raise SoqlError("INVALID_FIELD", self._no_column(parts[1], "Name"))
            return type_
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
            if type_ == "anyType":
                raise SoqlError("INVALID_FIELD", f"\n{name}\n^\nERROR at Row:1:Column:1\nfield '{name}' can not be "
                                                 "filtered in a query call")
            for kind, _ in (literal if isinstance(literal, list) else [literal]):
                if type_ in TIME_TYPES and kind == "string":
                    label = "dateTime" if type_ == "datetime" else "date"
                    raise SoqlError("INVALID_FIELD", f"\n{name}\n^\nERROR at Row:1:Column:1\nvalue of filter "
                                                     f"criterion for field '{name}' must be of type {label} and "
                                                     "should not be enclosed in quotes")

    def value(self, obj: str, record: dict, name: str) -> Any:
        parts = name.split(".")
        if len(parts) == 2 and parts[0] in POLYMORPHIC.get(obj, {}):
            return self.named(record.get(POLYMORPHIC[obj][parts[0]])).get(parts[1].lower())
        if len(parts) == 2:
            ref, parent_obj = self.relationships[obj][parts[0]]
            parent = self.fetch(parent_obj, ref_id) if (ref_id := record.get(ref)) else None
            return None if parent is None else _get(parent, parts[1])
        return _get(record, name)

    def named(self, record_id: str | None) -> dict[str, Any]:
        """What a polymorphic relationship (Who, What) shows of the record it points to."""
        target = self.object_of(record_id)
        record = self.fetch(target, str(record_id)) if target and record_id else None
        if record is None:
            return {}
        name = record.get("Name") or " ".join(str(p) for p in (record.get("FirstName"), record.get("LastName")) if p)
        return {"id": record["Id"], "name": name, "type": target, "firstname": record.get("FirstName"),
                "lastname": record.get("LastName"), "email": record.get("Email"), "title": record.get("Title")}

    def aggregate(self, query: Query, records: list[dict]) -> list[dict[str, Any]]:
        """AggregateResult rows: one per group (one for the whole set without GROUP BY),
        the grouped fields under their own names, each aggregate under its alias."""
        groups: dict[tuple, list[dict]] = {}
        for record in records:
            key = tuple(self.value(query.object, record, f) for f in query.group_by)
            groups.setdefault(key, []).append(record)
        if not query.group_by:
            groups = {(): records}
        rows = []
        for key, members in groups.items():
            values = {f"{func}({arg or ''})": self._aggregate(query.object, func, arg, members)
                      for func, arg, _ in query.aggregates}
            if query.having is not None and not self._having(query.object, values, members, query.having):
                continue
            row: dict[str, Any] = {"attributes": {"type": "AggregateResult"}}
            for name, value in zip(query.group_by, key, strict=True):
                row[name.split(".")[-1]] = value
            for func, arg, alias in query.aggregates:
                row[alias] = values[f"{func}({arg or ''})"]
            rows.append(row)
        aliases = {f"{func}({arg or ''})": alias for func, arg, alias in query.aggregates}
        for name, desc, _ in reversed(query.order):
            label = aliases.get(name, name.split(".")[-1])

            def by_label(row: dict[str, Any], label: str = label) -> tuple[bool, Any]:
                return row.get(label) is None, row.get(label) or 0

            rows.sort(key=by_label, reverse=desc)
        return rows[:query.limit] if query.limit is not None else rows

    def _aggregate(self, obj: str, func: str, arg: str | None, records: list[dict]) -> Any:
        values = [self.value(obj, r, arg) for r in records] if arg else [1] * len(records)
        present = [v for v in values if v not in (None, "")]
        if func == "COUNT":
            return len(present)
        if func == "COUNT_DISTINCT":
            return len({str(v) for v in present})
        if not present:
            return None
        if func in ("SUM", "AVG"):
            total = sum(float(v) for v in present)
            return total if func == "SUM" else total / len(present)
        return (min if func == "MIN" else max)(present)

    def _having(self, obj: str, values: dict[str, Any], members: list[dict], node) -> bool:
        if node[0] in ("and", "or"):
            left = self._having(obj, values, members, node[1])
            right = self._having(obj, values, members, node[2])
            return (left and right) if node[0] == "and" else (left or right)
        if node[0] == "not":
            return not self._having(obj, values, members, node[1])
        _, name, op, literal = node
        func, arg = _aggregated(name)
        value = values.get(name, self._aggregate(obj, func, arg, members))
        return _compare(value, op, literal, "double")

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
        return _compare(self.value(obj, record, name), op, literal, type_)

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


#: Task's and Event's polymorphic relationships: name -> reference field
POLYMORPHIC = {"Task": {"Who": "WhoId", "What": "WhatId"}, "Event": {"Who": "WhoId", "What": "WhatId"}}
#: the fields of the Name object a polymorphic relationship reads (lower case -> type)
NAME_FIELDS = {"id": "id", "name": "string", "type": "string", "firstname": "string", "lastname": "string",
               "email": "email", "title": "string"}


def _aggregated(name: str) -> tuple[str, str | None]:
    """"COUNT(Id)" -> ("COUNT", "Id"); "COUNT()" -> ("COUNT", None)."""
    func, _, rest = name.partition("(")
    return func, rest.rstrip(")") or None


def _compare(raw: Any, op: str, literal: Any, type_: str) -> bool:
    value = _comparable(raw, type_)
    if op in ("IN", "NOT IN"):
        inside = any(value == _comparable(v, type_) for _, v in literal)
        return inside if op == "IN" else not inside
    if literal[0] == "range":
        start, end = literal[1]
        if value is None:
            return op == "!="
        if isinstance(value, datetime):
            inside = start <= value < end
            return {"=": inside, "!=": not inside, "<": value < start, "<=": value < end, ">": value >= end,
                    ">=": value >= start}.get(op, False)
        return False
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
