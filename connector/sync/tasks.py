"""Follow-up tasks: one key per qualification, and which tasks a run makes, asks the CRM
about, or leaves alone."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from mqlsync.connector.config import LoadedMapping
from mqlsync.connector.model import Contact, ScoreCard, TaskRequest
from mqlsync.connector.scoring import sales_text
from mqlsync.connector.scoring.explain import whole

KEY_TIME = "%Y%m%dT%H%M%SZ"


def task_key(connection: str, contact_id: str, mql_at: datetime) -> str:
    """One key per qualification: the same however often the run repeats."""
    return f"{connection}:{contact_id}:{mql_at.strftime(KEY_TIME)}"


def qualified_at_of(key: str) -> datetime | None:
    """The qualification time a task key was made from (see task_key)."""
    try:
        return datetime.strptime(key.rsplit(":", 1)[1], KEY_TIME).replace(tzinfo=UTC)
    except (IndexError, ValueError):
        return None


def task_for(loaded: LoadedMapping, contact: Contact, card: ScoreCard, mql_at: datetime) -> TaskRequest:
    spec = loaded.mapping.tasks
    sla_hours = loaded.model.model.sla_hours
    subject = spec.subject.format(name=contact.name, title=contact.title or "", company=contact.company or "",
                                  total=whole(card.total), fit=whole(card.fit), engagement=whole(card.engagement),
                                  grade=card.grade, email=contact.email or "")
    return TaskRequest(key=task_key(loaded.mapping.connection, contact.id, mql_at), contact_id=contact.id,
                       owner_id=contact.owner_id, due_at=mql_at + timedelta(hours=sla_hours), subject=subject,
                       body=f"New MQL, follow up within {sla_hours:g} hours.\n{sales_text(card)}",
                       priority=spec.priority)


def task_status(keys: Mapping[str, str], qualified_at: datetime) -> str | None:
    """The status of the task of the qualification at `qualified_at` among a contact's
    keys: matched by time, since a merged-in record's keys carry its old id."""
    at = qualified_at.replace(microsecond=0)
    return next((status for key, status in keys.items() if qualified_at_of(key) == at), None)


def latest_qualification(keys: Mapping[str, str]) -> tuple[datetime | None, bool]:
    """The latest qualification time among a contact's task keys, and whether its task
    is confirmed in the CRM."""
    latest: tuple[datetime | None, bool] = (None, False)
    for key, status in keys.items():
        at = qualified_at_of(key)
        if at is not None and (latest[0] is None or at > latest[0]):
            latest = (at, status == "confirmed")
    return latest


@dataclass
class TaskDecision:
    """Which tasks a chunk makes once the CRM has said which keys it already holds."""

    make: list[TaskRequest] = field(default_factory=list)
    #: key -> contact: owed tasks past their follow-up time, not made now
    skipped: dict[str, str] = field(default_factory=dict)


def keys_to_look_up(planned: Iterable[TaskRequest], owed: Iterable[TaskRequest],
                    status: Mapping[str, str]) -> dict[str, str]:
    """Keys whose task the CRM may already hold (key -> contact): a key recorded but
    never confirmed (a run stopped between the two), and every owed task."""
    ask = {t.key: t.contact_id for t in planned if status.get(t.key) == "pending"}
    ask.update((t.key, t.contact_id) for t in owed)
    return ask


def tasks_to_make(planned: Iterable[TaskRequest], owed: Iterable[TaskRequest], status: Mapping[str, str],
                  found: Mapping[str, str], now: datetime, sla_hours: float) -> TaskDecision:
    """A key already confirmed, or found in the CRM, is done. An owed task not found is
    made while its follow-up is still due (the run that qualified the lead may have
    stopped before making it); an older one is left alone and remembered as skipped
    (its rep may have deleted it)."""
    out = TaskDecision([t for t in planned if status.get(t.key) != "confirmed" and t.key not in found])
    due = timedelta(hours=sla_hours)
    for task in owed:
        if task.key in found:
            continue
        at = qualified_at_of(task.key)
        if status.get(task.key) == "pending" or (at is not None and now - at < due):
            out.make.append(task)
        else:
            out.skipped[task.key] = task.contact_id
    return out
