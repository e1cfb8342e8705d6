"""Retries and pacing for every CRM: a tenacity policy that knows, through the CRM's own
rules (its folder's policy.py), which
failures are worth another try, which stop the run and which fail only the record,
waits as the CRM asks (Retry-After, rate-limit headers), stops within a time budget,
and paces requests under the CRM's limits with a client-side rate limiter."""

from __future__ import annotations

import ipaddress
import logging
import random
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
import urllib3
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, stop_after_delay, stop_any
from tenacity.stop import stop_base

from mqlsync.connector.errors import CredentialsError, CRMUnavailable

log = logging.getLogger("mqlsync.http")
T = TypeVar("T")

#: statuses a CRM uses for "not now": throttled, or briefly unavailable
TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})
#: tries before an address that never answered is taken as wrong (a second or two)
UNREACHABLE_ATTEMPTS = 3
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


def _causes(exc: BaseException | None, depth: int = 0) -> list[BaseException]:
    """The exception and what it wraps (urllib3's reason, requests' first argument,
    the exception it was raised from)."""
    if exc is None or depth > 6:
        return []
    inner = [getattr(exc, "reason", None), exc.args[0] if exc.args else None, exc.__cause__, exc.__context__]
    return [exc] + [c for i in inner if isinstance(i, BaseException) for c in _causes(i, depth + 1)]


def is_unreachable(exc: BaseException | None) -> bool:
    """Nothing listens at the address, or the host name does not resolve: the address
    is wrong far more often than the CRM is down."""
    return any(isinstance(c, (urllib3.exceptions.NewConnectionError, ConnectionRefusedError, socket.gaierror))
               or type(c).__name__ == "NameResolutionError" for c in _causes(exc))


def address_of(exc: BaseException | None) -> str | None:
    """The address a failed call went to, where the exception tells."""
    for cause in _causes(exc):
        url = getattr(getattr(cause, "request", None), "url", None)
        if url:
            parts = urlsplit(str(url))
            return f"{parts.scheme}://{parts.netloc}"
        pool = getattr(cause, "pool", None) or getattr(cause, "conn", None)
        host = getattr(pool, "host", None)
        if host:
            return f"{getattr(pool, 'scheme', None) or 'http'}://{host}:{getattr(pool, 'port', '')}"
    return None


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
        # HubSpot's burst limit says when its window resets; its search limit sends
        # neither header, and its window is a second.
        interval = header(exc, "X-HubSpot-RateLimit-Interval-Milliseconds")
        if header(exc, "X-HubSpot-RateLimit-Remaining") == "0" and interval and interval.isdigit():
            return int(interval) / 1000 + random.uniform(0, 0.25)
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
    reason = getattr(exc, "reason", None)  # urllib3 wraps the socket error in MaxRetryError
    if isinstance(reason, BaseException):
        return describe(reason)
    name = type(exc).__name__
    if "Timeout" in name:
        return f"no answer in time ({name})"
    if isinstance(exc, (urllib3.exceptions.ProtocolError, requests.exceptions.ConnectionError, ConnectionError)):
        return f"connection failed or dropped ({name})"
    return name


class _NeverReached(stop_base):
    """Stop retrying an address that never answered once it failed UNREACHABLE_ATTEMPTS times."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    def __call__(self, state: RetryCallState) -> bool:
        exc = state.outcome.exception() if state.outcome else None
        return not self.policy.reached and is_unreachable(exc) and state.attempt_number >= UNREACHABLE_ATTEMPTS


class RateLimiter:
    """Client-side pacing: at most `max_requests` in any `per_seconds` window (a sliding
    window over the times of recent requests), and at most `concurrent` in flight, so a
    connection stays under the CRM's limits and 429s are the exception."""

    def __init__(self, max_requests: int | None, per_seconds: float = 10.0, concurrent: int = 1,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                 margin: float = 0.05) -> None:
        # The CRM counts a request when it arrives, not when it is sent: a window a
        # little longer than the CRM's absorbs the difference in latency.
        self.max_requests, self.per_seconds = max_requests, per_seconds * (1 + margin)
        self.clock, self.sleep = clock, sleep
        self.sent: deque[float] = deque()
        self.lock = threading.Lock()
        self.in_flight = threading.BoundedSemaphore(concurrent)
        self.waited_s = 0.0

    def tighten(self, max_requests: int, per_seconds: float, margin: float = 0.05) -> bool:
        """Pace under a lower limit the CRM announced (never a higher one: the mapping's
        is the admin's ceiling). True when this lowered the pace."""
        if max_requests <= 0 or per_seconds <= 0:
            return False
        window = per_seconds * (1 + margin)
        with self.lock:
            if self.max_requests and max_requests / window >= self.max_requests / self.per_seconds:
                return False
            self.max_requests, self.per_seconds = max_requests, window
            return True

    def acquire(self) -> None:
        if not self.max_requests:
            return
        with self.lock:
            while True:
                now = self.clock()
                while self.sent and now - self.sent[0] >= self.per_seconds:
                    self.sent.popleft()
                if len(self.sent) < self.max_requests:
                    self.sent.append(now)
                    return
                wait = self.per_seconds - (now - self.sent[0]) + 0.001
                self.waited_s += wait
                self.sleep(wait)

    def __enter__(self) -> RateLimiter:
        self.in_flight.acquire()
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.in_flight.release()


@dataclass
class Policy:
    """How one CRM's calls are retried, paced and stopped: which failures are worth
    another try (`transient`), which stop the run with a message (`classify`), the time
    budget for retrying one call, and the client-side rate limiters (`limiters(fn)`
    picks the ones a call goes through: every call the burst limiter, searches also
    the search limiter)."""

    crm: str
    transient: Callable[[BaseException], bool] = is_transient
    classify: Callable[[BaseException], BaseException | None] = lambda exc: None
    budget_s: float = 120.0
    attempts: int = 8
    limiters: Callable[[Callable[..., Any]], list[RateLimiter]] = lambda fn: []
    sleep: Callable[[float], None] | None = None
    #: the least wait before retrying a status, where the CRM says how long it lasts
    wait_floor: dict[int, float] = field(default_factory=dict)
    #: the limiter every call goes through, which a lower limit the CRM announces tightens
    pace: RateLimiter | None = None
    #: whether a call ever got an answer: until one does, an address nothing listens at
    #: is a wrong address, given up after UNREACHABLE_ATTEMPTS, not the whole budget
    reached: bool = field(default=False, init=False)

    def call(self, fn: Callable[..., T], *args: Any, idempotent: bool = True, **kwargs: Any) -> T:
        """Call `fn` under the policy. Transient failures are retried with exponential
        backoff and jitter (or as Retry-After and the rate-limit headers ask) within
        the budget; a failure the CRM names as stopping the run raises its error; a
        refused credential raises CredentialsError; still failing after the budget,
        CRMUnavailable; anything else (a refused record) passes to the caller.
        A call that is not `idempotent` (creating records) is retried only when the
        CRM surely did nothing (429); after a 5xx or a dropped connection it may have,
        so the error goes to the caller, which looks before it sends again."""
        limiters = self.limiters(fn)
        retry_on = self.transient if idempotent else (lambda exc: status_of(exc) == 429)

        def paced(*a: Any, **k: Any) -> T:
            for limiter in limiters:
                limiter.acquire()
            try:
                result = fn(*a, **k)
            except BaseException as exc:
                self.reached = self.reached or status_of(exc) is not None
                raise
            self.reached = True
            return result


        sleep: dict[str, Any] = {"sleep": self.sleep} if self.sleep else {}
        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            return max(_wait(state), self.wait_floor.get(status_of(exc) or 0, 0.0) if exc else 0.0)

        retrying = Retrying(retry=retry_if_exception(retry_on), wait=wait,
                            stop=stop_any(stop_after_delay(self.budget_s), stop_after_attempt(self.attempts),
                                          _NeverReached(self)),
                            before_sleep=_log_retry, reraise=True, **sleep)
        try:
            return retrying(paced, *args, **kwargs)
        except BaseException as exc:
            known = self.classify(exc)
            if known is not None:
                raise known from None
            status = status_of(exc)
            if status == 401:
                raise CredentialsError(f"{self.crm} refused the credentials (HTTP 401): check the token in the "
                                       "environment; it may be revoked or for another account") from None
            if status == 403:
                raise CredentialsError(f"{self.crm} denied access (HTTP 403): the app lacks a scope this call "
                                       "needs (see README, Credentials)") from None
            if not self.reached and is_unreachable(exc):
                raise CRMUnavailable(f"{self.crm} cannot be reached at {address_of(exc) or 'its address'} "
                                     f"({describe(exc)}: nothing answers there, or the host name is unknown); check "
                                     "the address in the environment; nothing was read or written") from None
            if retry_on(exc):
                stats = retrying.statistics
                tries, spent = stats.get("attempt_number", 1), stats.get("delay_since_first_attempt", 0)
                # Say which limit ended it: the attempts one call may make, or the time.
                ended = (f"{tries} attempts in {spent:.0f}s, the most one call makes" if tries >= self.attempts
                         else f"{tries} attempts in {spent:.0f}s (budget {self.budget_s:.0f}s)")
                raise CRMUnavailable(f"{self.crm} kept failing ({describe(exc)}): {ended}; nothing more was "
                                     "written; the next run resumes") from None
            raise
