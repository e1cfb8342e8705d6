"""`mqlsync check` on HubSpot: the token, each property the mapping reads and writes
with a type that holds its values, the lifecycle and lead status values it writes and
reads, the MQL list, the owners, and each activity source under the token's scopes and
the portal's tier. Reads only; one call per source (the first page, one record)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mqlsync.connector.adapters.base import Check
from mqlsync.connector.adapters.mapped import fields_read
from mqlsync.connector.adapters.writeback import fields_to_make
from mqlsync.connector.config.mapping import Mapping
from mqlsync.connector.crms.hubspot.activity import ENGAGEMENTS, TIER_NEEDED
from mqlsync.connector.crms.hubspot.client import HubSpotClient
from mqlsync.connector.crms.hubspot.write import LIFECYCLE, MqlList
from mqlsync.connector.errors import CredentialsError, NotAllowed

#: property types that hold each write-back key's values
WRITE_TYPES = {"score": {"number"}, "fit": {"number"}, "engagement": {"number"}, "negative": {"number"},
               "mql": {"bool", "enumeration", "string"}, "mql_at": {"datetime", "date", "string"}}
#: property types that hold each canonical field the mapping reads, where it matters
READ_TYPES = {"created_at": {"datetime", "date"}, "updated_at": {"datetime", "date"},
              "company_size": {"number", "enumeration", "string"}, "unsubscribed": {"bool", "enumeration"},
              "bounced": {"bool", "enumeration"}, "sales_status_at": {"datetime", "date", "number"}}
SETUP = "run `mqlsync setup --mapping FILE`"


def missing_fields(client: HubSpotClient, mapping: Mapping) -> list[str]:
    """The contact properties mqlsync writes that the portal lacks."""
    have = client.contact_properties()
    return [name for name in fields_to_make(mapping).values() if name not in have]


def preflight(client: HubSpotClient, mapping: Mapping, mql_list: MqlList) -> list[Check]:
    try:
        have = client.contact_properties()
    except CredentialsError as exc:
        return [Check("credentials: HubSpot refused the token", False, str(exc))]
    out = [Check("credentials: HubSpot accepts the token", True)]
    obj = mapping.objects["contacts"]
    for crm, field in fields_read(obj).items():
        prop = have.get(crm)
        wanted = READ_TYPES.get(field, set())
        if prop is None:
            out.append(Check(f"reads {field} from property {crm}", False,
                             f"the portal has no contact property {crm!r}: fix the name in the mapping, or create it"))
        elif wanted and prop.type not in wanted:
            out.append(Check(f"reads {field} from property {crm}", False,
                             f"{crm} is of type {prop.type}; {field} needs {' or '.join(sorted(wanted))}"))
        else:
            out.append(Check(f"reads {field} from property {crm} ({prop.type})", True))
    for key, crm in mapping.write_back.fields.items():
        prop = have.get(crm)
        wanted = WRITE_TYPES.get(key, set())
        if prop is None:
            out.append(Check(f"writes {key} to property {crm}", False, f"it does not exist: {SETUP}"))
        elif prop.modification_metadata and prop.modification_metadata.read_only_value:
            out.append(Check(f"writes {key} to property {crm}", False, f"{crm} is read-only: name another property"))
        elif wanted and prop.type not in wanted:
            out.append(Check(f"writes {key} to property {crm}", False,
                             f"{crm} is of type {prop.type}; {key} needs {' or '.join(sorted(wanted))}"))
        else:
            out.append(Check(f"writes {key} to property {crm} ({prop.type})", True))
    out += _options(have, obj.stage_field, mapping.write_back.stage_values.values() if mapping.write_back.lifecycle
                    and obj.stage_field == LIFECYCLE else [], "writes", "add it to the portal's lifecycle stages "
                    "(Settings > Objects > Contacts > Lifecycle stage) or change write_back.stage_values")
    if obj.sales_status:
        out += _options(have, obj.sales_status.field, [*obj.sales_status.accepted, *obj.sales_status.rejected],
                        "reads", "no record can hold it: fix sales_status in the mapping")
    if mapping.mql_tag.list:
        found = mql_list.id() is not None
        out.append(Check(f"MQL list {mapping.mql_tag.list!r} exists", found, "" if found else SETUP))
    if mapping.tasks.enabled:
        out.append(_probe("task owners can be read (crm.objects.owners.read)",
                          lambda: client.get("/crm/v3/owners/", {"limit": 1})))
    out.append(_probe("deal outcomes can be read, for the review (crm.objects.deals.read)",
                      lambda: client.post("/crm/v3/objects/deals/search", {"limit": 1})))
    for source in mapping.activities:
        kind, _, name = source.source.partition(":")
        out.append(_probe(f"activity source {source.source} can be read", _first_page(client, kind, name),
                          TIER_NEEDED.get(kind)))
    return out


def _options(have: dict[str, Any], prop_name: str | None, values: Any, verb: str, fix: str) -> list[Check]:
    prop = have.get(prop_name or "")
    if prop is None or prop.type != "enumeration":
        return []
    options = {o.value for o in prop.options or []}
    return [Check(f"{verb} {prop_name} value {value!r}", value in options,
                  "" if value in options else f"{prop_name} has no option {value!r}: {fix}") for value in values]


def _first_page(client: HubSpotClient, kind: str, name: str) -> Callable[[], Any]:
    """The reader's first call for a source, for one record."""
    if kind == "events":
        return lambda: client.call(client.events_api.get_page, object_type="contact", event_type=name, limit=1)
    if kind == "forms":
        return lambda: client.get("/marketing/v3/forms/", {"limit": 1})
    if kind == "email_events":
        return lambda: client.get("/email/public/v1/events", {"eventType": name, "limit": 1})
    if kind == "marketing_events":
        return lambda: client.get("/marketing/v3/marketing-events/", {"limit": 1})
    if kind == "objects" and name in ENGAGEMENTS:
        return lambda: client.post(f"/crm/v3/objects/{name}/search", {"limit": 1})
    return lambda: None


def _probe(item: str, call: Callable[[], Any], tier: str | None = None) -> Check:
    try:
        call()
    except NotAllowed as exc:
        return Check(item, False, f"{tier} ({exc})" if tier else str(exc))
    return Check(item, True)
