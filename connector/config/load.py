"""Load the scoring model and mapping files from YAML, check what pydantic cannot
(names, lists, bands, secrets), and report every problem as file:line: field: message."""

from __future__ import annotations

import hashlib
import json
import re
import types
import typing
from collections.abc import Mapping as MappingT
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from mqlsync.connector.config.history import HistoryMapping
from mqlsync.connector.config.lint import VOCABULARY, lint_mapping, lint_model
from mqlsync.connector.config.mapping import Mapping
from mqlsync.connector.config.scoring import (
    CATEGORIES,
    GRADE_LETTERS,
    RULE_KINDS,
    ActivityRule,
    Band,
    CombinationRule,
    CompletenessRule,
    Condition,
    FieldRule,
    ListSpec,
    LoadedModel,
    Rule,
    ScoringModel,
)
from mqlsync.connector.errors import ConfigError, ConfigIssue
from mqlsync.connector.model import CONTACT_FIELDS
from mqlsync.connector.registry import UnknownCRM, crm_kind
from mqlsync.connector.yamlsource import Located, Path_, load_yaml, parse_yaml, suggest

#: where the shipped lists (free-mail domains) live
DATA_DIR = Path(__file__).resolve().parent.parent / "data"
#: the repository's mappings folder, for the defaults when run from elsewhere
MAPPINGS_DIR = Path(__file__).resolve().parent.parent.parent / "mappings"


@dataclass(frozen=True)
class LoadedMapping:
    mapping: Mapping
    model: LoadedModel
    source: str
    #: the model's parts this mapping never feeds, and the model's own warnings
    warnings: tuple[ConfigIssue, ...] = ()


@dataclass(frozen=True)
class Validated:
    """A file that loads: its summary line, and what it warns of."""

    summary: str
    warnings: tuple[ConfigIssue, ...] = ()


def default_model_path() -> Path:
    here = Path("mappings/scoring.yaml")
    return here if here.exists() else MAPPINGS_DIR / "scoring.yaml"


def load_model(path: Path | str) -> LoadedModel:
    """Load and check a scoring model; raise ConfigError listing every problem."""
    located = load_yaml(path)
    return _model_from(located, Path(path).parent)


def model_from_text(text: str, name: str = "<model>", base: Path | None = None) -> LoadedModel:
    """Load a scoring model from YAML text (list files are looked up next to `base`)."""
    return _model_from(parse_yaml(text, name), base or MAPPINGS_DIR)


def load_mapping(path: Path | str) -> LoadedMapping:
    """Load and check a mapping file and the scoring model it names."""
    located = load_yaml(path)
    return _mapping_from(located, Path(path).parent)


def load_history(path: Path | str) -> HistoryMapping:
    """Load and check a history mapping (CSV exports for a review); ConfigError names
    the file, the line and the field of every problem."""
    located = load_yaml(path)
    _require_mapping_at_top(located)
    return _validate(HistoryMapping, located)


def validate_file(path: Path | str) -> Validated:
    """Check one file of either kind; return a one-line summary and the warnings, raise
    ConfigError."""
    located = load_yaml(path)
    data = located.data
    if isinstance(data, dict) and "crm" in data:
        loaded = _mapping_from(located, Path(path).parent)
        m = loaded.mapping
        objects = ", ".join(name for name, o in m.objects.items() if o.enabled)
        return Validated(f"{located.file}: {m.crm} mapping '{m.connection}' OK: objects {objects}; "
                         f"{len(m.activities)} activity sources; model {loaded.model.source} "
                         f"(version {loaded.model.version})", loaded.warnings)
    if isinstance(data, dict) and "rules" in data:
        loaded_model = _model_from(located, Path(path).parent)
        model = loaded_model.model
        per_cat = {c: 0 for c in CATEGORIES}
        for rule in model.rules:
            per_cat[rule.category] += 1
        cats = ", ".join(f"{c} {n}" for c, n in per_cat.items())
        return Validated(f"{located.file}: scoring model '{model.name}' OK: {len(model.rules)} rules ({cats}); "
                         f"MQL at {model.mql.threshold:g} with grade {model.mql.grade_floor} or better; "
                         f"version {loaded_model.version}", loaded_model.warnings)
    raise ConfigError([ConfigIssue(located.file, 1, "",
                                   "neither a scoring model (it has no `rules:`) nor a mapping "
                                   "(it has no `crm:`)")])


# --- scoring model -----------------------------------------------------------------


def _model_from(located: Located, base: Path) -> LoadedModel:
    _require_mapping_at_top(located)
    issues = _secret_issues(located)
    if issues:
        raise ConfigError(issues)
    try:
        model = ScoringModel.model_validate(located.data)
    except ValidationError as exc:
        # Report the checks the schema cannot make too, on the parts that are sound,
        # so one `validate` lists every problem.
        issues = issues_from(exc, ScoringModel, located) + _check_sound_parts(located)
        raise ConfigError(_unique_sorted(issues)) from None
    model, issues = _resolve_lists(model, located, base)
    issues += _check_model(model, located)
    if issues:
        raise ConfigError(_unique_sorted(issues))
    lint = lint_model(model, located)
    if lint.errors:
        raise ConfigError(_unique_sorted(lint.errors))
    return LoadedModel(model=model, version=model_version(model), source=located.file,
                       warnings=tuple(_unique_sorted(lint.warnings)))


def _unique_sorted(issues: list[ConfigIssue]) -> list[ConfigIssue]:
    return sorted(dict.fromkeys(issues), key=lambda i: i.line or 0)


#: keys the schema gained after models were first hashed: left out of the hash while
#: unused, so a model that does not use them keeps its version (and nothing is written
#: again on an upgrade). Conditions gained not_in and not; activity rules total and when.
LATER_KEYS = frozenset({"not_in", "not"})
LATER_ACTIVITY_KEYS = frozenset({"total", "when"})


def _without_unused_later_keys(node: Any) -> Any:
    if isinstance(node, dict):
        later = LATER_KEYS | (LATER_ACTIVITY_KEYS if node.get("kind") == "activity" else frozenset())
        return {k: _without_unused_later_keys(v) for k, v in node.items()
                if not (k in later and v in (None, {}))}
    if isinstance(node, list):
        return [_without_unused_later_keys(v) for v in node]
    return node


def model_version(model: ScoringModel) -> str:
    """A stable hash of what the model means: YAML layout, comments and key order do
    not change it; any rule, point, list item or threshold does."""
    meaning = _without_unused_later_keys(model.model_dump(mode="json", by_alias=True))
    canonical = json.dumps(meaning, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def _resolve_lists(model: ScoringModel, located: Located, base: Path) -> tuple[ScoringModel, list[ConfigIssue]]:
    issues: list[ConfigIssue] = []
    lists: dict[str, ListSpec] = {}
    for name, spec in model.lists.items():
        items = [i.strip().lower() for i in spec.items if i.strip()]
        file = spec.file
        if file:
            candidates = [base / file, DATA_DIR / file]
            found = next((p for p in candidates if p.is_file()), None)
            if found is None:
                issues.append(located.issue(("lists", name, "file"),
                                            f"list file {file!r} not found next to the model or in mqlsync's data"))
            else:
                for line in found.read_text(encoding="utf-8").splitlines():
                    line = line.split("#", 1)[0].strip().lower()
                    if line:
                        items.append(line)
                file = Path(file).name
        lists[name] = ListSpec(items=sorted(set(items)), file=file)
    return model.model_copy(update={"lists": lists}), issues


def _check_model(model: ScoringModel, located: Located) -> list[ConfigIssue]:
    return _check_sections(located, model.grades, model.mql.grade_floor, model.mql.required_fields,
                           list(enumerate(model.rules)), set(model.lists), model.lifecycle.sql_criteria)


def _check_sound_parts(located: Located) -> list[ConfigIssue]:
    """The semantic checks on each section that validates on its own."""
    data = located.data

    def part(tp: Any, value: Any) -> Any:
        try:
            return TypeAdapter(tp).validate_python(value)
        except ValidationError:
            return None

    mql = data.get("mql") if isinstance(data.get("mql"), dict) else {}
    grades = part(dict[str, Band], data.get("grades")) or {}
    floor = mql.get("grade_floor", "C") if grades else None
    required = part(list[str], mql.get("required_fields", [])) or []
    raw_lists = data.get("lists")
    lists = set(raw_lists) if isinstance(raw_lists, dict) else set()
    raw_rules = data.get("rules") if isinstance(data.get("rules"), list) else []
    rules = [(i, r) for i, r in ((i, part(Rule, raw)) for i, raw in enumerate(raw_rules)) if r is not None]
    return _check_sections(located, grades, floor if isinstance(floor, str) else None, required, rules, lists, [])


def _check_sections(located: Located, grades: dict[str, Band], floor: str | None, required: list[str],
                    rules: list[tuple[int, Any]], lists: set[str], sql_criteria: list[str]) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    add = lambda path, msg: issues.append(located.issue(path, msg))  # noqa: E731

    # Grades: letters A-F, bands that neither overlap nor leave a gap.
    for letter in grades:
        if letter not in GRADE_LETTERS:
            add(("grades", letter), f"grades are letters A to F, not {letter!r}")
    bands = sorted(grades.items(), key=lambda kv: float("-inf") if kv[1].min is None else kv[1].min)
    for (g1, b1), (g2, b2) in zip(bands, bands[1:], strict=False):
        hi = float("inf") if b1.max is None else b1.max
        lo = float("-inf") if b2.min is None else b2.min
        if lo < hi:
            add(("grades", g2), f"band {g2} overlaps band {g1} (fit from {lo:g} to {hi:g} would be in both)")
        elif lo > hi:
            add(("grades", g2), f"no grade for fit from {hi:g} to {lo:g}: bands {g1} and {g2} leave a gap")
    if bands and bands[0][1].min is not None:
        add(("grades", bands[0][0]), f"no grade for fit below {bands[0][1].min:g}: leave the lowest band without min")
    if bands and bands[-1][1].max is not None:
        add(("grades", bands[-1][0]),
            f"no grade for fit from {bands[-1][1].max:g} up: leave the highest band without max")
    if floor is not None and grades and floor not in grades:
        add(("mql", "grade_floor"), f"grade {floor!r} is not one of the grades "
                                    f"({', '.join(grades)}){suggest(floor, list(grades))}")
    for i, name in enumerate(required):
        _check_field_name(name, ("mql", "required_fields", i), add)

    seen: dict[str, int] = {}
    for i, rule in rules:
        path: Path_ = ("rules", i)
        if rule.id in seen:
            add(path + ("id",), f"duplicate rule id {rule.id!r} (first used by rules[{seen[rule.id]}])")
        seen.setdefault(rule.id, i)
        if rule.category == "undesired" and rule.points > 0:
            add(path + ("points",), "undesired rules take points away: use 0 or a negative number")
        if rule.category != "undesired" and rule.disqualify:
            add(path + ("disqualify",), "only undesired rules can disqualify")
        if isinstance(rule, FieldRule):
            groups = [(path + ("when",), rule.when)] + [
                (path + ("when_any", j), w) for j, w in enumerate(rule.when_any)]
            for gpath, when in groups:
                for name, cond in when.items():
                    _check_field_name(name, gpath + (name,), add)
                    _check_lists(cond, gpath + (name,), lists, add)
        elif isinstance(rule, CompletenessRule):
            for j, name in enumerate(rule.fields):
                _check_field_name(name, path + ("fields", j), add)
        elif isinstance(rule, ActivityRule):
            for name, cond in rule.where.items():
                _check_lists(cond, path + ("where", name), lists, add)
            for name, cond in rule.when.items():
                _check_field_name(name, path + ("when", name), add)
                _check_lists(cond, path + ("when", name), lists, add)
        elif isinstance(rule, CombinationRule):
            for j, flt in enumerate(rule.all_of):
                for name, cond in flt.where.items():
                    _check_lists(cond, path + ("all_of", j, "where", name), lists, add)
    for crit_i, crit in enumerate(sql_criteria):
        if not re.fullmatch(r"[a-z][a-z0-9_]*", crit):
            add(("lifecycle", "sql_criteria", crit_i), f"criterion names are lower_snake_case words, not {crit!r}")
    return issues


def _check_field_name(name: str, path: Path_, add) -> None:
    if name.startswith("attributes.") and len(name) > len("attributes."):
        return
    if name not in CONTACT_FIELDS:
        add(path, f"unknown contact field {name!r}{suggest(name, CONTACT_FIELDS)}; "
                  "custom fields are written attributes.<name>")


def _check_lists(cond: Condition, path: Path_, lists: set[str], add) -> None:
    if cond.not_ is not None:
        _check_lists(cond.not_, path + ("not",), lists, add)
    for op, alias in (("in_", "in"), ("contains_any", "contains_any"), ("domain_in", "domain_in"),
                      ("not_in", "not_in")):
        for j, item in enumerate(getattr(cond, op) or []):
            if isinstance(item, str) and item.startswith("@") and item[1:] not in lists:
                add(path + (alias, j), f"unknown list {item!r}{suggest(item[1:], lists)}; "
                                       f"lists: {', '.join(sorted(lists)) or 'none defined'}")


# --- mapping -------------------------------------------------------------------------


def _mapping_from(located: Located, base: Path) -> LoadedMapping:
    _require_mapping_at_top(located)
    issues = _secret_issues(located)
    if issues:
        raise ConfigError(issues)
    mapping = _validate(Mapping, located)
    issues = _check_mapping(mapping, located)
    model_path = base / mapping.model
    try:
        model_at = load_yaml(model_path)
        model = _model_from(model_at, model_path.parent)
    except ConfigError as exc:
        if not model_path.is_file():
            issues.append(located.issue(("model",), f"scoring model {mapping.model!r} not found "
                                                     f"(looked at {model_path})"))
        else:
            issues += exc.issues
        raise ConfigError(issues) from None
    lint = lint_mapping(mapping, model.model, located.file, model_at)
    issues += lint.errors
    if issues:
        raise ConfigError(issues)
    return LoadedMapping(mapping=mapping, model=model, source=located.file,
                         warnings=tuple(_unique_sorted(list(model.warnings) + lint.warnings)))


def _check_mapping(mapping: Mapping, located: Located) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    add = lambda path, msg: issues.append(located.issue(path, msg))  # noqa: E731
    for obj_name, obj in mapping.objects.items():
        base: Path_ = ("objects", obj_name)
        for name in obj.fields:
            if name not in ("created_at", "updated_at"):
                _check_field_name(name, base + ("fields", name), add)
        for name, table in obj.values.items():
            if name not in obj.fields:
                add(base + ("values", name), f"values given for {name!r}, which is not in fields")
            for crm_value, value in table.items():
                allowed = VOCABULARY.get(name)
                if allowed and value.lower() not in allowed:
                    add(base + ("values", name, crm_value),
                        f"{value!r} is not a {name} mqlsync knows: {name} is one of {', '.join(allowed)}")
    if not any(o.enabled for o in mapping.objects.values()):
        add(("objects",), "every object is disabled: nothing would be synced")
    try:
        crm_kind(mapping.crm).check_mapping(mapping, add)
    except UnknownCRM as exc:
        add(("crm",), str(exc))
    return issues


_SECRET_KEY = re.compile(r"(token|password|passwd|secret|api_?key|private_?key|session_?id|credential)",
                         re.IGNORECASE)
_SECRET_VALUE = re.compile(r"(pat-(na|eu|ap)\d-[0-9a-f-]{20,}|00D[0-9A-Za-z]{12,}![0-9A-Za-z._]{20,}"
                           r"|-----BEGIN [A-Z ]*PRIVATE KEY)")


def _secret_issues(located: Located) -> list[ConfigIssue]:
    """Secrets belong in the environment. Name where one seems to be, never its value."""
    issues: list[ConfigIssue] = []

    def walk(node: Any, path: Path_) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if _SECRET_KEY.search(key) and isinstance(value, (str, int)) and not isinstance(value, bool):
                    issues.append(located.issue(path + (key,), "secrets never live in mapping files: "
                                                "remove it and set the credential in the environment or .env "
                                                "(see README, Credentials)"))
                else:
                    walk(value, path + (key,))
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, path + (i,))
        elif isinstance(node, str) and _SECRET_VALUE.search(node):
            issues.append(located.issue(path, "this value looks like a credential; secrets never live in "
                                              "mapping files: set it in the environment or .env"))

    walk(located.data, ())
    return issues


def _require_mapping_at_top(located: Located) -> None:
    if not isinstance(located.data, dict):
        raise ConfigError([ConfigIssue(located.file, 1, "", "expected a YAML mapping (key: value) at the top")])


M = typing.TypeVar("M", bound=BaseModel)


def _validate(cls: type[M], located: Located) -> M:
    try:
        return cls.model_validate(located.data)
    except ValidationError as exc:
        raise ConfigError(issues_from(exc, cls, located)) from None


def issues_from(exc: ValidationError, root: type[BaseModel], located: Located) -> list[ConfigIssue]:
    """Turn pydantic's errors into issues a user can act on: the real path in the file
    (without pydantic's union and tag markers), its line, and a hint where one helps."""
    found: dict[Path_, str] = {}
    missing: list[Path_] = []
    for err in exc.errors(include_url=False):
        path = _data_path(located.data, err["loc"])
        if path in found:  # one message per place: union members repeat themselves
            continue
        found[path] = _message(err, root, located.data, path)
        if err["type"] == "missing":
            missing.append(path)
    # "unknown field 'pionts' (did you mean 'points'?)" already says what "points is
    # missing" would: keep the one that points at the line to fix.
    for path in missing:
        typo = [p for p, m in found.items() if p[:-1] == path[:-1] and m.endswith(f"(did you mean '{path[-1]}'?)")]
        if typo:
            del found[path]
    return sorted((located.issue(p, m) for p, m in found.items()), key=lambda i: i.line or 0)


def _data_path(data: Any, loc: tuple) -> Path_:
    path: list[str | int] = []
    node = data
    for part in loc:
        if part == "[key]":
            continue
        if isinstance(node, dict):
            if part in node:
                path.append(part)
                node = node[part]
            elif node.get("kind") == part or _is_type_marker(part):
                continue
            else:
                path.append(part)  # a missing field: keep it, it is what the user must add
                node = None
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            path.append(part)
            node = node[part]
        elif _is_type_marker(part):
            continue
        else:
            path.append(part)
            node = None
    return tuple(path)


def _is_type_marker(part: Any) -> bool:
    return isinstance(part, str) and bool(
        re.fullmatch(r"(str|int|float|bool|none|list\[.*\]|dict\[.*\]|function-\w+\[.*\]|[A-Z]\w*|"
                     r"literal\[.*\]|json-or-python\[.*\]|union\[.*\])", part))


def _message(err: MappingT[str, Any], root: type[BaseModel], data: Any, path: Path_) -> str:
    kind, ctx, value = err["type"], err.get("ctx") or {}, err.get("input")
    if kind == "extra_forbidden":
        allowed = _allowed_fields(root, data, path[:-1])
        return f"unknown field {path[-1]!r}{suggest(str(path[-1]), allowed)}"
    if kind == "missing":
        return "required field is missing"
    if kind == "union_tag_invalid":
        tag = str(ctx.get("tag"))
        return f"unknown rule kind {tag!r}{suggest(tag, RULE_KINDS)}; kinds: {', '.join(RULE_KINDS)}"
    if kind == "union_tag_not_found":
        return f"missing `kind:` (one of {', '.join(RULE_KINDS)})"
    if kind == "literal_error":
        expected = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        return f"{value!r} is not one of {', '.join(expected)}{suggest(str(value), expected)}"
    if kind == "value_error":
        return str(ctx.get("error", err["msg"]))
    message = err["msg"]
    if isinstance(value, bool) and kind.startswith("string"):
        return (f"YAML read this as {str(value).lower()} (unquoted yes/no/on/off/true/false are "
                "booleans); put it in quotes")
    if isinstance(value, (str, int, float, bool)) and len(repr(value)) <= 60:
        message += f" (got {value!r})"
    return message


def _allowed_fields(root: type[BaseModel], data: Any, path: Path_) -> list[str]:
    """The field names of the model that sits at `path` in the data."""
    tp: Any = root
    node = data
    for part in path:
        tp = _pick(tp, node)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            field = next((f for n, f in tp.model_fields.items() if (f.alias or n) == part), None)
            if field is None:
                return []
            tp = field.annotation
        else:
            args = typing.get_args(tp)
            if not args:
                return []
            tp = args[-1]
        if isinstance(node, dict):
            node = node.get(part)
        else:
            node = node[part] if isinstance(node, list) and isinstance(part, int) else None
    tp = _pick(tp, node)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [f.alias or n for n, f in tp.model_fields.items()]
    return []


def _pick(tp: Any, node: Any) -> Any:
    """Unwrap Annotated and Optional; choose a tagged union member by the data's kind."""
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        members = [m for m in typing.get_args(tp) if m is not type(None)]
        kind = node.get("kind") if isinstance(node, dict) else None
        for m in members:
            if isinstance(m, type) and issubclass(m, BaseModel):
                field = m.model_fields.get("kind")
                if field is None or kind in typing.get_args(field.annotation):
                    return m
        return members[0] if members else tp
    return tp
