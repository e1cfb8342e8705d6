"""Build the CRM adapter a mapping file asks for, from the environment."""

from __future__ import annotations

from collections.abc import Mapping

from mqlsync.connector.adapters.base import CRM
from mqlsync.connector.config import LoadedMapping
from mqlsync.connector.registry import crm_kind


def adapter_for(loaded: LoadedMapping, env: Mapping[str, str] | None = None) -> CRM:
    """The adapter for the mapping's CRM, with credentials from `env` (os.environ)."""
    return crm_kind(loaded.mapping.crm).connect(loaded.mapping, env)
