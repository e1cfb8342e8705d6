"""Build the CRM adapter a mapping file asks for, from the environment."""

from __future__ import annotations

from collections.abc import Mapping

from mqlsync.connector.adapters.base import CRM
from mqlsync.connector.config import LoadedMapping


def adapter_for(loaded: LoadedMapping, env: Mapping[str, str] | None = None) -> CRM:
    """The adapter for the mapping's CRM, with credentials from `env` (os.environ)."""
    if loaded.mapping.crm == "salesforce":
        from mqlsync.connector.adapters.salesforce import SalesforceAdapter

        return SalesforceAdapter.from_env(loaded.mapping, env)
    from mqlsync.connector.adapters.hubspot import HubSpotAdapter

    return HubSpotAdapter.from_env(loaded.mapping, env)
