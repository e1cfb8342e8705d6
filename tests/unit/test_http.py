"""The retry policies and the client-side rate limiter, with a fake clock: what each
CRM's failures lead to, how long it waits, and that pacing keeps under a window."""

from __future__ import annotations

import json

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceRefusedRequest

from mqlsync.connector.crms.hubspot.policy import hubspot_policy
from mqlsync.connector.crms.salesforce.policy import salesforce_policy
from mqlsync.connector.errors import ConfigError, CredentialsError, CRMUnavailable, NotAllowed
from mqlsync.connector.http import RateLimiter


class ApiError(Exception):
    """What hubspot-api-client raises: a status, headers and a body."""

    def __init__(self, status: int, headers: dict | None = None) -> None:
        super().__init__(f"HTTP {status}")
        self.status, self.headers, self.body = status, headers or {}, None


def flaky(*failures: BaseException, result: str = "ok"):
    calls = []

    def fn():
        calls.append(1)
        if len(calls) <= len(failures):
            raise failures[len(calls) - 1]
        return result

    fn.calls = calls
    return fn


def sf_error(cls, status: int, code: str, message: str | None = None):
    return cls("https://x/services/data/v59.0/query", status, "query",
               [{"message": message or code.lower(), "errorCode": code}])


def no_limits(policy):
    policy.limiters = lambda fn: []
    return policy


def test_hubspot_retries_429_and_5xx_waiting_as_the_headers_say():
    waits: list[float] = []
    policy = no_limits(hubspot_policy())
    policy.sleep = waits.append
    fn = flaky(ApiError(429, {"Retry-After": "3"}),
               ApiError(429, {"X-HubSpot-RateLimit-Remaining": "0",
                              "X-HubSpot-RateLimit-Interval-Milliseconds": "10000"}),
               ApiError(503), ConnectionResetError())
    assert policy.call(fn) == "ok" and len(fn.calls) == 5
    assert waits[0] == 3.0 and 10.0 <= waits[1] <= 10.25 and waits[2] <= 2.0 and waits[3] <= 4.0


def test_hubspot_waits_out_a_lock_retries_its_cdn_errors_and_stops_on_a_migration():
    # HubSpot's error handling guide: 423 Locked lasts 2 seconds; 521-524 are retried;
    # 477 Migration in Progress says in Retry-After how long (hours).
    waits: list[float] = []
    policy = no_limits(hubspot_policy())
    policy.sleep = waits.append
    fn = flaky(ApiError(423), ApiError(521), ApiError(522), ApiError(523), ApiError(524))
    assert policy.call(fn) == "ok" and len(fn.calls) == 6
    assert waits[0] >= 2.0 and all(w < 16 for w in waits[1:])
    migrating = flaky(ApiError(477, {"Retry-After": "3600"}))
    with pytest.raises(CRMUnavailable, match="477 Migration in Progress.*3600 seconds"):
        policy.call(migrating)
    assert len(migrating.calls) == 1


def test_hubspot_stops_the_run_on_credentials_and_fails_only_the_record_on_400():
    policy = no_limits(hubspot_policy())
    with pytest.raises(CredentialsError, match="HTTP 401"):
        policy.call(flaky(ApiError(401)))
    with pytest.raises(CredentialsError, match="lacks a scope"):  # no body to say which
        policy.call(flaky(ApiError(403)))
    refused = flaky(ApiError(400))
    with pytest.raises(ApiError):  # the caller records it against the record
        policy.call(refused)
    assert len(refused.calls) == 1


def test_retries_stop_within_the_attempts_and_say_the_next_run_resumes():
    policy = no_limits(hubspot_policy(budget_s=60))
    policy.sleep, policy.attempts = (lambda s: None), 3
    always = flaky(*[ApiError(502)] * 10)
    # It stopped at the attempts, not at the 60-second budget, and says so.
    kept = r"kept failing .HTTP 502.: 3 attempts in 0s, the most one call makes; nothing more.*next run resumes"
    with pytest.raises(CRMUnavailable, match=kept):
        policy.call(always)
    assert len(always.calls) == 3


def test_salesforce_retries_a_locked_row_and_stops_on_the_daily_limit():
    policy = no_limits(salesforce_policy())
    policy.sleep = lambda s: None
    locked = flaky(sf_error(SalesforceMalformedRequest, 400, "UNABLE_TO_LOCK_ROW"))
    assert policy.call(locked) == "ok" and len(locked.calls) == 2
    with pytest.raises(CRMUnavailable, match="API request limit is used up"):
        policy.call(flaky(sf_error(SalesforceRefusedRequest, 403, "REQUEST_LIMIT_EXCEEDED")))
    with pytest.raises(CredentialsError, match="INSUFFICIENT_ACCESS"):
        policy.call(flaky(sf_error(SalesforceRefusedRequest, 403, "INSUFFICIENT_ACCESS")))
    with pytest.raises(ConfigError):
        policy.call(flaky(sf_error(SalesforceMalformedRequest, 400, "INVALID_FIELD")))
    invalid = flaky(sf_error(SalesforceMalformedRequest, 400, "FIELD_CUSTOM_VALIDATION_EXCEPTION"))
    with pytest.raises(SalesforceMalformedRequest):  # a validation rule fails the record only
        policy.call(invalid)
    assert len(invalid.calls) == 1


def test_request_limit_exceeded_is_two_errors_one_retried_one_that_stops_the_run():
    # Same errorCode, two messages: the daily allocation, and too many long-running
    # requests in flight, which clears in seconds.
    policy = no_limits(salesforce_policy())
    policy.sleep = lambda s: None
    busy = flaky(sf_error(SalesforceRefusedRequest, 403, "REQUEST_LIMIT_EXCEEDED",
                          "ConcurrentPerOrgLongTxn Limit exceeded."))
    assert policy.call(busy) == "ok" and len(busy.calls) == 2
    with pytest.raises(CRMUnavailable, match="API request limit is used up"):
        policy.call(flaky(sf_error(SalesforceRefusedRequest, 403, "REQUEST_LIMIT_EXCEEDED",
                                   "TotalRequests Limit exceeded.")))
    policy.attempts = 3
    always = flaky(*[sf_error(SalesforceRefusedRequest, 403, "REQUEST_LIMIT_EXCEEDED", "ConcurrentRequest")] * 5)
    with pytest.raises(CRMUnavailable, match="too many long-running requests"):
        policy.call(always)
    assert len(always.calls) == 3


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_the_limiter_never_lets_more_than_the_window_allows():
    clock = FakeClock()
    limiter = RateLimiter(10, 2.0, clock=clock, sleep=clock.sleep)
    times = []
    for _ in range(35):
        limiter.acquire()
        times.append(clock.now)
        clock.now += 0.01  # each request takes 10 ms
    for i, t in enumerate(times):
        assert sum(1 for u in times if t <= u < t + 2.0) <= 10, i
    assert times[9] < 0.1 and times[10] >= 2.0  # ten at once, then the window makes room
    assert times[-1] < 6.6  # and no slower than the window (and its 5% margin) requires


def test_hubspot_paces_searches_under_their_own_limit():
    clock = FakeClock()
    policy = hubspot_policy(max_requests=100, per_seconds=10, search_per_second=5)

    def do_search():
        return clock.now

    for limiter in policy.limiters(do_search):
        limiter.clock, limiter.sleep = clock, clock.sleep

    at = [policy.call(do_search) for _ in range(12)]
    assert at[4] == 0 and at[5] >= 1.0 and at[10] >= 2.0


def test_raw_searches_go_through_the_search_limiter_too():
    from mqlsync.connector.crms.hubspot.policy import is_search

    def do_search():
        return None

    def send():
        return None

    send.search = True
    policy = hubspot_policy()
    assert len(policy.limiters(do_search)) == len(policy.limiters(send)) == 2
    assert not is_search(lambda: None) and len(policy.limiters(lambda: None)) == 1


def test_a_hubspot_403_names_the_scopes_hubspot_lists():
    denied = ApiError(403)
    denied.body = json.dumps({"status": "error", "category": "MISSING_SCOPES", "message": "This app hasn't been "
                              "granted all required scopes to make this call.", "errors": [
                                  {"message": "One or more of the following scopes are required.",
                                   "context": {"requiredScopes": ["content"]}}]})
    with pytest.raises(NotAllowed, match="the token lacks the scope content; add it to the private app"):
        no_limits(hubspot_policy()).call(flaky(denied))
