"""One test suite every CRM implementation must pass (the way the Singer SDK's standard
tests check every tap): the two sandboxes through their real adapters, and the
in-memory fake the sync's unit tests use. Each backend knows how a user changes its
CRM between runs (edit, delete, merge); the tests see only the CRM port."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from mqlsync.connector import sample
from mqlsync.connector.adapters.base import CRM
from mqlsync.connector.config import load_mapping
from mqlsync.connector.model import FieldWrite
from mqlsync.connector.registry import crm_kind
from mqlsync.connector.sandbox.server import SandboxServer
from tests.conftest import ROOT
from tests.fakes import FakeCRM

SECRET = "contract-secret-0001"
PEOPLE = 30


@dataclass
class Backend:
    name: str
    crm: CRM
    #: the CRM ids of the people it holds
    ids: list[str]
    edit: Callable[[str], None]
    delete: Callable[[str], None]
    #: merge(loser, survivor)
    merge: Callable[[str, str], None]
    #: a write of mqlsync's fields this CRM refuses for the record
    refused: Callable[[str], FieldWrite]
    #: the same CRM reached with a secret it does not accept (None: it has no login)
    wrong_login: Callable[[], CRM] | None = None
    extra: dict = field(default_factory=dict)


def _sandbox(name: str) -> Iterator[Backend]:
    kind = crm_kind(name)
    mapping = load_mapping(ROOT / "mappings" / f"{name}.yaml").mapping
    data = sample.generate(seed=11, contacts=PEOPLE, now=datetime.now(UTC))
    seeded = kind.seed_sandbox(mapping, data.contacts, data.activities, secret=SECRET, burst_limit=10_000)
    emulation = seeded.emulation
    with SandboxServer(emulation) as server:
        crm = kind.connect(mapping, kind.sandbox_env(server.url, SECRET))
        crm.ensure_fields()
        ids = sorted(seeded.ids.values())
        if name == "hubspot":
            def edit(cid: str) -> None:
                emulation.touch(cid, {"jobtitle": "Chief Revenue Officer"})

            def delete(cid: str) -> None:
                with emulation.lock:
                    emulation.contacts.pop(cid)

            def merge(loser: str, survivor: str) -> None:
                emulation.merge(survivor, loser)
        else:
            def obj(cid: str) -> str:
                return "Lead" if cid.startswith("00Q") else "Contact"

            def edit(cid: str) -> None:
                emulation.touch(obj(cid), cid, {"Title": "Chief Revenue Officer"})

            def delete(cid: str) -> None:
                emulation.delete(obj(cid), cid)

            def merge(loser: str, survivor: str) -> None:
                emulation.merge(obj(loser), survivor, loser)

        def refused(cid: str) -> FieldWrite:
            return FieldWrite(contact_id=cid, values={"score": "lots"})  # a number field

        yield Backend(name, crm, ids, edit, delete, merge, refused,
                      lambda: kind.connect(mapping, kind.sandbox_env(server.url, "not-the-secret")),
                      {"emulation": emulation})


def _fake() -> Iterator[Backend]:
    crm = FakeCRM(page_size=7)
    now = datetime.now(UTC)
    for contact in sample.generate(seed=11, contacts=PEOPLE, now=now).contacts:
        crm.put(contact, now - timedelta(minutes=5))

    def refused(cid: str) -> FieldWrite:
        crm.refuse[cid] = "INVALID: not a number"
        return FieldWrite(contact_id=cid, values={"score": "lots"})

    yield Backend("fake", crm, sorted(crm.people),
                  lambda cid: crm.put(crm.people[cid], datetime.now(UTC)),
                  lambda cid: crm.delete(cid, datetime.now(UTC)),
                  lambda loser, survivor: crm.merge(loser, survivor, datetime.now(UTC)), refused)


@pytest.fixture(params=["hubspot", "salesforce", "fake"])
def backend(request) -> Iterator[Backend]:
    yield from (_fake() if request.param == "fake" else _sandbox(request.param))


@pytest.fixture(params=["hubspot", "salesforce"])
def sandbox_backend(request) -> Iterator[Backend]:
    yield from _sandbox(request.param)
