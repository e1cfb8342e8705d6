"""`mqlsync preview`: what switching a connection to another scoring model would do,
from its state and without calling the CRM: the MQLs the new model would make at the
next run (each with the task it would create), and today's MQLs it would not have
qualified (they stay MQLs: a hand-off is never taken back)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from mqlsync.connector.config import LoadedMapping, LoadedModel
from mqlsync.connector.model import ScoreCard, Stage, TaskRequest
from mqlsync.connector.scoring import SalesSignals, Scorer, StageState, decide
from mqlsync.connector.state import StateStore
from mqlsync.connector.sync import initial_state
from mqlsync.connector.sync.tasks import task_for

from .leads import stored


@dataclass(frozen=True)
class Change:
    contact_id: str
    name: str
    #: the card under the new model, and under the current one
    new: ScoreCard
    current: ScoreCard
    task: TaskRequest | None = None


@dataclass
class Preview:
    current: str
    new: str
    people: int = 0
    gained: list[Change] = field(default_factory=list)
    lost: list[Change] = field(default_factory=list)


def preview(loaded: LoadedMapping, model: LoadedModel, store: StateStore, now: datetime) -> Preview:
    """Every person of the connection scored by both models as of `now`, from the stage
    the state records: who the new model's next run would make an MQL, and which of
    today's MQLs it would not qualify."""
    switched = replace(loaded, model=model)
    conn = loaded.mapping.connection
    old, new = Scorer(loaded.model), Scorer(model)
    spec = model.model.lifecycle
    makes_tasks = loaded.mapping.tasks.enabled and loaded.mapping.write_back.mode == "full"
    out = Preview(loaded.model.version, model.version)
    for held in stored(store, conn):
        person, row, acts, cid = held.contact, held.stage, held.activities, held.contact_id
        if person is None:
            continue
        out.people += 1
        state = StageState(row.stage, row.since) if row else initial_state(person)
        card, was = new.score(person, acts, now), old.score(person, acts, now)
        decision = decide(state, card, SalesSignals.of(person), now.replace(microsecond=0), spec)
        if decision.mql_at is not None:
            task = task_for(switched, person, card, decision.mql_at) if makes_tasks else None
            out.gained.append(Change(cid, person.name, card, was, task))
        elif state.stage == Stage.MQL and not card.mql:
            out.lost.append(Change(cid, person.name, card, was))
    out.gained.sort(key=lambda c: (-c.new.total, c.contact_id))
    out.lost.sort(key=lambda c: (c.new.total, c.contact_id))
    return out
