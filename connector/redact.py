"""Secrets never reach output: every log line, error message and traceback mqlsync
prints passes through here, which blanks the credentials the environment holds and
anything shaped like one (bearer tokens, HubSpot private app tokens, Salesforce
session ids, passwords in SOAP login bodies)."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

#: environment variables that hold secrets (their values are blanked wherever they appear)
SECRET_ENV = ("HUBSPOT_ACCESS_TOKEN", "SALESFORCE_PASSWORD", "SALESFORCE_SECURITY_TOKEN", "SALESFORCE_SESSION_ID",
              "SALESFORCE_CONSUMER_KEY", "SALESFORCE_CONSUMER_SECRET")
MASK = "[redacted]"
_SHAPES = re.compile(
    r"(?i)(?<=bearer )[^\s'\"]+"                      # Authorization: Bearer <token>
    r"|pat-(?:na|eu|ap)\d-[0-9a-f-]{20,}"             # HubSpot private app tokens
    r"|00D[0-9A-Za-z]{12,15}![0-9A-Za-z._]{20,}"      # Salesforce session ids / access tokens
    r"|(?<=<sessionId>)[^<]+|(?<=password>)[^<]+"     # SOAP login bodies and responses
)


def read_secret(env: Mapping[str, str], name: str) -> str:
    """A credential from the environment, or from the file `<name>_FILE` names (a
    Docker or Kubernetes secret mounted as a file); empty when neither is set."""
    value = (env.get(name) or "").strip()
    path = (env.get(f"{name}_FILE") or "").strip()
    if value or not path:
        return value
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        from mqlsync.connector.errors import CredentialsError

        raise CredentialsError(f"{name}_FILE names {path}, which cannot be read ({type(exc).__name__})") from None


def secrets_from(env: Mapping[str, str] | None = None) -> list[str]:
    env = os.environ if env is None else env
    found = set()
    for name in SECRET_ENV:
        try:
            value = read_secret(env, name)
        except Exception:  # noqa: BLE001 - an unreadable secret file is reported where it is used
            value = (env.get(name) or "").strip()
        # Short values (a test's "x") would blank ordinary words: only real secrets count.
        if len(value) >= 6:
            found.add(value)
    return sorted(found, key=len, reverse=True)


def redact(text: str, secrets: Iterable[str] | None = None) -> str:
    for secret in secrets_from() if secrets is None else secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return _SHAPES.sub(MASK, text)


class RedactingFilter(logging.Filter):
    """A logging filter that blanks secrets in each record's final message."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self.env = env

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message, secrets_from(self.env))
        if clean != message or record.exc_info:
            if record.exc_info:
                clean += "\n" + redact(logging.Formatter().formatException(record.exc_info), secrets_from(self.env))
                record.exc_info, record.exc_text = None, None
            record.msg, record.args = clean, ()
        return True
