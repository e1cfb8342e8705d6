"""Counts the requests a CRM adapter spends looking follow-up tasks up by key (the check
that keeps a run with a lost or another state database from making a task twice)."""

from __future__ import annotations


def count_task_lookups(crm) -> dict[str, int]:
    """Wrap `crm.find_tasks`; the returned dict's "requests" and "keys" grow as it is called."""
    seen = {"requests": 0, "keys": 0}
    find = crm.find_tasks

    def counted(keys):
        before = crm.requests
        try:
            return find(keys)
        finally:
            seen["requests"] += crm.requests - before
            seen["keys"] += len(keys)

    crm.find_tasks = counted
    return seen
