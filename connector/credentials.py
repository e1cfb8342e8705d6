"""Credentials as typed settings: each CRM declares its own as a pydantic model whose
field aliases are the environment variables they come from (each also readable from
the file `<NAME>_FILE` names, as Docker and Kubernetes mount secrets). Secrets are
`SecretStr`, so no repr, log line or error shows them."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, ValidationError

from mqlsync.connector.errors import ConfigError, ConfigIssue, CredentialsError
from mqlsync.connector.redact import read_secret


class EnvSettings(BaseModel):
    """Settings read from the environment by their aliases."""

    model_config = ConfigDict(frozen=True, extra="ignore", hide_input_in_errors=True)
    #: what to tell the admin when a required variable is missing
    missing_hint: ClassVar[str] = ""

    @classmethod
    def variables(cls) -> list[str]:
        return [f.alias or name for name, f in cls.model_fields.items()]

    @classmethod
    def present_in(cls, env: Mapping[str, str]) -> dict[str, Any]:
        """The variables of this class that `env` sets (directly or by _FILE)."""
        return {name: value for name in cls.variables() if (value := read_secret(env, name))}

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Self:
        """Read and check; a missing variable is a CredentialsError, a malformed one a
        ConfigError naming the variable (exit code 2 either way)."""
        env = os.environ if env is None else env
        try:
            return cls.model_validate(cls.present_in(env))
        except ValidationError as exc:
            missing = [str(e["loc"][0]) for e in exc.errors() if e["type"] == "missing"]
            if missing:
                raise CredentialsError(f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set"
                                       + (f": {cls.missing_hint}" if cls.missing_hint else "")) from None
            raise ConfigError([ConfigIssue("environment", None, str(e["loc"][0]) if e["loc"] else "",
                                           str(e["msg"]).removeprefix("Value error, "))
                               for e in exc.errors()]) from None
