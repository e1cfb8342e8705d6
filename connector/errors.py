"""The errors a user can cause, one type each, carrying what is needed to fix them."""

from __future__ import annotations

from dataclasses import dataclass


class MqlsyncError(Exception):
    """Base of every error the CLI turns into one clear line and exit code 2."""

    exit_code = 2


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in a configuration file, located by file, line and field."""

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class ConfigError(MqlsyncError):
    """A mapping or scoring-model file is wrong; every issue found is listed."""

    def __init__(self, issues: list[ConfigIssue]):
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


class CredentialsError(MqlsyncError):
    """A credential is missing or refused. The message names the variable, never its value."""


class NotAllowed(CredentialsError):
    """The credentials work, but their scopes or the account's plan do not allow this
    call. For an activity source, the run skips that source and goes on."""


class SetupNeeded(MqlsyncError):
    """The CRM lacks fields mqlsync writes: `mqlsync setup` makes them."""


class CRMUnavailable(MqlsyncError):
    """The CRM (or the sandbox) cannot be reached or keeps failing: not the user's
    mistake, so not exit code 2 (69 is EX_UNAVAILABLE, sysexits.h)."""

    exit_code = 69


class InputError(MqlsyncError):
    """A data file given on the command line cannot be read at all."""


@dataclass(frozen=True)
class RecordRejected:
    """One input record that could not be used: reported, skipped, picked up next run."""

    source: str
    line: int | None
    reason: str
    record_id: str | None = None

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        rid = f" ({self.record_id})" if self.record_id else ""
        return f"{where}{rid}: {self.reason}"


class ConnectionBusy(MqlsyncError):
    """Another run holds the connection's lock: this run did nothing. Its own exit code
    (EX_TEMPFAIL of sysexits.h, "try again later"), so a cron wrapper or a monitor can
    tell it from a failure (1), a mistake in the input (2) or a bug (3)."""

    exit_code = 75

    def __init__(self, connection: str, holder: str, wait: float = 0.0) -> None:
        self.connection, self.holder = connection, holder
        waited = f"waited {wait:g} s and did nothing" if wait > 0 else "did nothing"
        super().__init__(f"{connection}: another run holds this connection's lock ({holder}); this run {waited}. "
                         "Try again when it ends, or pass --wait SECONDS.")
