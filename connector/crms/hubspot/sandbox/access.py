"""What a private app's token may call on the sandbox portal: its scopes, and the
portal's tier.

HubSpot answers a call the token's scopes do not cover with 403 and category
MISSING_SCOPES, naming the scopes in `errors[0].context.requiredScopes` (a real body is
quoted in HubSpot/hubspot-api-nodejs#268). An API the portal's tier does not include
answers 403 too: the Events API "Requires one of the following products or higher.
Marketing Hub -Enterprise, Sales Hub -Enterprise, ..." (developers.hubspot.com, event
analytics guide; the events spec's x-hubspot-product-tier-requirements say ENTERPRISE
for every hub), and a Free portal calling it got "Your app doesn't the have scopes
needed to make this call. Do you have access to the 'business-intelligence' scope?
Missing auth details: event-detail-read,web-analytics-api-access"
(PipedreamHQ/pipedream#11810)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from mqlsync.connector.crms.hubspot.sandbox.wire import error
from mqlsync.connector.sandbox.server import Request, Response

TIERS = ("starter", "professional", "enterprise")

_CONTACTS_READ = ("crm.objects.contacts.read",)
_CONTACTS_WRITE = ("crm.objects.contacts.write",)
#: (method, path, the scopes any one of which allows the call), first match wins; the
#: scopes are those each API's reference lists
ROUTE_SCOPES: list[tuple[str, re.Pattern, tuple[str, ...]]] = [(m, re.compile(p), s) for m, p, s in [
    ("POST", r"/crm/v3/objects/deals/(search|batch/read)", ("crm.objects.deals.read",)),
    ("POST", r"/crm/v4/associations/deals/.*/batch/read", ("crm.objects.deals.read",)),
    ("POST", r"/crm/v3/objects/(contacts|tasks|meetings|calls)/(search|batch/read)", _CONTACTS_READ),
    ("GET", r"/crm/v3/objects/(contacts|tasks).*", _CONTACTS_READ),
    ("*", r"/crm/v3/objects/(contacts|tasks).*", _CONTACTS_WRITE),
    ("POST", r"/crm/v4/associations/.*/batch/read", _CONTACTS_READ),
    ("GET", r"/crm/v4/.*", _CONTACTS_READ),
    ("GET", r"/crm/v3/properties/.*", ("crm.schemas.contacts.read", "crm.objects.contacts.read")),
    ("*", r"/crm/v3/properties/.*", ("crm.schemas.contacts.write",)),
    ("GET", r"/crm/v3/owners.*", ("crm.objects.owners.read",)),
    ("GET", r"/crm/v3/lists.*", ("crm.lists.read",)),
    ("*", r"/crm/v3/lists.*", ("crm.lists.write",)),
    ("GET", r"/marketing/v3/forms.*|/form-integrations/.*", ("forms",)),
    ("GET", r"/email/public/v1/.*", ("content",)),
    ("GET", r"/marketing/v3/marketing-events.*", ("crm.objects.marketing_events.read",)),
]]
#: paths a portal below a tier cannot call, and that tier
ROUTE_TIERS = [(re.compile(r"/events/v3/events/?"), "enterprise")]


class Access:
    """The token's scopes (None: every scope) and the portal's tier."""

    def __init__(self, tier: str = "enterprise", scopes: Iterable[str] | None = None) -> None:
        self.set(tier, scopes)

    def set(self, tier: str = "enterprise", scopes: Iterable[str] | None = None) -> None:
        if tier not in TIERS:
            raise ValueError(f"tier must be one of {', '.join(TIERS)}, not {tier!r}")
        self.tier = tier
        self.scopes = None if scopes is None else frozenset(scopes)

    def refusal(self, request: Request) -> Response | None:
        for pattern, tier in ROUTE_TIERS:
            if pattern.fullmatch(request.path) and TIERS.index(self.tier) < TIERS.index(tier):
                return error(403, "MISSING_SCOPES",
                             "Your app doesn't the have scopes needed to make this call. Do you have access to the "
                             "'business-intelligence' scope?  Missing auth details: "
                             "event-detail-read,web-analytics-api-access")
        if self.scopes is None:
            return None
        for method, pattern, needed in ROUTE_SCOPES:
            if method in (request.method, "*") and pattern.fullmatch(request.path):
                if self.scopes.isdisjoint(needed):
                    return error(403, "MISSING_SCOPES",
                                 "This app hasn't been granted all required scopes to make this call. Read more "
                                 "about required scopes here: https://developers.hubspot.com/scopes.",
                                 errors=[{"message": "One or more of the following scopes are required.",
                                          "context": {"requiredScopes": list(needed)}}])
                return None
        return None
