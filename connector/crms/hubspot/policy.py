"""HubSpot's retry and pacing policy: which failures are worth another try, which stop
the run, and the limits calls are paced under."""

from __future__ import annotations

import json
from typing import Any

from mqlsync.connector.errors import CRMUnavailable, NotAllowed
from mqlsync.connector.http import Policy, RateLimiter, header, is_transient, status_of


def hubspot_policy(budget_s: float = 120.0, max_requests: int | None = 100, per_seconds: float = 10.0,
                   search_per_second: int | None = 5) -> Policy:
    """HubSpot: 429 (burst, daily or search limit), 5xx, timeouts and dropped
    connections are retried; 401 and 403 stop the run; a 400 fails the record. Calls are
    paced under the private app's burst limit, searches also under the search limit
    (API usage guidelines: 100 or 190 requests per 10 s by tier; 5 searches a second)."""
    burst = RateLimiter(max_requests, per_seconds)
    search = RateLimiter(search_per_second, 1.0)
    return Policy("HubSpot", transient=hubspot_transient, classify=hubspot_classify, budget_s=budget_s,
                  limiters=lambda fn: [burst, search] if is_search(fn) else [burst],
                  wait_floor={423: LOCK_SECONDS}, pace=burst)


def announced_limit(headers: Any) -> tuple[int, float] | None:
    """The burst limit a HubSpot response announces: X-HubSpot-RateLimit-Max requests per
    X-HubSpot-RateLimit-Interval-Milliseconds (changelog 2018-11-06, "Rate limit
    information headers will be included in HTTP responses"; also on OAuth calls since).
    Searches answer without them. None when absent or unreadable."""
    try:
        most = headers.get("X-HubSpot-RateLimit-Max")
        interval = headers.get("X-HubSpot-RateLimit-Interval-Milliseconds")
    except AttributeError:
        return None
    if not (most and interval and str(most).isdigit() and str(interval).isdigit()):
        return None
    return int(most), int(interval) / 1000


#: HubSpot's error handling guide (developers.hubspot.com/docs/api/error-handling):
#: "423 Locked ... Locks will last for 2 seconds, so if you receive a 423 error, you
#: should include a delay of at least 2 seconds"; 521-524 (Cloudflare's web server down,
#: connection timed out, origin unreachable, a timeout occurred): pause, then retry
LOCK_SECONDS = 2.0
RETRIED = frozenset({423, 521, 522, 523, 524})
#: "477 Migration in Progress ... HubSpot will return a Retry-After response header
#: indicating how many seconds to wait" (typically up to 24 hours): not worth a retry now
MIGRATING = 477


def is_search(fn) -> bool:
    """A CRM search: the SDK's do_search, or a raw POST to a /search path (meetings and
    calls), which HubSpot counts against the same per-second search limit."""
    return getattr(fn, "__name__", "") == "do_search" or bool(getattr(fn, "search", False))


def _daily_limit_reached(exc: BaseException) -> bool:
    body = str(getattr(exc, "body", "") or "")
    return status_of(exc) == 429 and ('"DAILY"' in body or header(exc, "X-HubSpot-RateLimit-Daily-Remaining") == "0")


def hubspot_transient(exc: BaseException) -> bool:
    """Worth another try: 429s, 5xx, 423 Locked and 521-524, timeouts and dropped
    connections; except the daily limit, which lasts until midnight."""
    return (is_transient(exc) or status_of(exc) in RETRIED) and not _daily_limit_reached(exc)


def _denied(exc: BaseException) -> NotAllowed:
    """A 403: the scopes HubSpot names (errors[].context.requiredScopes, category
    MISSING_SCOPES: HubSpot/hubspot-api-nodejs#268), else its own message."""
    try:
        body = json.loads(getattr(exc, "body", "") or "{}")
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    scopes = [str(s) for e in body.get("errors") or [] if isinstance(e, dict)
              for s in (e.get("context") or {}).get("requiredScopes") or []]
    if scopes:
        return NotAllowed(f"HubSpot denied the call (403): the token lacks the scope {' or '.join(scopes)}; add it "
                          "to the private app's scopes")
    return NotAllowed("HubSpot denied the call (403): " + (body.get("message") or "the app lacks a scope this call "
                                                           "needs, or the portal's tier does not include it (see "
                                                           "README, Credentials)"))


def hubspot_classify(exc: BaseException) -> BaseException | None:
    if status_of(exc) == 403:
        return _denied(exc)
    if status_of(exc) == MIGRATING:
        after = header(exc, "Retry-After")
        return CRMUnavailable("HubSpot is migrating the portal's data (477 Migration in Progress); nothing more was "
                              "written; runs resume once it is done"
                              + (f", in about {after} seconds (Retry-After)" if after else ""))
    if _daily_limit_reached(exc):
        return CRMUnavailable("HubSpot refused the call: the portal's daily API limit is used up (429, DAILY); "
                              "nothing more was written; runs resume after midnight in the portal's time zone")
    return None
