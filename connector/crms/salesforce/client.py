"""One Salesforce org's API under Salesforce's policy: every request counted and given a
timeout, calls retried as the policy says, the daily allocation watched, and queries read
page by page (REST, or a Bulk API 2.0 job for a large full read)."""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError, SalesforceOperationError

from mqlsync.connector.config.mapping import Limits
from mqlsync.connector.crms.salesforce.policy import salesforce_classify, salesforce_policy
from mqlsync.connector.errors import CRMUnavailable
from mqlsync.connector.http import is_loopback

log = logging.getLogger("mqlsync.salesforce")

API_VERSION = "59.0"
#: (connect, read) seconds for every request
REQUEST_TIMEOUT = (10, 60)
#: a full sync of more records than this reads through a Bulk API 2.0 query job: one
#: job and a few result pages instead of a query request per 2,000 rows
BULK_THRESHOLD = 20_000
#: share of the daily API allocation at which a run warns
USAGE_WARNING = 0.9
#: rows per Bulk API 2.0 results page, and the first wait before polling the job
BULK_PAGE, BULK_POLL_S = 50_000, 0.2


class _Transport(HTTPAdapter):
    """Every request simple-salesforce sends: counted, with a timeout (requests sets
    none), and, for a sandbox on this machine only, sent as plain http (the SDK builds
    https:// URLs from the instance's host name), the login server's calls included
    (`login_server`: the sandbox stands in for https://*.salesforce.com)."""

    def __init__(self, on_request: Callable[[], None], loopback_http: bool, login_server: str | None = None) -> None:
        super().__init__()
        self.on_request, self.loopback_http, self.login_server = on_request, loopback_http, login_server

    def send(self, request, **kwargs):  # type: ignore[override]  # requests' own signature, passed through
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = REQUEST_TIMEOUT
        parts = urlsplit(request.url)
        if self.login_server and (parts.hostname or "").endswith(".salesforce.com"):
            server = urlsplit(self.login_server)
            request.url = urlunsplit((server.scheme, server.netloc, parts.path, parts.query, ""))
        to_loopback = is_loopback(urlsplit(request.url).hostname or "")
        if self.loopback_http and request.url.startswith("https://") and to_loopback:
            request.url = "http://" + request.url[len("https://"):]
        self.on_request()
        return super().send(request, **kwargs)


class BulkJobFailed(Exception):
    """A Bulk API 2.0 query job ended Failed or Aborted."""


class SalesforceClient:
    def __init__(self, connect: Callable[[requests.Session], Salesforce], limits: Limits,
                 loopback_http: bool = False, bulk_threshold: int = BULK_THRESHOLD,
                 login_server: str | None = None) -> None:
        self.policy = salesforce_policy(limits.retry_budget_s, limits.max_requests, limits.per_seconds)
        self.bulk_threshold = bulk_threshold
        self.requests = 0
        self._usage_warned = False
        session = requests.Session()
        transport = _Transport(self._count, loopback_http, login_server)
        session.mount("https://", transport)
        session.mount("http://", transport)
        self.sf: Salesforce = self.call(connect, session)

    def _count(self) -> None:
        self.requests += 1

    def call(self, fn, *args, **kwargs):
        result = self.policy.call(fn, *args, **kwargs)
        self._check_usage()
        return result

    def _check_usage(self) -> None:
        """Warn once per run when the org's daily API allocation is nearly used: every
        response says how much is (Sforce-Limit-Info, read by simple-salesforce)."""
        usage = (getattr(getattr(self, "sf", None), "api_usage", None) or {}).get("api-usage")
        if usage is None or not usage.total or self._usage_warned:
            return
        if usage.used >= USAGE_WARNING * usage.total:
            self._usage_warned = True
            log.warning("Salesforce API usage is at %d%% of the org's daily allocation (%s of %s requests); at "
                        "100%% every integration on the org is refused until the 24-hour window frees up",
                        100 * usage.used // usage.total, f"{usage.used:,}", f"{usage.total:,}")

    def pages(self, soql: str, include_deleted: bool = False) -> Iterator[list[dict[str, Any]]]:
        """A query's rows, one REST batch (up to 2,000) at a time, by nextRecordsUrl."""
        result = self.call(self.sf.query, soql, include_deleted=include_deleted)
        while True:
            yield result["records"]
            if result["done"]:
                return
            result = self.call(self.sf.query_more, result["nextRecordsUrl"], identifier_is_url=True)

    def bulk_pages(self, obj: str, soql: str) -> Iterator[list[dict[str, Any]]]:
        """A Bulk API 2.0 query job's rows, one results page at a time (CSV, paged by
        Sforce-Locator). A refused call fails the run: the watermark has not moved, so
        the next run reads again. A job that ends Failed or Aborted raises BulkJobFailed
        (simple-salesforce raises SalesforceOperationError for it, not a SalesforceError)."""
        try:
            for text in getattr(self.sf.bulk2, obj).query(soql, max_records=BULK_PAGE, wait=BULK_POLL_S):
                yield list(csv.DictReader(io.StringIO(text)))
        except SalesforceError as exc:
            raise salesforce_classify(exc) or CRMUnavailable(
                f"Salesforce Bulk API query failed ({exc.status}); the next run reads again") from None
        except SalesforceOperationError as exc:
            raise BulkJobFailed(str(exc)) from None

    def rows(self, obj: str, fields: list[str], where: list[str], full: bool) -> Iterator[list[dict[str, Any]]]:
        """The rows of `obj` meeting `where`, page by page. An incremental read is a
        REST query, oldest first, through queryAll so deletions come through; a full
        read of more rows than the threshold is a Bulk API 2.0 query job (counted first
        with COUNT(), which Bulk API 2.0 cannot run), without ORDER BY, which Bulk API
        2.0 refuses ("Understanding Bulk API 2.0 Query", SOQL considerations)."""
        soql = f"SELECT {', '.join(fields)} FROM {obj}" + (f" WHERE {' AND '.join(where)}" if where else "")
        if full:
            counted = self.call(self.sf.query, f"SELECT COUNT() FROM {obj}"
                                 + (f" WHERE {' AND '.join(where)}" if where else ""))
            if int(counted["totalSize"]) > self.bulk_threshold:
                log.info("full read of %s through a Bulk API 2.0 query job", obj)
                try:
                    yield from self.bulk_pages(obj, soql)
                    return
                except BulkJobFailed as exc:
                    # Read again through REST, from the start: rows already read come
                    # twice, which the state and the ledger absorb.
                    log.warning("the Bulk API 2.0 query job for %s failed (%s); reading it through the REST API "
                                "instead", obj, exc)
        yield from self.pages(soql + " ORDER BY SystemModstamp, Id", include_deleted=not full)
