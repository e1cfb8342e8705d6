"""Saving records in the sandbox org as Salesforce does: field checks on save (unknown,
read-only, restricted picklist, type, required, references, inactive owners), locked
and converted records, and single-record and sObject Collections create, update,
upsert and delete with per-record SaveResults ("sObject Collections", REST API
Developer Guide)."""

from __future__ import annotations

import re
from datetime import date
from typing import TYPE_CHECKING, Any

from mqlsync.connector.crms.salesforce.sandbox.schema import error, record_error
from mqlsync.connector.crms.salesforce.sandbox.soql import parse_datetime
from mqlsync.connector.sandbox.server import Request, Response

if TYPE_CHECKING:
    from mqlsync.connector.crms.salesforce.sandbox.org import SalesforceSandbox

#: sObject Collections take up to 200 records a request ("sObject Collections").
COLLECTION_MAX = 200
#: runs of one object type a collection request may hold ("sObject Collections")
MAX_CHUNKS = 10


class Saves:
    """The org's save endpoints (single records and sObject Collections), over `org`'s
    records and metadata."""

    def __init__(self, org: SalesforceSandbox) -> None:
        self.org = org


    def _validate(self, obj: str, values: dict[str, Any], creating: bool,
                  record: dict[str, Any] | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Field values checked as Salesforce checks them on save: unknown fields, fields
        not writable, restricted picklists, types, required fields, references."""
        fields = self.org.access.fields(obj)  # a field the user may not see does not exist for it
        clean: dict[str, Any] = {}
        for name, value in values.items():
            if name in ("attributes", "Id", "id"):
                continue
            canonical = self.org._canonical(obj, name)
            if canonical not in fields:
                return {}, [record_error("INVALID_FIELD", f"No such column '{name}' on sobject of type {obj}",
                                         [name])]
            meta = fields[canonical]
            if not meta["createable" if creating else "updateable"]:
                return {}, [record_error("INVALID_FIELD_FOR_INSERT_UPDATE",
                                         f"Unable to create/update fields: {canonical}. Please check the security "
                                         "settings of this field and verify that it is read/write for your "
                                         "profile or permission set.", [canonical])]
            problem = _type_problem(meta, value)
            if problem:
                return {}, [record_error("INVALID_TYPE_ON_FIELD_IN_RECORD",
                                         f"{meta['label']}: value not of required type: {value}", [canonical])]
            if meta["restrictedPicklist"] and value not in (None, "") and \
                    value not in [p["value"] for p in meta["picklistValues"]]:
                return {}, [record_error("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                                         f"{meta['label']}: bad value for restricted picklist field: {value}",
                                         [canonical])]
            if value in (None, "") and not meta["nillable"]:
                return {}, [record_error("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{canonical}]",
                                         [canonical])]
            if meta["type"] == "reference" and value not in (None, ""):
                target = self.org.object_of(value)
                referenced = self.org.get(target, value) if target and target in meta["referenceTo"] else None
                if target is None or referenced is None:
                    return {}, [record_error("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id",
                                             [canonical])]
                if target == "User" and not referenced.get("IsActive", True):
                    return {}, [record_error("INACTIVE_OWNER_OR_USER", "owner or user is inactive.",
                                             [canonical])]
            clean[canonical] = value
        if creating:
            # Checkboxes default to false and picklists to their default: not required.
            missing = [n for n, meta in fields.items() if not meta["nillable"] and meta["createable"]
                       and meta["type"] not in ("boolean", "picklist") and clean.get(n) in (None, "")]
            if missing:
                return {}, [record_error("REQUIRED_FIELD_MISSING", f"Required fields are missing: {missing}",
                                         missing)]
        return clean, []

    def _save(self, obj: str, values: dict[str, Any], record_id: str | None = None) -> dict[str, Any]:
        """One record created (no id) or updated, as a SaveResult."""
        with self.org.lock:
            if obj not in self.org.fields:
                return {"success": False, "errors": [record_error("INVALID_TYPE", f"sObject type '{obj}' is not "
                                                                                  "supported.")]}
            if record_id is not None:
                record = self.org.get(obj, record_id)
                if record is None or self.org.object_of(record_id) != obj:
                    code = "MALFORMED_ID" if self.org.object_of(record_id) != obj else "INVALID_CROSS_REFERENCE_KEY"
                    return {"id": record_id, "success": False,
                            "errors": [record_error(code, f"{obj} ID: id value of incorrect type: {record_id}"
                                                    if code == "MALFORMED_ID" else "invalid cross reference id")]}
                if record["IsDeleted"]:
                    return {"id": record_id, "success": False,
                            "errors": [record_error("ENTITY_IS_DELETED", "entity is deleted")]}
                if obj == "Lead" and record.get("IsConverted"):
                    return {"id": record_id, "success": False,
                            "errors": [record_error("CANNOT_UPDATE_CONVERTED_LEAD",
                                                    "cannot reference converted lead")]}
                if record_id in self.org.locked:
                    return {"id": record_id, "success": False,
                            "errors": [record_error("UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to "
                                                                          f"this record or 1 records: {record_id}")]}
            clean, errors = self._validate(obj, values, creating=record_id is None)
            refused = None if errors else self.org.access.refusal(obj, clean, record_id)
            if refused:
                errors = [refused]
            if errors:
                return ({"id": record_id} if record_id else {}) | {"success": False, "errors": errors}
            if record_id is None:
                if obj == "Task":
                    clean.setdefault("Status", "Not Started")
                    clean.setdefault("Priority", "Normal")
                if obj == "Lead":
                    clean.setdefault("Status", "Open - Not Contacted")
                record_id = self.org.insert(obj, clean)
            else:
                self.org.touch(obj, record_id, clean)
            return {"id": record_id, "success": True, "errors": []}

    def create_one(self, request: Request, m: re.Match) -> Response:
        """POST /sobjects/{type} ("Create a Record"): 201 with the id, or 400 and errors."""
        result = self._save(m.group(2), request.body if isinstance(request.body, dict) else {})
        if not result["success"]:
            first = result["errors"][0]
            return error(400, first["statusCode"], first["message"], first["fields"])
        return Response(201, result)

    def update_one(self, request: Request, m: re.Match) -> Response:
        """PATCH /sobjects/{type}/{id} ("Update a Record"): 204, or an error list."""
        obj, record_id = m.group(2), m.group(3)
        if self.org.get(obj, record_id) is None:
            return error(404, "NOT_FOUND", "The requested resource does not exist")
        result = self._save(obj, request.body if isinstance(request.body, dict) else {}, record_id)
        if not result["success"]:
            first = result["errors"][0]
            return error(400, first["statusCode"], first["message"], first["fields"])
        return Response(204)

    def upsert_one(self, request: Request, m: re.Match) -> Response:
        """PATCH /sobjects/{type}/{externalIdField}/{value} ("Insert or Update (Upsert) a
        Record Using an External ID"): 201 {id, success, created: true} when made, 200
        with created false when updated; 300 when several records share the value."""
        obj, key_field, value = m.group(2), m.group(3), m.group(4)
        meta = self.org.access.fields(obj).get(key_field) if obj in self.org.fields else None
        if meta is None or not meta["externalId"]:
            return error(404, "NOT_FOUND", f"Provided external ID field does not exist or is not accessible: "
                                           f"{key_field}")
        body = dict(request.body) if isinstance(request.body, dict) else {}
        with self.org.lock:
            found = [r["Id"] for r in self.org.records[obj].values()
                     if not r["IsDeleted"] and str(r.get(key_field)) == value]
            if len(found) > 1:
                return Response(300, [f"/services/data/v{m.group(1)}/sobjects/{obj}/{i}" for i in found])
            result = self._save(obj, body if found else body | {key_field: value}, found[0] if found else None)
        if not result["success"]:
            first = result["errors"][0]
            return error(400, first["statusCode"], first["message"], first["fields"])
        return Response(200 if found else 201, {"id": result["id"], "success": True, "errors": [],
                                                "created": not found})

    def delete_one(self, request: Request, m: re.Match) -> Response:
        """DELETE /sobjects/{type}/{id} ("Delete a Record"): 204; to the recycle bin."""
        obj, record_id = m.group(2), m.group(3)
        with self.org.lock:
            record = self.org.get(obj, record_id)
            if record is None or record["IsDeleted"]:
                return error(404, "ENTITY_IS_DELETED" if record else "NOT_FOUND",
                             "entity is deleted" if record else "The requested resource does not exist")
            self.org.delete(obj, record_id)
        return Response(204)

    def _collection(self, request: Request, need_id: bool) -> tuple[list[dict], bool] | Response:
        body = request.body if isinstance(request.body, dict) else None
        if body is None or not isinstance(body.get("records"), list):
            return error(400, "JSON_PARSER_ERROR", "records: expected a list of sObjects")
        records = body["records"]
        if len(records) > COLLECTION_MAX:
            return error(400, "EXCEEDED_ID_LIMIT", f"record limit reached. cannot submit more than "
                                                   f"{COLLECTION_MAX} records into this call")
        for record in records:
            if not isinstance(record, dict) or not (record.get("attributes") or {}).get("type"):
                return error(400, "INVALID_FIELD", "No sObject type found for the record: each record needs "
                                                   "attributes.type")
            if need_id != bool(record.get("id") or record.get("Id")):
                return error(400, "INVALID_FIELD" if need_id else "INVALID_FIELD_FOR_INSERT_UPDATE",
                             "Records need an id to be updated" if need_id else
                             "Records with ids are not allowed in a create call")
        # "If the request body includes objects of more than one type, they are processed as
        # chunks ... A single request can process up to 10 chunks." (sObject Collections,
        # REST API Developer Guide). The message is Salesforce's (as quoted in
        # SalesforceFoundation/EDA#429); the error code is not documented, and the sandbox
        # refuses the whole request: a client must never send it.
        types = [record["attributes"]["type"] for record in records]
        chunks = sum(1 for i, t in enumerate(types) if i == 0 or t != types[i - 1])
        if chunks > MAX_CHUNKS:
            return error(400, "INVALID_BATCH_SIZE", "Cannot have more than 10 chunks in a single operation. Please "
                                                    "rearrange the data to reduce chunking.")
        return records, bool(body.get("allOrNone"))

    def _run_collection(self, records: list[dict], all_or_none: bool, save) -> Response:
        # allOrNone false: each record succeeds or fails alone, results in request order;
        # allOrNone true: one failure rolls all back ("sObject Collections").
        with self.org.lock:
            snapshot = {obj: {k: dict(v) for k, v in recs.items()} for obj, recs in self.org.records.items()} \
                if all_or_none else None
            results = [save(record) for record in records]
            if snapshot is not None and not all(r["success"] for r in results):
                self.org.records = snapshot
                results = [r if not r["success"] else
                           {"id": r.get("id"), "success": False,
                            "errors": [record_error("ALL_OR_NONE_OPERATION_ROLLED_BACK",
                                                    "Record rolled back because not all records were valid and "
                                                    "the request was using AllOrNone header")]}
                           for r in results]
        return Response(200, results)

    def collection_create(self, request: Request, m: re.Match) -> Response:
        """POST /composite/sobjects ("Create Records Using sObject Collections")."""
        parsed = self._collection(request, need_id=False)
        if isinstance(parsed, Response):
            return parsed
        records, all_or_none = parsed
        return self._run_collection(records, all_or_none, lambda r: self._save(r["attributes"]["type"], r))

    def collection_update(self, request: Request, m: re.Match) -> Response:
        """PATCH /composite/sobjects ("Update Records Using sObject Collections")."""
        parsed = self._collection(request, need_id=True)
        if isinstance(parsed, Response):
            return parsed
        records, all_or_none = parsed
        return self._run_collection(records, all_or_none, lambda r: self._save(
            r["attributes"]["type"], r, str(r.get("id") or r.get("Id"))))

    def collection_upsert(self, request: Request, m: re.Match) -> Response:
        """PATCH /composite/sobjects/{type}/{externalIdField} ("Upsert Records Using
        sObject Collections"): a record whose external id exists is updated, else created;
        each result says which (`created`)."""
        obj, key_field = m.group(2), m.group(3)
        meta = self.org.access.fields(obj).get(key_field) if obj in self.org.fields else None
        if meta is None:
            # A key field that is missing or not visible to the user: 404 NOT_FOUND
            # ("Provided external ID field does not exist or is not accessible", as
            # captured in ExForce's tests and integration guides).
            return error(404, "NOT_FOUND", f"Provided external ID field does not exist or is not accessible: "
                                           f"{key_field}")
        if not meta["externalId"]:
            return error(400, "INVALID_FIELD", f"Field name provided, {key_field} is not an External ID or "
                                               f"indexed field for {obj}")
        parsed = self._collection(request, need_id=False)
        if isinstance(parsed, Response):
            return parsed
        records, all_or_none = parsed

        def upsert(record: dict) -> dict:
            key = record.get(key_field)
            if key in (None, ""):
                return {"success": False, "errors": [record_error("MISSING_ARGUMENT",
                                                                  f"{key_field} not specified")]}
            with self.org.lock:
                existing = next((r["Id"] for r in self.org.records[obj].values()
                                 if r.get(key_field) == key and not r["IsDeleted"]), None)
                values = {k: v for k, v in record.items() if k != key_field} if existing else record
                result = self._save(obj, values, existing)
            return result | {"created": existing is None} if result["success"] else result

        return self._run_collection(records, all_or_none, upsert)

    def collection_delete(self, request: Request, m: re.Match) -> Response:
        """DELETE /composite/sobjects?ids=a,b&allOrNone=false ("Delete Records Using
        sObject Collections")."""
        ids = [i for i in (request.arg("ids") or "").split(",") if i]
        if len(ids) > COLLECTION_MAX:
            return error(400, "EXCEEDED_ID_LIMIT", f"cannot delete more than {COLLECTION_MAX} records")
        results = []
        with self.org.lock:
            for record_id in ids:
                obj = self.org.object_of(record_id)
                record = self.org.get(obj, record_id) if obj else None
                if obj is None or record is None or record["IsDeleted"]:
                    results.append({"id": record_id, "success": False,
                                    "errors": [record_error("ENTITY_IS_DELETED", "entity is deleted")]})
                    continue
                self.org.delete(obj, record_id)
                results.append({"id": record_id, "success": True, "errors": []})
        return Response(200, results)


def _type_problem(meta: dict[str, Any], value: Any) -> bool:
    if value in (None, ""):
        return False
    type_ = meta["type"]
    try:
        if type_ in ("double", "int", "currency", "percent"):
            if isinstance(value, bool):
                return True
            float(value)
        elif type_ == "boolean":
            return not isinstance(value, bool) and str(value).lower() not in ("true", "false")
        elif type_ == "datetime":
            parse_datetime(str(value))
        elif type_ == "date":
            date.fromisoformat(str(value))
    except (TypeError, ValueError):
        return True
    return False
