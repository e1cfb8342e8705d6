"""A Salesforce org in memory, answering the REST API requests simple-salesforce sends
for mqlsync: SOQL query/queryAll with query locators, sObject describe, single and
collection create/update/upsert/delete, limits, and the Tooling API's CustomField;
Bulk API 2.0 query jobs are BulkJobs (bulk.py); saving records is Saves (write.py).

Each behaviour cites the REST API Developer Guide page it follows
(https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/)."""

from __future__ import annotations

import re
import threading
import time
import uuid
from datetime import UTC, date, datetime
from typing import Any

from mqlsync.connector.crms.salesforce.sandbox.access import FieldAccess
from mqlsync.connector.crms.salesforce.sandbox.bulk import BulkJobs
from mqlsync.connector.crms.salesforce.sandbox.oauth import ConnectedApp, OAuth
from mqlsync.connector.crms.salesforce.sandbox.schema import (
    API_VERSION,
    KEY_PREFIX,
    METADATA_TYPES,
    STANDARD,
    Ids,
    error,
    field_def,
    sf_datetime,
)
from mqlsync.connector.crms.salesforce.sandbox.soap import Soap
from mqlsync.connector.crms.salesforce.sandbox.soql import (
    POLYMORPHIC,
    Query,
    Runner,
    SoqlError,
    parse,
    parse_datetime,
)
from mqlsync.connector.crms.salesforce.sandbox.write import Saves
from mqlsync.connector.sandbox.server import Emulation, Request, Response

V = r"/services/data/v(\d+\.\d)"
# "Execute a SOQL Query": up to 2,000 records a batch; the Sforce-Query-Options header's
# batchSize takes 200 to 2,000 (REST API guide, "Query Options Header").
QUERY_BATCH, QUERY_BATCH_MIN = 2000, 200
# Daily API request allocation of a Developer Edition org (15,000); Enterprise orgs get
# 100,000 plus per-licence requests ("API Request Limits and Allocations").
DAILY_LIMIT = 15_000
#: relationship name -> (reference field, parent object), per object
RELATIONSHIPS: dict[str, dict[str, tuple[str, str]]] = {
    obj: {extra["relationshipName"]: (name, extra["referenceTo"][0]) for name, t, extra in fields
          if t == "reference" and extra.get("relationshipName") and len(extra.get("referenceTo", [])) == 1}
    for obj, fields in STANDARD.items()}


#: the most a REST request's URI and headers may take together (see too_long)
MAX_REQUEST_BYTES = 16_384


class SalesforceSandbox(Emulation):
    """The org: records by object, their describe metadata, and the API limits."""

    name = "salesforce"

    def __init__(self, session_id: str = "sandbox-session", daily_limit: int = 1_000_000) -> None:
        self.session_id = session_id
        self.lock = threading.RLock()
        self.ids = Ids()
        self.fields: dict[str, dict[str, dict[str, Any]]] = {}
        self.prefixes: dict[str, str] = dict(KEY_PREFIX)
        self.relationships = {obj: dict(rels) for obj, rels in RELATIONSHIPS.items()}
        for obj, defs in STANDARD.items():
            self.fields[obj] = {name: field_def(name, type_, extra) for name, type_, extra in defs}
        self.records: dict[str, dict[str, dict[str, Any]]] = {obj: {} for obj in self.fields}
        self.access = FieldAccess(self)
        #: object -> fields whose history the org keeps (Setup: Set History Tracking)
        self.tracked: dict[str, set[str]] = {"Lead": {"Status"}, "Contact": set()}
        self.cursors: dict[str, tuple[str, list[dict[str, Any]]]] = {}
        self.daily_limit, self.daily_used = daily_limit, 0
        #: ids whose writes fail with UNABLE_TO_LOCK_ROW (another transaction holds them)
        self.locked: set[str] = set()
        self.last_ms = 0
        self.types = _TypesView(self)
        self.runner = Runner(self.types, self.relationships, self.get, self.object_of)
        self.saves = Saves(self)
        self.bulk = BulkJobs(self)
        #: the user the API session acts as (the integration user)
        self.user_id = self.insert("User", {"Name": "mqlsync Integration", "Email": "integration@mqlsync.example",
                                            "IsActive": True, "UserPermissionsMarketingUser": True})
        self.routes = [
            ("GET", re.compile(r"/services/oauth2/userinfo/?"), self.userinfo),
            ("GET", re.compile(V + r"/(query|queryAll)/?"), self.query),
            ("GET", re.compile(V + r"/(query|queryAll)/(01g[\w]+-\d+)"), self.query_more),
            ("GET", re.compile(r"/services/data/?"), self.versions),
            ("GET", re.compile(V + r"/sobjects/?"), self.global_describe),
            ("GET", re.compile(V + r"/sobjects/(\w+)/describe/?"), self.describe),
            ("GET", re.compile(V + r"/sobjects/(\w+)/(\w+)/([^/]+)/?"), self.get_by_external_id),
            ("PATCH", re.compile(V + r"/sobjects/(\w+)/(\w+)/([^/]+)/?"), self.saves.upsert_one),
            ("DELETE", re.compile(V + r"/sobjects/(\w+)/(\w{15,18})/?"), self.saves.delete_one),
            ("POST", re.compile(V + r"/sobjects/(\w+)/?"), self.saves.create_one),
            ("GET", re.compile(V + r"/sobjects/(\w+)/(\w{15,18})/?"), self.get_one),
            ("PATCH", re.compile(V + r"/sobjects/(\w+)/(\w{15,18})/?"), self.saves.update_one),
            ("POST", re.compile(V + r"/composite/sobjects/?"), self.saves.collection_create),
            ("PATCH", re.compile(V + r"/composite/sobjects/?"), self.saves.collection_update),
            ("PATCH", re.compile(V + r"/composite/sobjects/(\w+)/(\w+)/?"), self.saves.collection_upsert),
            ("DELETE", re.compile(V + r"/composite/sobjects/?"), self.saves.collection_delete),
            ("GET", re.compile(V + r"/limits/?"), self.limits),
            ("POST", re.compile(V + r"/tooling/sobjects/CustomField/?"), self.create_custom_field),
            *self.bulk.routes(V),
        ]
        self.oauth = OAuth(self)
        self.routes += self.oauth.routes() + Soap(self).routes()

    # --- the org's data -------------------------------------------------------------

    def now(self) -> datetime:
        """The org's clock, in whole milliseconds, never running backward."""
        ms = max(int(time.time() * 1000), self.last_ms)
        self.last_ms = ms
        return datetime.fromtimestamp(ms / 1000, UTC)

    def define(self, obj: str, name: str, type_: str, extra: dict[str, Any] | None = None,
               label: str | None = None) -> None:
        """Add a custom field (or a custom object, on its first field) to the org."""
        with self.lock:
            if obj not in self.fields:
                self.fields[obj] = {n: field_def(n, t, e) for n, t, e in _COMMON_CUSTOM}
                self.records[obj] = {}
                self.relationships[obj] = {}
                self.prefixes[obj] = f"a0{chr(ord('A') + len([o for o in self.fields if o.endswith('__c')]))}"
            extra = dict(extra or {})
            self.types.cache.pop(obj, None)
            self.fields[obj][name] = field_def(name, type_, extra, custom=name.endswith("__c"), label=label)
            if type_ == "reference" and extra.get("referenceTo"):
                rel = name[:-3] + "__r" if name.endswith("__c") else name.removesuffix("Id")
                self.fields[obj][name]["relationshipName"] = rel
                self.relationships[obj][rel] = (name, extra["referenceTo"][0])

    def member_statuses(self, campaign: str | None) -> dict[str, bool]:
        """A campaign's member statuses (label -> HasResponded)."""
        return {str(r["Label"]): bool(r["HasResponded"]) for r in self.records["CampaignMemberStatus"].values()
                if r["CampaignId"] == campaign and not r["IsDeleted"]}

    def object_of(self, record_id: str | None) -> str | None:
        if not record_id:
            return None
        prefix = str(record_id)[:3]
        return next((obj for obj, p in self.prefixes.items() if p == prefix), None)

    def get(self, obj: str, record_id: str | None) -> dict[str, Any] | None:
        return self.records.get(obj, {}).get(record_id) if record_id else None

    def insert(self, obj: str, values: dict[str, Any], at: datetime | None = None) -> str:
        """Create a record as a user of the org would (no validation, no API count)."""
        with self.lock:
            when = at or self.now()
            record_id = self.ids.new(self.prefixes[obj])
            # A checkbox is never null in Salesforce: false until set.
            record: dict[str, Any] = {name: (False if meta["type"] == "boolean" else None)
                                      for name, meta in self.fields[obj].items()}
            record.update({"Id": record_id, "IsDeleted": False, "CreatedDate": when, "LastModifiedDate": when,
                           "SystemModstamp": max(when, self.now()) if at else when})
            for name, value in values.items():
                record[self._canonical(obj, name) or name] = _stored(self.fields[obj].get(name), value)
            self._derive(obj, record)
            self.records[obj][record_id] = record
            self.access.changed(obj)
            return record_id

    def touch(self, obj: str, record_id: str, values: dict[str, Any]) -> None:
        """Change a record as a user would; moves LastModifiedDate and SystemModstamp."""
        with self.lock:
            record = self.records[obj][record_id]
            now = self.now()
            for name, value in values.items():
                canonical = self._canonical(obj, name) or name
                old, new = record.get(canonical), _stored(self.fields[obj].get(canonical), value)
                record[canonical] = new
                if canonical in self.tracked.get(obj, ()) and old != new:
                    self.insert(f"{obj}History", {f"{obj}Id": record_id, "Field": canonical, "OldValue": old,
                                                  "NewValue": new, "DataType": self.fields[obj][canonical]["type"]},
                                at=now)
            record["LastModifiedDate"] = record["SystemModstamp"] = now
            self._derive(obj, record)
            self.access.changed(obj)

    def _derive(self, obj: str, record: dict[str, Any]) -> None:
        if obj == "CampaignMember":
            # LeadOrContactId: the contact once there is one (a converted lead's member
            # row gets the ContactId), else the lead (Object Reference, CampaignMember).
            record["LeadOrContactId"] = record.get("ContactId") or record.get("LeadId")
            # HasResponded: as the campaign's member status says (CampaignMemberStatus).
            statuses = self.member_statuses(record.get("CampaignId"))
            responded = statuses.get(str(record.get("Status") or ""), False)
            record["HasResponded"] = responded
            if responded and not record.get("FirstRespondedDate"):
                record["FirstRespondedDate"] = record["SystemModstamp"].date().isoformat()
        if obj == "Task" and record.get("TaskSubtype") is None:
            record["TaskSubtype"] = "Task"
        if obj == "Campaign" and record.get("Id") not in self.records["Campaign"]:
            # "New campaigns have two default member status values: Sent and Responded"
            # (Salesforce help), Sent the default.
            campaign = record["Id"]
            self.records["Campaign"][campaign] = record
            for order, (label, responded) in enumerate((("Sent", False), ("Responded", True)), 1):
                self.insert("CampaignMemberStatus", {"CampaignId": campaign, "Label": label, "HasResponded": responded,
                                                     "IsDefault": label == "Sent", "SortOrder": order})
        if obj == "Opportunity":
            record["IsWon"] = record.get("StageName") == "Closed Won"
            record["IsClosed"] = record.get("StageName") in ("Closed Won", "Closed Lost")

    def convert_lead(self, lead_id: str) -> str:
        """Convert a lead with no opportunity; the Contact it became."""
        return str(self.convert(lead_id)["contactId"])

    def convert(self, lead_id: str, opportunity: str | None = None) -> dict[str, str | None]:
        """Lead conversion as Salesforce does it: an Account from the company and a
        Contact with the lead's data (standard fields, and custom fields the admin maps,
        here those of the same name), an Opportunity named `opportunity` with the
        Contact in its primary contact role when one is asked for, the lead marked
        converted (and no longer updatable), its activities and campaign memberships
        moved to the contact ("Convert Leads" and "Map Custom Lead Fields for Lead
        Conversion", Salesforce help; "convertLead()", SOAP API)."""
        with self.lock:
            lead = self.records["Lead"][lead_id]
            account_id = self.insert("Account", {
                "Name": lead["Company"], "NumberOfEmployees": lead["NumberOfEmployees"], "Industry": lead["Industry"],
                "BillingCountry": lead["Country"], "BillingCity": lead["City"], "OwnerId": lead["OwnerId"]})
            copy = {"AccountId": account_id, "FirstName": lead["FirstName"], "LastName": lead["LastName"],
                    "Email": lead["Email"], "Title": lead["Title"], "Phone": lead["Phone"],
                    "MailingCountry": lead["Country"], "MailingCity": lead["City"], "LeadSource": lead["LeadSource"],
                    "OwnerId": lead["OwnerId"], "HasOptedOutOfEmail": lead["HasOptedOutOfEmail"]}
            copy.update({name: lead.get(name) for name in self.fields["Lead"]
                         if name.endswith("__c") and name in self.fields["Contact"] and lead.get(name) is not None})
            contact_id = self.insert("Contact", copy)
            self.touch("Lead", lead_id, {"IsConverted": True, "ConvertedContactId": contact_id,
                                         "Status": "Closed - Converted",
                                         "ConvertedDate": date.today().isoformat()})
            for obj in ("Task", "Event"):
                for record in self.records[obj].values():
                    if record.get("WhoId") == lead_id:
                        self.touch(obj, record["Id"], {"WhoId": contact_id})
            for record in self.records["CampaignMember"].values():
                if record.get("LeadId") == lead_id:
                    self.touch("CampaignMember", record["Id"], {"ContactId": contact_id})
            deal = None
            if opportunity:
                deal = self.insert("Opportunity", {"Name": opportunity, "AccountId": account_id,
                                                   "StageName": "Prospecting", "OwnerId": lead["OwnerId"],
                                                   "CloseDate": date.today().isoformat()})
                self.insert("OpportunityContactRole", {"OpportunityId": deal, "ContactId": contact_id,
                                                       "IsPrimary": True})
                self.touch("Lead", lead_id, {"ConvertedOpportunityId": deal})
            return {"accountId": account_id, "contactId": contact_id, "opportunityId": deal}

    def merge(self, obj: str, master: str, victim: str) -> None:
        """Merge two Leads or two Contacts as Salesforce does: the victim is deleted with
        MasterRecordId naming the master (queryAll shows it), and its activities and
        campaign memberships move to the master ("merge()", SOAP API; "Merge Duplicate
        Leads", Salesforce help)."""
        with self.lock:
            field = "LeadId" if obj == "Lead" else "ContactId"
            for kind in ("Task", "Event"):
                for record in self.records[kind].values():
                    if record.get("WhoId") == victim:
                        self.touch(kind, record["Id"], {"WhoId": master})
            for record in self.records["CampaignMember"].values():
                if record.get(field) == victim:
                    self.touch("CampaignMember", record["Id"], {field: master})
            self.touch(obj, victim, {"IsDeleted": True, "MasterRecordId": master})
            self.touch(obj, master, {})

    def delete(self, obj: str, record_id: str) -> None:
        """To the recycle bin: IsDeleted, visible to queryAll only ("QueryAll")."""
        self.touch(obj, record_id, {"IsDeleted": True})

    def _canonical(self, obj: str, name: str) -> str | None:
        if name in self.fields.get(obj, {}):
            return name
        lower = name.lower()
        return next((n for n in self.fields.get(obj, {}) if n.lower() == lower), None)

    # --- auth, limits, faults ---------------------------------------------------------

    def authorize(self, request: Request) -> Response | None:
        # A session id or OAuth access token as a Bearer token; a wrong or expired one is
        # 401 INVALID_SESSION_ID ("Status Codes and Error Responses"). The token endpoint
        # is where a client gets one.
        if request.path.startswith(("/services/oauth2/token", "/services/Soap/")) or \
                request.path.rstrip("/") == "/services/data":
            # where a client gets a token and the versions list need none; the SOAP API
            # reads its session from the SessionHeader
            return None
        if request.headers.get("authorization") != f"Bearer {self.session_id}":
            return error(401, "INVALID_SESSION_ID", "Session expired or invalid")
        return None

    def rate_limit(self, request: Request) -> Response | None:
        # Over the daily allocation every call fails with 403 REQUEST_LIMIT_EXCEEDED
        # ("API Request Limits and Allocations"; errorcodes.htm).
        with self.lock:
            self.daily_used += 1
            if self.daily_used > self.daily_limit:
                return error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        return None

    def rate_headers(self, request: Request) -> dict[str, str]:
        # Every response carries the org's usage ("Sforce-Limit-Info" response header).
        return {"Sforce-Limit-Info": f"api-usage={min(self.daily_used, self.daily_limit)}/{self.daily_limit}"}

    def too_long(self, request: Request) -> Response | None:
        # "In each REST call, the maximum length for the combined URI and headers is
        # 16,384 bytes. A request exceeding this limit returns a 431 Request Header Fields
        # Too Large error. If the URI itself exceeds this limit, the request returns a 414
        # URI Too Long error" (Salesforce help, article 000386264).
        uri = len(request.target.encode("utf-8"))
        if uri > MAX_REQUEST_BYTES:
            return Response(414, raw=b"URI Too Long", headers={"Content-Type": "text/plain"})
        headers = sum(len(k) + len(v) + 4 for k, v in request.headers.items())
        if uri + headers > MAX_REQUEST_BYTES:
            return Response(431, raw=b"Request Header Fields Too Large", headers={"Content-Type": "text/plain"})
        return None

    def throttled(self, request: Request) -> Response:
        # Salesforce does not answer 429. With too many long-running requests in flight it
        # answers 403 REQUEST_LIMIT_EXCEEDED "ConcurrentPerOrgLongTxn Limit exceeded." (the
        # same code as the daily allocation, another message: errorcodes.htm; Marketo
        # Measure's Salesforce error guide lists it as intermittent).
        return error(403, "REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded.")

    def server_error(self, request: Request, status: int) -> Response:
        return error(status, "SERVER_UNAVAILABLE" if status == 503 else "UNKNOWN_EXCEPTION",
                     "Server temporarily unavailable; try again later")

    def not_found(self, request: Request) -> Response:
        return error(404, "NOT_FOUND", "The requested resource does not exist")

    # --- query --------------------------------------------------------------------------

    def _parse(self, text: str) -> Query:
        query = parse(text)
        self.runner.check(query)
        query.fields = [self._canonical_path(query.object, f) for f in query.fields]
        return query

    def _canonical_path(self, obj: str, name: str) -> str:
        parts = name.split(".")
        if len(parts) == 2 and parts[0] in POLYMORPHIC.get(obj, {}):
            return name
        if len(parts) == 2:
            rel = next(r for r in self.relationships[obj] if r.lower() == parts[0].lower())
            return f"{rel}.{self._canonical(self.relationships[obj][rel][1], parts[1])}"
        return self._canonical(obj, name) or name

    def rows(self, query: Query, include_deleted: bool) -> list[dict[str, Any]]:
        with self.lock:
            records = [r for r in self.records[query.object].values()
                       if (include_deleted or not r["IsDeleted"]) and self.runner.matches(query.object, r, query.where)]
        if query.aggregates or query.group_by:
            return records  # grouped, ordered and cut by the runner (aggregate)
        if query.order:
            records = self.runner.sort(query.object, records, query.order)
        if query.limit is not None:
            records = records[:query.limit]
        return records

    def query(self, request: Request, m: re.Match) -> Response:
        """GET /query?q= and /queryAll?q= ("Execute a SOQL Query", "QueryAll")."""
        version, resource = m.group(1), m.group(2)
        try:
            query = self._parse(request.arg("q") or "")
        except SoqlError as exc:
            return error(400, exc.code, exc.message)
        records = self.rows(query, include_deleted=resource == "queryAll")
        if query.count:
            return Response(200, {"totalSize": len(records), "done": True, "records": []})
        if query.aggregates or query.group_by:
            return self._batch(version, self.runner.aggregate(query, records), self._batch_size(request))
        projected = [self.project(query.object, r, query.fields, version) for r in records]
        return self._batch(version, projected, self._batch_size(request))

    def query_more(self, request: Request, m: re.Match) -> Response:
        """GET /query/{locator}-{offset} ("Query More Results", "QueryAll More Results")."""
        cursor, offset = m.group(3).rsplit("-", 1)
        if cursor not in self.cursors:
            return error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        size, rows = self.cursors[cursor]
        return self._batch(m.group(1), rows, int(size), cursor, int(offset))

    def _batch_size(self, request: Request) -> int:
        options = request.headers.get("sforce-query-options", "")
        found = re.search(r"batchSize=(\d+)", options)
        return min(max(int(found.group(1)), QUERY_BATCH_MIN), QUERY_BATCH) if found else QUERY_BATCH

    def _batch(self, version: str, rows: list[dict], size: int, cursor: str | None = None,
               offset: int = 0) -> Response:
        done = offset + size >= len(rows)
        body: dict[str, Any] = {"totalSize": len(rows), "done": done, "records": rows[offset:offset + size]}
        if not done:
            if cursor is None:
                cursor = "01g" + uuid.uuid4().hex[:15].upper()
                self.cursors[cursor] = (str(size), rows)
            # the locator carries the offset of the next batch, e.g. 01gD0000002HU6KIAW-2000;
            # queryAll's locator also reads /query/ ("QueryAll More Results")
            body["nextRecordsUrl"] = f"/services/data/v{version}/query/{cursor}-{offset + size}"
        return Response(200, body)

    def project(self, obj: str, record: dict[str, Any], fields: list[str], version: str = API_VERSION) -> dict:
        """A record as the REST API returns it: attributes, then the selected fields in
        describe casing, parent fields nested under the relationship name."""
        out: dict[str, Any] = {"attributes": self._attributes(obj, record["Id"], version)}
        for name in fields:
            if "." in name and name.split(".")[0] in POLYMORPHIC.get(obj, {}):
                rel, parent_field = name.split(".", 1)
                named = self.runner.named(record.get(POLYMORPHIC[obj][rel]))
                if not named:
                    out[rel] = None
                    continue
                nested = out.get(rel) or {"attributes": self._attributes(named["type"], named["id"], version)}
                nested[parent_field] = named.get(parent_field.lower())
                out[rel] = nested
            elif "." in name:
                rel, parent_field = name.split(".", 1)
                ref, parent_obj = self.relationships[obj][rel]
                parent = self.get(parent_obj, record.get(ref))
                if parent is None:
                    out[rel] = None
                    continue
                nested = out.get(rel) or {"attributes": self._attributes(parent_obj, parent["Id"], version)}
                nested[parent_field] = _wire(parent.get(parent_field))
                out[rel] = nested
            else:
                out[name] = _wire(record.get(name))
        return out

    @staticmethod
    def _attributes(obj: str, record_id: str, version: str) -> dict[str, str]:
        return {"type": obj, "url": f"/services/data/v{version}/sobjects/{obj}/{record_id}"}

    # --- describe, limits, tooling ------------------------------------------------------

    def describe(self, request: Request, m: re.Match) -> Response:
        obj = m.group(2)
        if obj not in self.fields:
            return error(404, "NOT_FOUND", "The requested resource does not exist")
        return Response(200, {"name": obj, "label": obj, "custom": obj.endswith("__c"),
                              "keyPrefix": self.prefixes[obj], "createable": True, "updateable": True,
                              "queryable": True, "fields": list(self.access.fields(obj).values())})

    def versions(self, request: Request, m: re.Match) -> Response:
        """GET /services/data/ ("Versions"): the API versions the org serves."""
        return Response(200, [{"label": label, "url": f"/services/data/v{v}", "version": v}
                              for v, label in (("58.0", "Summer '23"), ("59.0", "Winter '24"), ("60.0", "Spring '24"))])

    def global_describe(self, request: Request, m: re.Match) -> Response:
        """GET /sobjects/ ("Describe Global"): every object the user may see."""
        version = m.group(1)
        return Response(200, {"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": [
            {"name": obj, "label": obj, "keyPrefix": self.prefixes[obj], "custom": obj.endswith("__c"),
             "queryable": True, "createable": True, "updateable": True, "deletable": True,
             "urls": {"sobject": f"/services/data/v{version}/sobjects/{obj}",
                      "describe": f"/services/data/v{version}/sobjects/{obj}/describe",
                      "rowTemplate": f"/services/data/v{version}/sobjects/{obj}/{{ID}}"}}
            for obj in sorted(self.fields)]})

    def get_by_external_id(self, request: Request, m: re.Match) -> Response:
        """GET /sobjects/{type}/{externalIdField}/{value} ("Retrieve Records Using
        sObject Rows by External ID"); a record id in the middle is a plain get."""
        obj, key_field, value = m.group(2), m.group(3), m.group(4)
        meta = self.access.fields(obj).get(key_field) if obj in self.fields else None
        if meta is None or not (meta["externalId"] or key_field == "Id"):
            return error(404, "NOT_FOUND", f"Provided external ID field does not exist or is not accessible: "
                                           f"{key_field}")
        found = [r for r in self.records[obj].values() if not r["IsDeleted"] and str(r.get(key_field)) == value]
        if not found:
            return error(404, "NOT_FOUND", "The requested resource does not exist")
        if len(found) > 1:
            return Response(300, [f"/services/data/v{m.group(1)}/sobjects/{obj}/{r['Id']}" for r in found])
        return Response(200, self.project(obj, found[0], list(self.access.fields(obj)), m.group(1)))

    def limits(self, request: Request, m: re.Match) -> Response:
        """GET /limits ("Limits"): the allocations and what remains of them."""
        return Response(200, {
            "DailyApiRequests": {"Max": self.daily_limit, "Remaining": max(0, self.daily_limit - self.daily_used)},
            "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000 - len(self.bulk.jobs)},
            "DailyBulkV2QueryFileStorageMB": {"Max": 976562, "Remaining": 976562},
        })

    def create_custom_field(self, request: Request, m: re.Match) -> Response:
        """POST /tooling/sobjects/CustomField ("CustomField", Tooling API): FullName
        Object.Field__c and Metadata with the type and its attributes."""
        body = request.body if isinstance(request.body, dict) else {}
        full_name = str(body.get("FullName") or "")
        metadata = body.get("Metadata") or {}
        if not re.fullmatch(r"\w+\.\w+__c", full_name):
            return error(400, "INVALID_FIELD", f"FullName must be Object.Field__c, got {full_name!r}")
        obj, name = full_name.split(".")
        if obj in ("Task", "Event"):
            # Task and Event custom fields are made on Activity and then appear on both;
            # naming Task or Event is refused (Metadata and Tooling API alike: see
            # benedwards44/fieldcreator#2 and the research notes in docs/fidelity.md).
            return error(400, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                         f"Entity Enumeration Or ID: bad value for restricted picklist field: {obj}")
        targets = ["Task", "Event"] if obj == "Activity" else [obj]
        if obj != "Activity" and obj not in self.fields:
            return error(400, "INVALID_TYPE", f"sObject type '{obj}' is not supported.")
        type_ = METADATA_TYPES.get(str(metadata.get("type")))
        if type_ is None:
            return error(400, "FIELD_INTEGRITY_EXCEPTION", f"Invalid field type: {metadata.get('type')}")
        if any(name in self.fields[target] for target in targets):
            return error(400, "DUPLICATE_DEVELOPER_NAME", "This field name is already in use.")
        if type_ == "boolean" and "defaultValue" not in metadata:
            return error(400, "FIELD_INTEGRITY_EXCEPTION", "Checkbox fields require a default value",
                         ["defaultValue"])
        for target in targets:
            self.define(target, name, type_, {"externalId": bool(metadata.get("externalId")),
                                              "unique": bool(metadata.get("unique")),
                                              "length": int(metadata.get("length") or 0)}, label=metadata.get("label"))
            # Nobody may see it yet: field-level security is granted separately (access.py).
            self.access.restricted.add((target, name))
        return Response(201, {"id": self.ids.new(KEY_PREFIX["CustomField"]), "success": True, "errors": [],
                              "warnings": [], "infos": []})

    # --- reads of one record -------------------------------------------------------

    def get_one(self, request: Request, m: re.Match) -> Response:
        obj, record_id = m.group(2), m.group(3)
        record = self.get(obj, record_id)
        if record is None or record["IsDeleted"]:
            return error(404, "NOT_FOUND", "The requested resource does not exist")
        return Response(200, self.project(obj, record, list(self.access.fields(obj)), m.group(1)))

    def userinfo(self, request: Request, m: re.Match) -> Response:
        """GET /services/oauth2/userinfo: the OpenID Connect claims of the token's user
        ("Query for User Information", Salesforce help, remoteaccess_using_userinfo_endpoint)."""
        user = self.records["User"][self.user_id]
        org_id = "00D8d0000000001AAA"
        host = request.headers.get("host", "127.0.0.1")
        return Response(200, {"sub": f"http://{host}/id/{org_id}/{self.user_id}", "user_id": self.user_id,
                              "organization_id": org_id, "name": user["Name"], "email": user["Email"],
                              "preferred_username": user["Email"], "active": True})

    # --- what a user does in the org, for tests in another process ---------------------

    def admin(self, request: Request) -> Response | None:
        body = request.body if isinstance(request.body, dict) else {}
        if request.path == "/__sandbox/bulk/fail" and request.method == "POST":
            self.bulk.fail_next = int(body.get("jobs", 1))  # the next Bulk API 2.0 query jobs end Failed
            return Response(200, {"fail_next": self.bulk.fail_next})
        if m := re.fullmatch(r"/__sandbox/records/(\w+)", request.path):
            obj = m.group(1)
            if obj not in self.fields:
                return Response(404, {"message": f"no object {obj}"})
            if request.method == "POST":
                return Response(201, {"id": self.insert(obj, body)})
            with self.lock:
                fields = list(self.fields[obj])
                return Response(200, {"records": [self.project(obj, r, fields) for r in self.records[obj].values()
                                                  if not r["IsDeleted"]]})
        if m := re.fullmatch(r"/__sandbox/records/(\w+)/(\w+)", request.path):
            obj, record_id = m.groups()
            if self.get(obj, record_id) is None:
                return Response(404, {"message": "no such record"})
            if request.method == "POST":
                self.touch(obj, record_id, body)
            elif request.method == "DELETE":
                self.delete(obj, record_id)
            return Response(200, self.project(obj, self.records[obj][record_id], list(self.fields[obj])))
        if m := re.fullmatch(r"/__sandbox/convert/(\w+)", request.path):
            if self.get("Lead", m.group(1)) is None:
                return Response(404, {"message": "no such lead"})
            return Response(200, {"contactId": self.convert_lead(m.group(1))})
        if m := re.fullmatch(r"/__sandbox/merge/(Lead|Contact)", request.path):
            self.merge(m.group(1), str(body["master"]), str(body["victim"]))
            return Response(200, {"id": body["master"]})
        if request.path == "/__sandbox/connected-app" and request.method == "POST":
            # An admin registers a connected app: its consumer key, the certificate for
            # JWT bearer, the secret for client credentials, the pre-authorized user.
            self.oauth.app = ConnectedApp(**{k: str(v) for k, v in body.items()})
            return Response(200, {"consumer_key": self.oauth.app.consumer_key})
        if request.path == "/__sandbox/history" and request.method == "POST":
            # Which fields of each object keep their history (an admin's setting).
            self.tracked.update({obj: set(names) for obj, names in body.items()})
            return Response(200, {obj: sorted(names) for obj, names in self.tracked.items()})
        if request.path == "/__sandbox/access" and request.method == "POST":
            # The integration user's rights: without "Assign Permission Sets" setup must ask an admin.
            self.access.may_assign = bool(body.get("may_assign", self.access.may_assign))
            return Response(200, {"may_assign": self.access.may_assign})
        if request.path == "/__sandbox/lock" and request.method == "POST":
            self.locked = set(body.get("ids") or [])
            return Response(200, {"locked": sorted(self.locked)})
        if request.path == "/__sandbox/counts":
            with self.lock:
                return Response(200, {obj: sum(not r["IsDeleted"] for r in recs.values())
                                      for obj, recs in self.records.items()})
        return None


class _TypesView(dict):
    """object -> {field: describe type}, read live from the org (custom fields appear)."""

    def __init__(self, org: SalesforceSandbox) -> None:
        super().__init__()
        self.org = org
        self.cache: dict[str, dict[str, str]] = {}

    def __contains__(self, obj: object) -> bool:
        return obj in self.org.fields

    def __getitem__(self, obj: str) -> dict[str, str]:
        # Built once per object, not per comparison; `define` drops it when fields change.
        if obj not in self.cache:
            self.cache[obj] = {name.lower(): meta["type"] for name, meta in self.org.access.fields(obj).items()}
        return self.cache[obj]


_COMMON_CUSTOM = [(n, t, e) for n, t, e in STANDARD["Lead"] if n in ("Id", "IsDeleted", "CreatedDate",
                                                                      "LastModifiedDate", "SystemModstamp",
                                                                      "OwnerId")] + [("Name", "string", {})]


def _stored(meta: dict[str, Any] | None, value: Any) -> Any:
    """A written value as the org keeps it: datetimes as datetime, numbers as numbers."""
    if value in (None, ""):
        return None
    if meta is None:
        return value
    if meta["type"] == "datetime" and not isinstance(value, datetime):
        return parse_datetime(str(value))
    if meta["type"] in ("double", "int", "currency", "percent"):
        number = float(value)
        return int(number) if meta["type"] == "int" else number
    if meta["type"] == "boolean":
        return value if isinstance(value, bool) else str(value).lower() == "true"
    return value


def _wire(value: Any) -> Any:
    if isinstance(value, datetime):
        return sf_datetime(value)
    return value
