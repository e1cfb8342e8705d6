"""What of a contact the state keeps: the privacy policy of the state database."""

from __future__ import annotations

import hashlib
import string
from dataclasses import dataclass
from typing import Any

from mqlsync.connector.config import LoadedMapping
from mqlsync.connector.model import Contact

#: kept in the state for every contact: ids, times, the CRM's stage and sales' verdict
KEPT = frozenset({"id", "owner_id", "created_at", "updated_at", "crm_stage", "sales_status", "sales_status_at",
                  "sales_status_exact", "sql_criteria", "unsubscribed", "bounced"})
#: the contact fields each task subject placeholder shows
PLACEHOLDER_FIELDS = {"name": ("first_name", "last_name"), "title": ("title",), "company": ("company",),
                      "email": ("email",)}


@dataclass(frozen=True)
class Keep:
    """What of a contact the state keeps: the fields the scoring model reads by value
    (and the task subject shows), a hash where the model only asks whether a field is
    filled, nothing of the rest. An e-mail read only for its domain keeps the domain."""

    value: frozenset[str]
    presence: frozenset[str]
    domain_only: bool

    @classmethod
    def of(cls, loaded: LoadedMapping) -> Keep:
        use = loaded.model.model.field_use()
        value = {f for f, how in use.items() if how == "value"}
        names = {f for _, f, _, _ in string.Formatter().parse(loaded.mapping.tasks.subject) if f}
        for placeholder in names:
            value.update(PLACEHOLDER_FIELDS.get(placeholder, ()))
        presence = {f for f, how in use.items() if how == "presence"} - value
        domain_only = "email_domain" in value and "email" not in value
        return cls(frozenset(value), frozenset(presence), domain_only)

    def stored(self, contact: Contact) -> Contact:
        out: dict[str, Any] = {}
        for key, v in contact.model_dump(exclude_none=True, exclude_defaults=True).items():
            if key in KEPT or key in self.value:
                out[key] = v
            elif key == "attributes":
                kept = {a: (x if f"attributes.{a}" in self.value else hashed(x)) for a, x in v.items()
                        if f"attributes.{a}" in self.value or f"attributes.{a}" in self.presence}
                if kept:
                    out[key] = kept
            elif key in self.presence:
                out[key] = hashed(v)
            elif key == "email" and self.domain_only and "@" in str(v):
                local, domain = str(v).rsplit("@", 1)
                out[key] = f"{hashed(local)}@{domain}"
        return Contact.model_validate(out)


def hashed(value: Any) -> Any:
    """A stand-in that is filled when the value is, and says nothing about it."""
    if not isinstance(value, str):
        return value  # numbers and flags say nothing about a person
    return "sha256:" + hashlib.sha256(value.encode("utf-8")).hexdigest()[:16]
