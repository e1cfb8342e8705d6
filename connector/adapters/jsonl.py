"""Read canonical contacts and activities from JSON-lines files, one record per line,
reporting each unusable line with its number and reason instead of stopping."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from mqlsync.connector.errors import InputError, RecordRejected

R = TypeVar("R", bound=BaseModel)

#: a line longer than this is not a record a CRM export produces; refuse it unread
MAX_LINE_BYTES = 1_000_000


def describe(exc: ValidationError) -> str:
    """`company_size: Input should be a valid integer (got 'many')`, one per error."""
    parts = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"]) or "record"
        msg = err["msg"].removeprefix("Value error, ")
        value = err.get("input")
        if err["type"] != "missing" and isinstance(value, (str, int, float, bool)) and len(repr(value)) <= 40:
            msg += f" (got {value!r})"
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts)


def read_jsonl(path: Path | str, model: type[R], rejected: list[RecordRejected]) -> Iterator[R]:
    """Yield each valid record; append a RecordRejected for every other non-blank line."""
    path = Path(path)
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InputError(f"{path}: cannot open: {exc.strerror or exc}") from None
    with handle:
        for lineno, raw in enumerate(handle, start=1):
            if len(raw) > MAX_LINE_BYTES:
                rejected.append(RecordRejected(str(path), lineno, f"line longer than {MAX_LINE_BYTES:,} bytes"))
                continue
            try:
                text = raw.decode("utf-8").strip()
            except UnicodeDecodeError as exc:
                rejected.append(RecordRejected(str(path), lineno, f"not UTF-8 (byte {exc.start + 1})"))
                continue
            if not text:
                continue
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                rejected.append(RecordRejected(str(path), lineno, f"not valid JSON: {exc.msg} at column {exc.colno}"))
                continue
            if not isinstance(data, dict):
                rejected.append(RecordRejected(str(path), lineno, "expected a JSON object"))
                continue
            try:
                yield model.model_validate(data)
            except ValidationError as exc:
                rid = data.get("id") if isinstance(data.get("id"), str) else None
                rejected.append(RecordRejected(str(path), lineno, describe(exc), rid))


def dump_line(record: BaseModel) -> str:
    """One record as one line of the canonical format (defaults left out)."""
    return record.model_dump_json(exclude_none=True, exclude_defaults=True) + "\n"
