"""The CRMs come from a registry (the `mqlsync.crms` entry-point group): the two that ship,
and a third installed from a package of its own, which mapping files can then name."""

import shutil
import textwrap

import pytest

from mqlsync.connector import registry
from mqlsync.connector.config import load_mapping, validate_file
from mqlsync.connector.errors import ConfigError
from tests.conftest import ROOT

THIRD = '''
from mqlsync.connector.registry import Seeded


class Pipedrive:
    name = "pipedrive"
    label = "Pipedrive"

    def check_mapping(self, mapping, add):
        for i, src in enumerate(mapping.activities):
            if not src.source.startswith("activities:"):
                add(("activities", i, "source"), f"Pipedrive reads activities:<type>, not {src.source!r}")

    def connect(self, mapping, env=None):
        raise NotImplementedError

    def seed_sandbox(self, mapping, contacts, activities, *, secret, burst_limit=None):
        return Seeded(None, {})

    def sandbox_env(self, url, secret):
        return {"PIPEDRIVE_URL": url}

    def tasks_in_sandbox(self, emulation):
        return 0


KIND = Pipedrive()
'''


@pytest.fixture
def third_crm(tmp_path, monkeypatch):
    """A package `mqlsync_pipedrive` installed beside mqlsync: its module and its
    dist-info with the entry point, on sys.path as site-packages would have them."""
    site = tmp_path / "site"
    (site / "mqlsync_pipedrive").mkdir(parents=True)
    (site / "mqlsync_pipedrive" / "__init__.py").write_text(THIRD)
    info = site / "mqlsync_pipedrive-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mqlsync-pipedrive\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[mqlsync.crms]\npipedrive = mqlsync_pipedrive:KIND\n")
    monkeypatch.syspath_prepend(str(site))
    registry.kinds.cache_clear()
    yield
    registry.kinds.cache_clear()


def mapping_for(tmp_path, crm: str, source: str) -> str:
    shutil.copy(ROOT / "mappings" / "scoring.yaml", tmp_path / "scoring.yaml")
    text = (ROOT / "mappings" / "hubspot.yaml").read_text(encoding="utf-8").replace("crm: hubspot", f"crm: {crm}")
    head, _, _ = text.partition("activities:\n")
    path = tmp_path / "m.yaml"
    path.write_text(head + textwrap.dedent(f"""\
        activities:
          - source: {source}
            type: page_view
        """) + text[text.index("write_back:"):], encoding="utf-8")
    return str(path)


def test_the_two_shipped_crms_are_registered_under_their_names():
    assert registry.names() == ("hubspot", "salesforce")
    assert [(k.name, k.label) for k in registry.kinds().values()] == [("hubspot", "HubSpot"),
                                                                  ("salesforce", "Salesforce")]


def test_a_mapping_naming_no_installed_crm_is_refused_at_its_line_with_a_suggestion(tmp_path):
    path = mapping_for(tmp_path, "hubsopt", "events:e_visited_page")
    with pytest.raises(ConfigError) as exc:
        validate_file(path)
    assert [str(i) for i in exc.value.issues] == [
        f"{path}:4: crm: unknown CRM 'hubsopt' (did you mean 'hubspot'?); installed: hubspot, salesforce"]


def test_a_crm_from_its_own_package_is_found_and_checks_its_mappings(tmp_path, third_crm):
    assert registry.names() == ("hubspot", "pipedrive", "salesforce")
    assert load_mapping(mapping_for(tmp_path, "pipedrive", "activities:call")).mapping.crm == "pipedrive"
    path = mapping_for(tmp_path, "pipedrive", "events:e_visited_page")
    with pytest.raises(ConfigError) as exc:
        validate_file(path)
    assert [i.message for i in exc.value.issues] == [
        "Pipedrive reads activities:<type>, not 'events:e_visited_page'"]
