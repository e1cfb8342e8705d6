"""The sync's decisions, pure like the scoring core: what of a contact is kept, what a
chunk writes and records, which tasks are owed, and what is taken back from the CRM."""

from mqlsync.connector.sync.keep import Keep
from mqlsync.connector.sync.plan import (
    TAGGED,
    Adopted,
    ChunkPlan,
    Known,
    Record,
    adopt_from_crm,
    crm_values,
    initial_state,
    plan_chunk,
)
from mqlsync.connector.sync.tasks import keys_to_look_up, qualified_at_of, task_key, tasks_to_make

__all__ = ["TAGGED", "Adopted", "ChunkPlan", "Keep", "Known", "Record", "adopt_from_crm", "crm_values",
           "initial_state", "keys_to_look_up", "plan_chunk", "qualified_at_of", "task_key", "tasks_to_make"]
