"""`mqlsync backtest`: replay scoring models over people whose outcome is known and set
their figures side by side. Each person is scored as of the moment given (`--now`), or
as of their outcome when it came earlier: nothing after the outcome counts."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from mqlsync.connector.adapters.history import read_outcomes
from mqlsync.connector.config import LoadedModel
from mqlsync.connector.errors import InputError, RecordRejected
from mqlsync.connector.review.backtest import Report, Scored, evaluate, holdout_split
from mqlsync.connector.scoring import Scorer

from .score import Batch, read_files


@dataclass
class Backtest:
    reports: list[Report]
    people: int
    held_out: int
    #: people in the contacts file with no outcome (not scored), and the reverse
    without_outcome: int
    unknown_outcomes: int
    rejected: list[RecordRejected]
    now: datetime


Outcomes = dict[str, tuple[bool, datetime | None]]


@dataclass
class History:
    """People to score (with their activity) and what became of them."""

    batch: Batch
    known: Outcomes
    rejected: list[RecordRejected]


def from_files(contacts: Path, activities: Path | None, outcomes: Path) -> History:
    """Canonical JSON lines and an outcomes CSV (id, outcome, at)."""
    batch = read_files(contacts, activities)
    known, rejected = read_outcomes(outcomes)
    return History(batch, known, batch.rejected + rejected)


def from_history(mapping: Path, folder: Path | None, export: Path | None = None) -> History:
    """A CRM's CSV exports through a history mapping (its files in `folder`, by default
    beside the mapping; or the one `export` in place of its people file): people and
    their won deals; no activity."""
    from mqlsync.connector.adapters.history import history_people, read_history
    from mqlsync.connector.config.load import load_history

    read = read_history(load_history(mapping), folder or mapping.parent, export)
    contacts, known = history_people(read)
    return History(Batch(contacts=contacts), known, read.rejected)


def _default_now(history: History) -> datetime:
    """The day after the newest date the history knows."""
    times = [a.at for acts in history.batch.activities.values() for a in acts] + \
        [c.created_at for c in history.batch.contacts if c.created_at] + \
        [at for _, at in history.known.values() if at]
    return max(times) + timedelta(days=1)


def newest_last(history: History) -> list[str]:
    """The contacts with an outcome, oldest first by created_at; in file order where
    any lacks one (a hold-out is then the end of the file)."""
    people = [c for c in history.batch.contacts if c.id in history.known]
    if not people:
        raise InputError("no person with an outcome is among the contacts: nothing to test")
    if all(c.created_at is not None for c in people):
        people = sorted(people, key=lambda c: c.created_at)  # type: ignore[arg-type, return-value]  # all have one
    return [c.id for c in people]


def backtest(history: History, models: list[LoadedModel], holdout: float = 0.0,
             now: datetime | None = None) -> Backtest:
    batch, known, rejected = history.batch, history.known, history.rejected
    order = newest_last(history)
    ids = set(order)
    now = now or _default_now(history)
    _, held = holdout_split(order, holdout)
    reported = held if holdout else set(order)
    reports = []
    for loaded in models:
        scorer = Scorer(loaded)
        fired: Counter[str] = Counter()
        scored = []
        for contact in batch.contacts:
            if contact.id not in ids:
                continue
            won, at = known[contact.id]
            card = scorer.score(contact, batch.activities.get(contact.id, ()), min(now, at) if at else now)
            fired.update(h.rule_id for h in card.hits)
            if contact.id in reported:
                scored.append(Scored(card, won))
        reports.append(evaluate(loaded.source, loaded.version, scored, [r.id for r in loaded.model.rules], fired))
    return Backtest(reports, len(ids), len(held), len({c.id for c in batch.contacts} - set(known)),
                    len(set(known) - {c.id for c in batch.contacts}), rejected, now)


@dataclass
class Suggestion:
    path: Path
    rules: int
    fitted: int
    held_out: int
    current: Report
    suggested: Report
    regression_auc: float | None
    regularisation: float


def suggest(history: History, current: LoadedModel, out: Path, holdout: float = 0.3, now: datetime | None = None,
            points_to_double: float = 10.0, mql_share: float = 0.1, max_rules: int = 30,
            mql_precision: float | None = None) -> Suggestion:
    """Fit points on the people not held out, write them as a model file (checked by
    loading it), and set its hold-out figures beside the current model's and a plain
    logistic regression's. Candidates and points come from the fitted people only."""
    import numpy as np

    from mqlsync.connector.config.load import model_from_text
    from mqlsync.connector.config.scoring import ScoringModel
    from mqlsync.connector.review.suggest import candidates, fit, model_yaml, plain_regression_auc, probe_model

    if not 0 < holdout < 1:
        raise InputError("--suggest needs a hold-out to report on: --holdout between 0 and 1 (e.g. 0.3)")
    batch, known = history.batch, history.known
    order = newest_last(history)
    ids = set(order)
    now = now or _default_now(history)
    fit_ids, held = holdout_split(order, holdout)
    people = {c.id: c for c in batch.contacts if c.id in ids}

    def at(cid: str) -> datetime:
        won_at = known[cid][1]
        return min(now, won_at) if won_at else now

    fitted = [people[i] for i in sorted(fit_ids)]
    found = candidates(fitted, {i: batch.activities.get(i, []) for i in fit_ids},
                       min_support=max(10, len(fitted) // 100))
    probe = LoadedModel(ScoringModel.model_validate(probe_model(found)), "probe", "candidates")
    probe_scorer = Scorer(probe)
    index = {c.id: i for i, c in enumerate(found)}

    def features(cids: list[str]) -> np.ndarray:
        rows = np.zeros((len(cids), len(found)), dtype=np.int8)
        for r, cid in enumerate(cids):
            for hit in probe_scorer.score(people[cid], batch.activities.get(cid, ()), at(cid)).hits:
                rows[r, index[hit.rule_id]] = 1
        return rows

    held_ids = sorted(held)
    train_x, test_x = features([c.id for c in fitted]), features(held_ids)
    train_y = np.array([int(known[c.id][0]) for c in fitted])
    test_y = np.array([int(known[i][0]) for i in held_ids])
    result = fit(train_x, train_y, found, points_to_double, max_rules, mql_share, mql_precision)
    base = {"required_fields": current.model.mql.required_fields, "sla_hours": current.model.sla_hours}
    out.write_text(model_yaml(result, base, points_to_double, len(fitted), int(train_y.sum()), now),
                   encoding="utf-8")
    suggested = model_from_text(out.read_text(encoding="utf-8"), str(out), out.parent)  # what validate checks

    def report(loaded: LoadedModel) -> Report:
        scorer = Scorer(loaded)
        scored = [Scored(scorer.score(people[i], batch.activities.get(i, ()), at(i)), known[i][0]) for i in held_ids]
        return evaluate(loaded.source, loaded.version, scored, [r.id for r in loaded.model.rules])

    return Suggestion(out, len(result.rules), len(fitted), len(held_ids), report(current), report(suggested),
                      plain_regression_auc(train_x, train_y, test_x, test_y), result.regularisation)
