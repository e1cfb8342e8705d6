"""Salesforce's retry and pacing policy and its error vocabulary: which errorCodes are
worth another try, which stop the run, and which are the mapping's problem."""

from __future__ import annotations

import json

from mqlsync.connector.errors import ConfigError, ConfigIssue, CredentialsError, CRMUnavailable
from mqlsync.connector.http import Policy, RateLimiter, is_transient


def error_code(exc: BaseException) -> str | None:
    """The errorCode of a simple-salesforce error (its `content` is Salesforce's list
    of {message, errorCode})."""
    content = getattr(exc, "content", None)
    if isinstance(content, (bytes, str)):
        try:
            content = json.loads(content)
        except ValueError:
            return None
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return content[0].get("errorCode")
    return None


def error_message(exc: BaseException) -> str:
    """The message of a simple-salesforce error's first {message, errorCode}."""
    content = getattr(exc, "content", None)
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return str(content[0].get("message") or "")
    return ""


def concurrent_limit(exc: BaseException) -> bool:
    """REQUEST_LIMIT_EXCEEDED is two errors with one code. The org's 24-hour allocation
    ("TotalRequests Limit exceeded.") lasts until the window frees up; the limit on
    long-running requests in flight ("ConcurrentPerOrgLongTxn Limit exceeded.", or
    "ConcurrentRequest") clears in seconds. Sources: errorcodes.htm, REST API Developer
    Guide ("403 ... REQUEST_LIMIT_EXCEEDED"); Marketo Measure's Salesforce error guide
    lists the three messages under REQUEST_LIMIT_EXCEEDED as "Category: Intermittent"."""
    message = error_message(exc)
    return error_code(exc) == "REQUEST_LIMIT_EXCEEDED" and ("ConcurrentPerOrgLongTxn" in message
                                                            or "ConcurrentRequest" in message)


def salesforce_transient(exc: BaseException) -> bool:
    """Worth another try: 5xx (503 Server Unavailable), timeouts, dropped connections,
    a row another transaction holds (UNABLE_TO_LOCK_ROW), and too many long-running
    requests in flight (concurrent_limit)."""
    return is_transient(exc) or error_code(exc) == "UNABLE_TO_LOCK_ROW" or concurrent_limit(exc)


def salesforce_classify(exc: BaseException) -> BaseException | None:
    """Salesforce's errors that stop a run, with what to do about them."""
    code = error_code(exc)
    if concurrent_limit(exc):  # retried until the budget ran out
        return CRMUnavailable("Salesforce kept refusing calls: too many long-running requests are in flight in the "
                              f"org ({error_message(exc).strip()}); nothing more was written; the next run resumes")
    if code == "REQUEST_LIMIT_EXCEEDED":
        return CRMUnavailable("Salesforce refused the call: the org's API request limit is used up "
                              "(REQUEST_LIMIT_EXCEEDED); nothing more was written; the next run resumes once the "
                              "24-hour allocation frees up (Setup > Company Information shows it)")
    if code == "INVALID_SESSION_ID":
        return CredentialsError("Salesforce refused the session (INVALID_SESSION_ID): the session id or token "
                                "has expired or been revoked; log in again or use username/password or JWT")
    if code in ("INSUFFICIENT_ACCESS", "API_DISABLED_FOR_ORG", "API_CURRENTLY_DISABLED"):
        return CredentialsError(f"Salesforce denied access ({code}): the integration user needs API access and "
                                "the permissions listed in README, Credentials")
    if type(exc).__name__ == "SalesforceAuthenticationFailed":
        return CredentialsError(f"Salesforce login failed ({getattr(exc, 'code', '?')}): "
                                f"{getattr(exc, 'auth_message', '')}; check the SALESFORCE_* variables (and "
                                "SALESFORCE_DOMAIN=test for a sandbox org)")
    if code in ("INVALID_FIELD", "INVALID_TYPE"):
        # A field or object the mapping names that the org does not have (or the
        # integration user cannot see): the mapping's problem, not the run's.
        lines = str(getattr(exc, "content", [{}])[0].get("message", "")).strip().splitlines()[-1:]
        return ConfigError([ConfigIssue("mapping", None, "fields",
                                        "Salesforce refused a field or object the mapping names: "
                                        f"{lines[0] if lines else code}; check the mapping file and the "
                                        "integration user's field-level access (the fields mqlsync writes are "
                                        "made by `mqlsync setup`)")])
    return None


def salesforce_policy(budget_s: float = 120.0, max_requests: int | None = None, per_seconds: float = 10.0,
                      concurrent: int = 1) -> Policy:
    """Salesforce: retried as salesforce_transient says, stopped as salesforce_classify
    says (an expired session is renewed once by simple-salesforce itself where it can
    log in again). Salesforce has no burst window, only a daily allocation and a limit of
    25 long-running requests in flight; one connection keeps `concurrent` in flight."""
    limiter = RateLimiter(max_requests, per_seconds, concurrent)
    return Policy("Salesforce", transient=salesforce_transient, classify=salesforce_classify, budget_s=budget_s,
                  limiters=lambda fn: [limiter])
