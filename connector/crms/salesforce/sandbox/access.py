"""Field-level security in the sandbox org, as a real org applies it to the API user.

A custom field created through the Tooling API is given to nobody: "To grant a user
access to a field, associate a FieldPermissions record with a PermissionSet that's
assigned to a user" (Object Reference, FieldPermissions,
https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_fieldpermissions.htm).
Until then the API user's describe does not list it, SOQL answers "No such column" and
a save INVALID_FIELD. Fields an admin made in the org's setup (seeded ones) are
visible, as the admin would have granted them when making them.

The setup objects (PermissionSet, FieldPermissions, PermissionSetAssignment) are saved
through the usual REST calls; `refusal` holds the checks Salesforce makes on them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mqlsync.connector.crms.salesforce.sandbox.schema import record_error

if TYPE_CHECKING:
    from mqlsync.connector.crms.salesforce.sandbox.org import SalesforceSandbox

SETUP_OBJECTS = ("PermissionSet", "FieldPermissions", "PermissionSetAssignment")


class FieldAccess:
    """Which fields the API user may read and edit, from the permission sets assigned to it."""

    def __init__(self, org: SalesforceSandbox) -> None:
        self.org = org
        #: (object, field) made through the Tooling API: hidden until a permission set grants it
        self.restricted: set[tuple[str, str]] = set()
        #: the API user holds "Assign Permission Sets" (a switch for tests: without it an
        #: assignment is refused and an admin must make it)
        self.may_assign = True
        self._grants: dict[tuple[str, str], bool] | None = None

    def changed(self, obj: str) -> None:
        """A record of `obj` was saved: grants are computed afresh when it is a setup object."""
        if obj in SETUP_OBJECTS:
            self._grants = None
            self.org.types.cache.clear()

    def grants(self) -> dict[tuple[str, str], bool]:
        """(object, field) -> editable, for every restricted field the API user may read."""
        if self._grants is None:
            records = self.org.records
            mine = {a["PermissionSetId"] for a in records["PermissionSetAssignment"].values()
                    if not a["IsDeleted"] and a["AssigneeId"] == self.org.user_id}
            grants: dict[tuple[str, str], bool] = {}
            for row in records["FieldPermissions"].values():
                if row["IsDeleted"] or row["ParentId"] not in mine or not row["PermissionsRead"]:
                    continue
                obj, _, name = str(row["Field"]).partition(".")
                grants[(obj, name)] = grants.get((obj, name), False) or bool(row["PermissionsEdit"])
            self._grants = grants
        return self._grants

    def fields(self, obj: str) -> dict[str, dict[str, Any]]:
        """`obj`'s fields as the API user sees them: ungranted ones missing, read-only
        grants neither createable nor updateable."""
        every = self.org.fields[obj]
        if not any(o == obj for o, _ in self.restricted):
            return every
        grants = self.grants()
        seen: dict[str, dict[str, Any]] = {}
        for name, meta in every.items():
            if (obj, name) not in self.restricted:
                seen[name] = meta
            elif (obj, name) in grants:
                seen[name] = meta if grants[(obj, name)] else meta | {"createable": False, "updateable": False}
        return seen

    def refusal(self, obj: str, values: dict[str, Any], record_id: str | None) -> dict[str, Any] | None:
        """The error Salesforce gives when saving a setup object this way, else None."""
        user = self.org.get("User", self.org.user_id) or {}
        if obj in ("Campaign", "CampaignMemberStatus") and not user.get("UserPermissionsMarketingUser"):
            # Creating and editing campaigns and member statuses takes the Marketing User
            # checkbox (Salesforce help, campaigns_customize_member_status_parent). The
            # error code for it is not documented; this is the access error Salesforce
            # gives a user without a permission on a record.
            return record_error("INSUFFICIENT_ACCESS_OR_READONLY", "insufficient access rights on object id: the "
                                                                   "user is not a Marketing User")
        records = self.org.records.get(obj, {})
        live = [r for r in records.values() if not r["IsDeleted"] and r["Id"] != record_id]
        if obj == "PermissionSet":
            name = str(values.get("Name") or "")
            if record_id is None and not name.replace("_", "").isalnum():
                return record_error("INVALID_FIELD", "Name: the API name may contain only letters, digits and "
                                                     "underscores", ["Name"])
            if any(r["Name"] == name for r in live):
                return record_error("DUPLICATE_VALUE", f"duplicate value found: Name duplicates value on record "
                                                       f"with id: {next(r['Id'] for r in live if r['Name'] == name)}",
                                    ["Name"])
        if obj == "FieldPermissions" and record_id is None:
            field, sobject = str(values.get("Field") or ""), str(values.get("SobjectType") or "")
            owner, _, name = field.partition(".")
            if owner != sobject or name not in self.org.fields.get(sobject, {}):
                # Field and SobjectType are restricted picklists of the org's fields and objects.
                return record_error("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                                    f"Field Name: bad value for restricted picklist field: {field}", ["Field"])
            if values.get("PermissionsEdit") and not values.get("PermissionsRead"):
                # "PermissionsEdit ... Requires PermissionsRead for the same field to be true."
                return record_error("FIELD_INTEGRITY_EXCEPTION", "Permission Read Field is required when Edit is "
                                                                 "set", ["PermissionsRead"])
            if any(r["ParentId"] == values.get("ParentId") and r["Field"] == field for r in live):
                return record_error("DUPLICATE_VALUE", "duplicate value found: <unknown> duplicates value on "
                                                       "record with id: <unknown>", [])
        if obj == "CampaignMember" and values.get("Status") not in (None, ""):
            statuses = self.org.member_statuses(values.get("CampaignId") or (
                self.org.get("CampaignMember", record_id) or {}).get("CampaignId"))
            if statuses and str(values["Status"]) not in statuses:
                # A member's status is one of its campaign's member statuses.
                return record_error("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                                    f"Status: bad value for restricted picklist field: {values['Status']}", ["Status"])
        if obj == "CampaignMemberStatus" and record_id is None and any(
                r["CampaignId"] == values.get("CampaignId") and r["Label"] == values.get("Label") for r in live):
            return record_error("DUPLICATE_VALUE", f"duplicate value found: Label duplicates value: {values['Label']}",
                                ["Label"])
        if obj == "PermissionSetAssignment" and record_id is None:
            if not self.may_assign:
                return record_error("INSUFFICIENT_ACCESS_OR_READONLY", "insufficient access rights on cross-reference "
                                                                       "id", ["AssigneeId"])
            if any(r["PermissionSetId"] == values.get("PermissionSetId") and r["AssigneeId"] == values.get("AssigneeId")
                   for r in live):
                return record_error("DUPLICATE_VALUE", "Duplicate PermissionSetAssignment. Assignee: "
                                                       f"{values.get('AssigneeId')}; Permission Set: "
                                                       f"{values.get('PermissionSetId')}", [])
        return None
