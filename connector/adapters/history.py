"""Read a funnel's past from CSV exports, through a history mapping: each person's
qualification (and what to group them by) and what became of their deals. A row that
cannot be read is reported with its file, line and reason; the rest is read."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from mqlsync.connector.adapters.mapped import truthy
from mqlsync.connector.config.history import HistoryMapping
from mqlsync.connector.errors import InputError, RecordRejected
from mqlsync.connector.model import CHANNELS, Contact, Stage, Transition
from mqlsync.connector.review import Journey, Outcome


@dataclass
class History:
    journeys: list[Journey] = field(default_factory=list)
    rejected: list[RecordRejected] = field(default_factory=list)
    #: outcomes whose person is not in the people file
    orphans: int = 0
    #: each person's attributes, as the mapping's `people.attributes` names them
    attributes: dict[str, dict[str, str]] = field(default_factory=dict)


def _time(text: str) -> datetime:
    """An export's time: ISO 8601 with or without a time and a zone (no zone: UTC)."""
    value = datetime.fromisoformat(text.strip())
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _rows(path: Path, rejected: list[RecordRejected], needed: list[str]) -> Iterator[tuple[int, dict[str, str]]]:
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise InputError(f"{path}: cannot open: {exc.strerror or exc}") from None
    with handle:
        reader = csv.DictReader(handle)
        absent = [c for c in needed if c not in (reader.fieldnames or [])]
        if absent:
            raise InputError(f"{path}: no column {', '.join(absent)}; the columns are "
                             f"{', '.join(reader.fieldnames or []) or 'none (empty file)'}")
        try:
            for row in reader:
                yield reader.line_num, row
        except (csv.Error, UnicodeDecodeError) as exc:
            rejected.append(RecordRejected(str(path), reader.line_num, f"unreadable: {exc}"))


def read_history(mapping: HistoryMapping, folder: Path, export: Path | None = None) -> History:
    """The journeys of the people in the mapping's files (paths relative to `folder`);
    `export` is a CSV export read in place of the people file the mapping names."""
    if export is not None:
        mapping = mapping.model_copy(update={"people": mapping.people.model_copy(update={"file": str(export)})})
    out = History()
    spec = mapping.people
    people_path = folder / spec.file
    outcomes: dict[str, Outcome] = {}
    if mapping.outcomes is not None:
        outcomes = _read_outcomes(mapping, folder, out)
    seen: set[str] = set()
    wanted = [spec.id, spec.mql_at] + [c for c in (spec.channel, spec.grade, spec.score) if c] + \
        list(spec.attributes.values())
    for line, row in _rows(people_path, out.rejected, wanted):
        pid = (row.get(spec.id) or "").strip()
        if not pid:
            out.rejected.append(RecordRejected(str(people_path), line, f"{spec.id} is empty"))
            continue
        if pid in seen:
            out.rejected.append(RecordRejected(str(people_path), line, f"{spec.id} {pid} repeats an earlier row", pid))
            continue
        try:
            at = _time(row[spec.mql_at])
            score = float(row[spec.score]) if spec.score and row.get(spec.score) else None
        except ValueError as exc:
            out.rejected.append(RecordRejected(str(people_path), line, str(exc), pid))
            continue
        seen.add(pid)
        out.attributes[pid] = {name: row[column].strip() for name, column in spec.attributes.items()
                               if (row.get(column) or "").strip()}
        channel = (row.get(spec.channel) or "").strip() if spec.channel else ""
        out.journeys.append(Journey(
            pid, (Transition(pid, Stage.LEAD, Stage.MQL, "qualified (history)", at),),
            channel=spec.channels.get(channel, channel) or None,
            grade=(row.get(spec.grade) or None) if spec.grade else None, score=score,
            outcome=outcomes.get(pid)))
    out.orphans = len(set(outcomes) - seen)
    return out


def _read_outcomes(mapping: HistoryMapping, folder: Path, out: History) -> dict[str, Outcome]:
    spec = mapping.outcomes
    assert spec is not None
    path = folder / (spec.file or mapping.people.file)
    found: dict[str, Outcome] = {}
    wanted = [spec.id] + [c for c in (spec.won_at, spec.closed_at, spec.won, spec.amount) if c]
    for line, row in _rows(path, out.rejected, wanted):
        pid = (row.get(spec.id) or "").strip()
        try:
            won_at = _time(row[spec.won_at]) if spec.won_at and row.get(spec.won_at) else None
            closed_at = _time(row[spec.closed_at]) if spec.closed_at and row.get(spec.closed_at) else won_at
            amount = float(row[spec.amount]) if spec.amount and row.get(spec.amount) else None
        except ValueError as exc:
            out.rejected.append(RecordRejected(str(path), line, str(exc), pid or None))
            continue
        won: bool | None = truthy(row.get(spec.won)) if spec.won else (won_at is not None or None)
        if closed_at is None:
            won = None  # open: neither won nor lost yet
        elif won is None:
            won = False
        if not pid:
            out.rejected.append(RecordRejected(str(path), line, f"{spec.id} is empty"))
            continue
        # A person with several deals: a won one tells their story; else the latest.
        known = found.get(pid)
        if known is None or (won and not known.won) or (
                won == known.won and closed_at and known.closed_at and closed_at > known.closed_at):
            found[pid] = Outcome(won, closed_at, amount)
    return found


#: how an outcomes file says won and lost
WON, LOST = frozenset({"1", "won", "true", "yes", "closedwon"}), frozenset({"0", "lost", "false", "no", "closedlost"})


def read_outcomes(path: Path) -> tuple[dict[str, tuple[bool, datetime | None]], list[RecordRejected]]:
    """One row a person: `id`, `outcome` (1/0, won/lost, true/false) and, optionally,
    `at` (when it was known). A row that cannot be read is reported with its line."""
    rejected: list[RecordRejected] = []
    found: dict[str, tuple[bool, datetime | None]] = {}
    for line, row in _rows(path, rejected, ["id", "outcome"]):
        pid, said = (row.get("id") or "").strip(), (row.get("outcome") or "").strip().lower()
        if not pid or said not in WON | LOST:
            rejected.append(RecordRejected(str(path), line, f"outcome {said!r} is not one of 1/0, won/lost, "
                                                            "true/false" if pid else "id is empty", pid or None))
            continue
        try:
            at = _time(row["at"]) if row.get("at") else None
        except ValueError as exc:
            rejected.append(RecordRejected(str(path), line, str(exc), pid))
            continue
        found[pid] = (said in WON, at)
    return found, rejected


def history_people(history: History) -> tuple[list[Contact], dict[str, tuple[bool, datetime | None]]]:
    """A history as people to score and their outcomes, for a backtest: each person
    created when qualified, with the channel (where mqlsync knows it) and attributes
    the history mapping reads; won when a deal was won (at its date), else not."""
    contacts, outcomes = [], {}
    for j in history.journeys:
        channel = j.channel if j.channel in CHANNELS else None
        contacts.append(Contact(id=j.person, created_at=j.mql_at, channel=channel,
                                attributes=dict(history.attributes.get(j.person, {}))))
        won = bool(j.outcome and j.outcome.won)
        outcomes[j.person] = (won, j.outcome.closed_at if won and j.outcome else None)
    return contacts, outcomes
