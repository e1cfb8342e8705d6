"""HubSpot's rules for a mapping file, checked by `mqlsync validate` and at load."""

from __future__ import annotations

from mqlsync.connector.config.mapping import Mapping
from mqlsync.connector.registry import Report
from mqlsync.connector.yamlsource import suggest

#: the HubSpot activity sources the adapter reads: kind -> what follows the colon
HUBSPOT_SOURCES = {"events": "an event type, e.g. events:e_visited_page", "forms": "",
                   "email_events": "OPEN, CLICK, ...", "marketing_events": "REGISTERED, ATTENDED, ...",
                   "objects": "meetings or calls"}


def check_mapping(mapping: Mapping, add: Report) -> None:
    """What a HubSpot mapping must also be: activity sources the adapter can read."""
    for name, obj in mapping.objects.items():
        if obj.opportunities:
            add(("objects", name, "opportunities"), "HubSpot contacts take their stage from lifecyclestage, which "
                                                    "HubSpot moves with deals; opportunities are for Salesforce "
                                                    "Contacts")
    for i, src in enumerate(mapping.activities):
        kind, _, name = src.source.partition(":")
        if kind not in HUBSPOT_SOURCES:
            add(("activities", i, "source"), f"unknown HubSpot activity source {src.source!r}; known: "
                                             + ", ".join(f"{k}:<{v}>" if v else k for k, v in HUBSPOT_SOURCES.items())
                                             + suggest(kind, tuple(HUBSPOT_SOURCES)))
        elif bool(name) != bool(HUBSPOT_SOURCES[kind]) or (kind == "objects" and name not in ("meetings", "calls")):
            add(("activities", i, "source"), f"{src.source!r}: {kind} takes "
                                             + (f"`{kind}:<{HUBSPOT_SOURCES[kind]}>`" if HUBSPOT_SOURCES[kind]
                                                else "nothing after it"))


# --- shared --------------------------------------------------------------------------
