"""Bulk API 2.0 query jobs for the sandbox org: create, poll, and read CSV results page
by page with Sforce-Locator (Bulk API 2.0 and Bulk API Developer Guide, "Query Jobs":
https://developer.salesforce.com/docs/atlas.en-us.api_asynch.meta/api_asynch/query_create_job.htm,
query_get_one_job.htm, query_get_job_results.htm)."""

from __future__ import annotations

import csv
import io
import re
import uuid
from typing import TYPE_CHECKING, Any

from mqlsync.connector.crms.salesforce.sandbox.schema import error, sf_datetime
from mqlsync.connector.crms.salesforce.sandbox.soql import SoqlError
from mqlsync.connector.sandbox.server import Request, Response

if TYPE_CHECKING:
    from mqlsync.connector.crms.salesforce.sandbox.org import SalesforceSandbox

#: results per page when maxRecords is not given; Salesforce picks a size by volume
#: ("Get Results for a Query Job": maxRecords is optional)
DEFAULT_MAX_RECORDS = 50_000


class BulkJobs:
    """The org's Bulk API 2.0 query jobs, run over `org`'s records."""

    def __init__(self, org: SalesforceSandbox) -> None:
        self.org = org
        self.jobs: dict[str, dict[str, Any]] = {}
        #: how many of the next jobs end Failed (a fault a test or an admin endpoint sets)
        self.fail_next = 0

    def routes(self, v: str) -> list:
        return [
            ("POST", re.compile(v + r"/jobs/query/?"), self.bulk_create),
            ("GET", re.compile(v + r"/jobs/query/(750\w+)/?"), self.bulk_get),
            ("GET", re.compile(v + r"/jobs/query/(750\w+)/results/?"), self.bulk_results),
        ]

    def bulk_create(self, request: Request, m: re.Match) -> Response:
        """POST /jobs/query {operation: query|queryAll, query, columnDelimiter, lineEnding}."""
        body = request.body if isinstance(request.body, dict) else {}
        operation = body.get("operation")
        if operation not in ("query", "queryAll"):
            return error(400, "INVALIDJOB", f"Invalid operation: {operation}")
        if body.get("columnDelimiter", "COMMA") != "COMMA" or body.get("lineEnding", "LF") != "LF":
            return error(400, "INVALIDJOB", "the sandbox serves COMMA-delimited, LF-terminated CSV only")
        try:
            query = self.org._parse(str(body.get("query") or ""))
        except SoqlError as exc:
            return error(400, exc.code, exc.message)
        # "Understanding Bulk API 2.0 Query", SOQL considerations: no aggregate functions;
        # ORDER BY and LIMIT are listed as unsupported (they disable PK chunking).
        if query.count:
            return error(400, "INVALIDJOB", "Bulk API 2.0 does not support COUNT() queries")
        if query.order or query.limit is not None:
            return error(400, "INVALIDJOB", "Bulk API 2.0 query jobs do not support ORDER BY or LIMIT")
        # The job's rows are taken now; Salesforce runs the query asynchronously, which
        # a client sees only as the states it polls through.
        rows = self.org.rows(query, include_deleted=operation == "queryAll")
        job_id = "750" + uuid.uuid4().hex[:15].upper()
        created = sf_datetime(self.org.now())
        self.jobs[job_id] = {
            "info": {"id": job_id, "operation": operation, "object": query.object, "createdById": "005000000000001AAA",
                     "createdDate": created, "systemModstamp": created, "state": "UploadComplete",
                     "concurrencyMode": "Parallel", "contentType": "CSV", "apiVersion": float(m.group(1)),
                     "lineEnding": "LF", "columnDelimiter": "COMMA"},
            "object": query.object, "fields": query.fields, "rows": rows, "polls": 0,
            "fails": self.fail_next > 0,
        }
        self.fail_next = max(0, self.fail_next - 1)
        return Response(200, dict(self.jobs[job_id]["info"]))

    def bulk_get(self, request: Request, m: re.Match) -> Response:
        """GET /jobs/query/{id}: UploadComplete, then InProgress, then JobComplete."""
        job = self.jobs.get(m.group(2))
        if job is None:
            return error(404, "NOT_FOUND", "The requested resource does not exist")
        job["polls"] += 1
        state = "InProgress" if job["polls"] == 1 and len(job["rows"]) > 10_000 else "JobComplete"
        if job["fails"]:
            # A job can end Failed, with the reason in errorMessage ("Get Information About
            # a Query Job", Bulk API 2.0 and Bulk API Developer Guide).
            state = "Failed"
            job["info"]["errorMessage"] = "InternalServerError: the query job could not be completed"
        job["info"]["state"] = state
        info = dict(job["info"])
        if state == "JobComplete":
            info.update(numberRecordsProcessed=len(job["rows"]), retries=0, totalProcessingTime=len(job["rows"]) // 50)
        return Response(200, info)

    def bulk_results(self, request: Request, m: re.Match) -> Response:
        """GET /jobs/query/{id}/results?maxRecords=&locator=: CSV with a header row, every
        value quoted, nulls empty; Sforce-Locator names the next page ("null" at the end)
        and Sforce-NumberOfRecords counts this one."""
        job = self.jobs.get(m.group(2))
        if job is None:
            return error(404, "NOT_FOUND", "The requested resource does not exist")
        if job["info"]["state"] != "JobComplete":
            return error(400, "INVALIDJOB", "Job is not complete: results are not available yet")
        size = int(request.arg("maxRecords") or DEFAULT_MAX_RECORDS)
        start = int(request.arg("locator") or 0) if (request.arg("locator") or "0").isdigit() else -1
        if start < 0:
            return error(400, "INVALIDLOCATOR", "Invalid locator")
        page = job["rows"][start:start + size]
        out = io.StringIO()
        writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
        writer.writerow(job["fields"])
        for record in page:
            writer.writerow([_csv(self.org.runner.value(job["object"], record, f)) for f in job["fields"]])
        more = start + size < len(job["rows"])
        headers = {"Content-Type": "text/csv", "Sforce-NumberOfRecords": str(len(page)),
                   "Sforce-Locator": str(start + size) if more else "null"}
        return Response(200, raw=out.getvalue().encode("utf-8"), headers=headers)


def _csv(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if hasattr(value, "tzinfo"):
        return str(sf_datetime(value)).replace("+0000", "Z")
    return str(value)
