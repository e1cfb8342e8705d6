"""Every lead's verdict from the state, with no call to the CRM: what `explain
--mapping` and `leads` show. The stage is the one mqlsync recorded (and wrote); the
score is recomputed from the stored record and its activity at the moment asked, so
the reasons are today's."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from mqlsync.connector.config import LoadedMapping
from mqlsync.connector.model import Activity, Contact, Stage, StageRow
from mqlsync.connector.scoring import Decision, Scorer, StageState
from mqlsync.connector.state import StateStore
from mqlsync.connector.sync.plan import held_back

from .score import Scored

#: how many records are read from the state at a time
CHUNK = 500
#: the order `leads` lists stages in: marketing's hand-offs first, then the funnel
SHOWN_ORDER = (Stage.MQL, Stage.SAL, Stage.SQL, Stage.OPPORTUNITY, Stage.CUSTOMER, Stage.LEAD, Stage.RECYCLED,
               Stage.DISQUALIFIED)


@dataclass(frozen=True)
class Lead:
    """One record as the state knows it, scored now."""

    scored: Scored
    #: when it reached its stage, and when it last qualified as an MQL
    since: datetime | None
    mql_at: datetime | None

    @property
    def stage(self) -> Stage:
        return self.scored.decision.stage

    def held(self, threshold: float) -> str | None:
        return held_back(self.scored.card, self.stage, threshold)


@dataclass(frozen=True)
class Stored:
    """What the state holds of one person: the record (None when it holds none), the
    activity ledger and the stage row."""

    contact_id: str
    contact: Contact | None
    activities: Sequence[Activity]
    stage: StageRow | None


def stored(store: StateStore, conn: str, ids: Iterable[str] | None = None) -> Iterator[Stored]:
    """The connection's people (all, or `ids`, in that order) as the state holds them,
    read a chunk at a time, so memory holds one chunk's ledger."""
    wanted = list(ids) if ids is not None else store.contact_ids(conn)
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start:start + CHUNK]
        people = store.load_contacts(conn, chunk)
        activity = store.activities_of(conn, list(people))
        stages = store.stages_of(conn, list(people))
        for cid in chunk:
            yield Stored(cid, people.get(cid), activity.get(cid, ()), stages.get(cid))


def from_state(loaded: LoadedMapping, store: StateStore, now: datetime,
               ids: Iterable[str] | None = None) -> Iterator[Lead]:
    """The records of the mapping's connection (all, or `ids`, in that order) that the
    state holds, scored as of `now`."""
    scorer = Scorer(loaded.model)
    for held in stored(store, loaded.mapping.connection, ids):
        contact, row = held.contact, held.stage
        if contact is None:
            continue
        stage = row.stage if row else (contact.crm_stage or Stage.LEAD)
        since = row.since if row else None
        card = scorer.score(contact, held.activities, now)
        mql_at = row.mql_at if row else None
        yield Lead(Scored(contact, card, Decision(StageState(stage, since), (), mql_at)), since, mql_at)
