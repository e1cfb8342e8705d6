"""The schema of a history mapping: which columns of CSV exports hold each person's
qualification and what became of their deal, for a funnel review (or a backtest) of a
past the state never saw."""

from __future__ import annotations

from pydantic import Field

from mqlsync.connector.config.scoring import Strict


class PeopleFile(Strict):
    """One row a person: when marketing qualified them, and what a breakdown groups by."""

    file: str = Field(min_length=1)
    id: str = Field(min_length=1)
    #: the column with the time (or date) of qualification
    mql_at: str = Field(min_length=1)
    channel: str | None = None
    grade: str | None = None
    score: str | None = None
    #: CSV column -> values read as channel (the export's words -> mqlsync's)
    channels: dict[str, str] = Field(default_factory=dict)
    #: attribute name -> CSV column: scored as `attributes.<name>` (a backtest's rules)
    attributes: dict[str, str] = Field(default_factory=dict)


class OutcomesFile(Strict):
    """One row a deal, joined to its person by `id`: won where `won_at` is filled (or,
    with `won`, where that column says so), lost otherwise once `closed_at` is filled.
    Without `file`, the outcome is in the people file's own columns (one export)."""

    file: str | None = Field(default=None, min_length=1)
    id: str = Field(min_length=1)
    won_at: str | None = None
    closed_at: str | None = None
    won: str | None = None
    amount: str | None = None


class HistoryMapping(Strict):
    #: a name for this history (reports say it)
    history: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=40)
    people: PeopleFile
    outcomes: OutcomesFile | None = None
