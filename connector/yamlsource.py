"""Read YAML into plain data while remembering the line of every key, so that any
later error about a field can name the file and the line a user has to edit."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mqlsync.connector.errors import ConfigError, ConfigIssue

Path_ = tuple[str | int, ...]


@dataclass
class Located:
    """Data parsed from one YAML file, with the line (1-based) of each path in it."""

    file: str
    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)

    def line_of(self, path: Path_) -> int | None:
        """The line of the deepest part of `path` that exists in the file."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:end]))
            if line is not None:
                return line
        return None

    def issue(self, path: Path_, message: str) -> ConfigIssue:
        return ConfigIssue(self.file, self.line_of(path), dotted(path), message)


def dotted(path: Path_) -> str:
    """`('rules', 3, 'when', 'title')` -> `rules[3].when.title`, as users read it."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def suggest(word: str, choices: list[str] | tuple[str, ...] | set[str]) -> str:
    """" (did you mean 'x'?)" when a close match exists, else ""."""
    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def load_yaml(path: Path | str, display: str | None = None) -> Located:
    """Parse one YAML file. Syntax errors, duplicate keys and non-string keys become a
    ConfigError naming the line; the result is plain dicts, lists and scalars."""
    path = Path(path)
    name = display or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([ConfigIssue(name, None, "", "file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([ConfigIssue(name, None, "", f"cannot read: {exc}")]) from None
    return parse_yaml(text, name)


def parse_yaml(text: str, name: str) -> Located:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise ConfigError([ConfigIssue(name, line, "", f"not valid YAML: {exc.problem or exc}")]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([ConfigIssue(name, None, "", f"not valid YAML: {exc}")]) from None
    located = Located(name, None)
    issues: list[ConfigIssue] = []
    located.data = _build(node, (), located, issues) if node is not None else None
    if issues:
        raise ConfigError(issues)
    return located


def _build(node: yaml.Node, path: Path_, out: Located, issues: list[ConfigIssue]) -> Any:
    out.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                issues.append(out.issue(path, "YAML merge keys (<<) are not supported; write the fields out"))
                continue
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != "tag:yaml.org,2002:str":
                shown = key_node.value if isinstance(key_node, yaml.ScalarNode) else "a collection"
                issues.append(ConfigIssue(out.file, line, dotted(path),
                                          f"key {shown!r} is not read as text by YAML; quote it"))
                continue
            key = key_node.value
            if key in result:
                issues.append(ConfigIssue(out.file, line, dotted(path + (key,)),
                                          "duplicate key (YAML would silently keep only the last)"))
                continue
            out.lines[path + (key,)] = line
            result[key] = _build(value_node, path + (key,), out, issues)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, path + (i,), out, issues) for i, item in enumerate(node.value)]
    # A scalar: let the safe constructor give it its YAML type (int, bool, null, ...).
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    except yaml.YAMLError as exc:
        issues.append(out.issue(path, f"cannot read this value: {getattr(exc, 'problem', None) or exc}"))
        return None
    except (ValueError, OverflowError) as exc:
        # YAML reads 2026-13-45 as a date and fails on it: say so, and how to keep text.
        issues.append(out.issue(path, f"cannot read {node.value!r}: {exc}; quote it if it is text"))
        return None
    finally:
        loader.dispose()
