"""Build the CRM adapter a mapping file asks for, from the environment."""

from __future__ import annotations

from collections.abc import Mapping

from connector.adapters.base import CRM
from connector.config import LoadedMapping
from connector.errors import ConfigError, ConfigIssue


def adapter_for(loaded: LoadedMapping, env: Mapping[str, str] | None = None) -> CRM:
    """The adapter for the mapping's CRM, with credentials from `env` (os.environ)."""
    crm = loaded.mapping.crm
    if crm == "hubspot":
        from connector.adapters.hubspot import HubSpotAdapter

        return HubSpotAdapter.from_env(loaded.mapping, env)
    raise ConfigError([ConfigIssue(loaded.source, None, "crm", f"the {crm} adapter is not built yet (open issue)")])
