"""Build the CRM adapter a mapping file asks for, from the environment."""

from __future__ import annotations

from collections.abc import Mapping

from connector.adapters.base import CRM
from connector.config import LoadedMapping


def adapter_for(loaded: LoadedMapping, env: Mapping[str, str] | None = None) -> CRM:
    """The adapter for the mapping's CRM, with credentials from `env` (os.environ)."""
    if loaded.mapping.crm == "salesforce":
        from connector.adapters.salesforce import SalesforceAdapter

        return SalesforceAdapter.from_env(loaded.mapping, env)
    from connector.adapters.hubspot import HubSpotAdapter

    return HubSpotAdapter.from_env(loaded.mapping, env)
