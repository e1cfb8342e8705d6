"""HubSpot's credentials: a private app's access token, and the API host (HubSpot's,
or the sandbox's on this machine)."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator

from mqlsync.connector.credentials import EnvSettings
from mqlsync.connector.http import is_loopback

ENV_TOKEN = "HUBSPOT_ACCESS_TOKEN"
ENV_BASE_URL = "MQLSYNC_HUBSPOT_BASE_URL"
DEFAULT_HOST = "https://api.hubapi.com"


class HubSpotCredentials(EnvSettings):
    missing_hint = ("create a HubSpot private app with the CRM scopes and put its access token in the "
                    f"environment, in .env, or in a file named by {ENV_TOKEN}_FILE")

    access_token: SecretStr = Field(alias=ENV_TOKEN)
    base_url: str = Field(default=DEFAULT_HOST, alias=ENV_BASE_URL)

    @field_validator("base_url")
    @classmethod
    def _no_clear_text_across_a_network(cls, url: str) -> str:
        """Plain http is refused unless it points at this machine, so a typo cannot send
        a token in clear text across a network."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not a URL: {url!r}")
        if parts.scheme == "http" and not is_loopback(parts.hostname):
            raise ValueError("plain http is only allowed for 127.0.0.1/localhost (the sandbox)")
        return url.rstrip("/")
