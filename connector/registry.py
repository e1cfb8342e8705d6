"""The registry of CRMs: the rest of mqlsync sees a CRM only through `CrmKind` and the
kinds installed under the `mqlsync.crms` entry-point group. The two that ship live in
connector/crms/; a third CRM registers there from a package of its own."""

from __future__ import annotations

import functools
from collections.abc import Callable
from collections.abc import Mapping as MappingT
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Protocol

from mqlsync.connector.yamlsource import Path_, suggest

if TYPE_CHECKING:
    from mqlsync.connector.adapters.base import CRM
    from mqlsync.connector.config.mapping import Mapping
    from mqlsync.connector.model import Activity, Contact
    from mqlsync.connector.sandbox.server import Emulation

GROUP = "mqlsync.crms"
#: how a CRM's mapping rules report a problem: (path in the file, message)
Report = Callable[[Path_, str], None]


class UnknownCRM(LookupError):
    """A mapping names a CRM no installed package provides."""


@dataclass
class Seeded:
    """A sandbox emulation filled with sample people, not yet served."""

    emulation: Emulation
    #: sample contact id -> CRM id
    ids: dict[str, str]


class CrmKind(Protocol):
    """One CRM, as the rest of mqlsync may know it."""

    #: as a mapping file names it (`crm: hubspot`)
    name: str
    #: as people write it (HubSpot)
    label: str

    def check_mapping(self, mapping: Mapping, add: Report) -> None:
        """Report what this CRM cannot do that the mapping asks (validate and load)."""

    def connect(self, mapping: Mapping, env: MappingT[str, str] | None = None) -> CRM:
        """The adapter, logged in with credentials from `env` (os.environ by default)."""

    def seed_sandbox(self, mapping: Mapping, contacts: list[Contact], activities: list[Activity], *,
                     secret: str, burst_limit: int | None = None, tier: str | None = None) -> Seeded:
        """A sandbox of this CRM accepting `secret`, holding the people as the mapping
        reads them; `tier` the plan of the account it plays, where the CRM's APIs
        depend on one (ValueError where they do not)."""

    def sandbox_env(self, url: str, secret: str) -> dict[str, str]:
        """The environment that points `connect` at a sandbox served on `url`."""

    def tasks_in_sandbox(self, emulation: Any) -> int:
        """The follow-up tasks mqlsync made in a sandbox (the demo's count)."""


@functools.cache
def kinds() -> dict[str, CrmKind]:
    """Every installed CRM kind by name, in name order."""
    found: dict[str, CrmKind] = {}
    for point in sorted(entry_points(group=GROUP), key=lambda p: p.name):
        found.setdefault(point.name, point.load())
    return found


def names() -> tuple[str, ...]:
    return tuple(kinds())


def crm_kind(name: str) -> CrmKind:
    try:
        return kinds()[name]
    except KeyError:
        raise UnknownCRM(f"unknown CRM {name!r}{suggest(name, list(names()))}; installed: "
                         f"{', '.join(names()) or 'none'}") from None
