"""The one place for retries: a tenacity policy per CRM that knows which failures are
worth another try, waits as the CRM asks (Retry-After), and stops within a budget."""

from __future__ import annotations

import ipaddress
import logging
import random
from collections.abc import Callable
from typing import Any, TypeVar

import requests
import urllib3
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, stop_after_delay

from .errors import CRMUnavailable, CredentialsError

log = logging.getLogger("mqlsync.http")
T = TypeVar("T")

#: statuses a CRM uses for "not now": throttled, or briefly unavailable
TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})
#: the SDK's own connection pool must not retry behind our back (urllib3 honours
#: Retry-After on 429 by default): every retry is decided here
NO_SDK_RETRIES = urllib3.util.retry.Retry(total=0, connect=0, read=0, redirect=0, status=0,
                                          respect_retry_after_header=False, raise_on_status=False)


def status_of(exc: BaseException) -> int | None:
    """The HTTP status of an SDK error. hubspot-api-client's sub-packages each define
    their own ApiException with no common base, so read the attribute they share."""
    status = getattr(exc, "status", None)
    return status if isinstance(status, int) else None


def header(exc: BaseException, name: str) -> str | None:
    headers = getattr(exc, "headers", None) or {}
    try:
        return headers.get(name) or headers.get(name.lower())
    except AttributeError:
        return None


def is_loopback(host: str) -> bool:
    """127.0.0.1, ::1 or localhost: the only hosts plain http may go to (the sandbox)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_connection_error(exc: BaseException) -> bool:
    # urllib3 (hubspot-api-client) and requests (simple-salesforce) wrap the socket errors
    return isinstance(exc, (urllib3.exceptions.HTTPError, requests.exceptions.ConnectionError,
                            requests.exceptions.Timeout, ConnectionError, TimeoutError))


def is_transient(exc: BaseException) -> bool:
    return status_of(exc) in TRANSIENT_STATUSES or is_connection_error(exc)


def backoff(attempt: int, base: float = 0.5, cap: float = 30.0) -> float:
    """Exponential backoff with full jitter (so parallel clients do not retry in step)."""
    return random.uniform(0, min(cap, base * 2 ** (attempt - 1)))


def _wait(retry_state: RetryCallState) -> float:
    exc = retry_state.outcome.exception() if retry_state.outcome else None
    if exc is not None and status_of(exc) == 429:
        after = header(exc, "Retry-After")
        if after and after.replace(".", "", 1).isdigit():
            return float(after)
        # HubSpot's search limit sends 429 without Retry-After: its window is a second.
        return 1.0 + random.uniform(0, 0.25)
    return backoff(retry_state.attempt_number)


def _log_retry(retry_state: RetryCallState) -> None:
    exc = retry_state.outcome.exception() if retry_state.outcome else None
    wait = retry_state.next_action.sleep if retry_state.next_action else 0
    log.info("retrying after %s (attempt %d, waiting %.1fs)", describe(exc), retry_state.attempt_number, wait)


def describe(exc: BaseException | None) -> str:
    """A failure in one line, without bodies that could echo credentials."""
    if exc is None:
        return "no error"
    status = status_of(exc)
    if status is not None:
        return f"HTTP {status}"
    return type(exc).__name__


def call(fn: Callable[..., T], *args: Any, crm: str = "CRM", budget_s: float = 120.0, attempts: int = 8,
         sleep: Callable[[float], None] | None = None,
         transient: Callable[[BaseException], bool] = is_transient,
         classify: Callable[[BaseException], BaseException | None] | None = None, **kwargs: Any) -> T:
    """Call `fn` with the CRM's retry policy. Transient failures (`transient`) are
    retried within `budget_s`; `classify` may turn a CRM's own error into the error
    that stops the run; a refused credential raises CredentialsError; anything still
    failing after the budget raises CRMUnavailable; other errors pass through to the
    caller, which decides per record."""
    retrying = Retrying(retry=retry_if_exception(transient), wait=_wait,
                        stop=stop_after_delay(budget_s) | stop_after_attempt(attempts),
                        before_sleep=_log_retry, reraise=True, **({"sleep": sleep} if sleep else {}))
    try:
        return retrying(fn, *args, **kwargs)
    except BaseException as exc:
        known = classify(exc) if classify else None
        if known is not None:
            raise known from None
        status = status_of(exc)
        if status == 401:
            raise CredentialsError(f"{crm} refused the credentials (HTTP 401): check the token in the "
                                   "environment; it may be revoked or for another account") from None
        if status == 403:
            raise CredentialsError(f"{crm} denied access (HTTP 403): the app lacks a scope this call "
                                   "needs (see README, Credentials)") from None
        if transient(exc):
            raise CRMUnavailable(f"{crm} kept failing ({describe(exc)}) for {budget_s:.0f}s; "
                                 "nothing more was written; the next run resumes") from None
        raise
