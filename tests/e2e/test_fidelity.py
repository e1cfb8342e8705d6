"""Real-API behaviour the sandbox now has, seen as a user sees it: the sandbox as its own
process, the CLI run as the README says, the result read back through the official SDK."""

from __future__ import annotations

import subprocess
import time
from datetime import UTC, datetime, timedelta

import hubspot
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from hubspot.crm.contacts import SimplePublicObjectInput
from simple_salesforce.exceptions import SalesforceMalformedRequest

from tests.e2e.harness import SECRET, HubSpot, Salesforce, admin, cli, cli_args, cli_env, run, sandbox_process


def test_a_bots_click_changes_no_score_and_a_persons_click_does(tmp_path):
    with sandbox_process(HubSpot, 40) as crm:
        state = tmp_path / "state.db"
        assert cli(crm, state, "setup").returncode == 0
        run(crm, state)
        out = crm.mapping.write_back.fields
        people = crm.sdk_people()
        records = crm.records()
        cid = min((cid for cid, p in records.items() if p.get("email")),
                  key=lambda c: int(float(people[c][out["engagement"]] or 0)))
        before = people[cid][out["engagement"]]

        def click(filtered: bool) -> None:
            admin(crm.url, "/__sandbox/email-events", {
                "type": "CLICK", "recipient": records[cid]["email"], "created": int(time.time() * 1000),
                "emailCampaignId": 4242, "url": "https://www.mqlsync.example/pricing", "filteredEvent": filtered})

        click(filtered=True)  # a security scanner following every link
        run(crm, state)
        assert crm.sdk_people()[cid][out["engagement"]] == before
        click(filtered=False)
        run(crm, state)
        assert int(float(crm.sdk_people()[cid][out["engagement"]])) > int(float(before or 0))


def test_setup_on_a_fresh_org_makes_the_task_key_on_activity_and_grants_every_field_it_makes(tmp_path):

    with sandbox_process(Salesforce, 40) as crm:
        state = tmp_path / "state.db"
        told = cli(crm, state, "setup", "--no-grant")
        assert told.returncode == 0, told.stderr
        assert "Task.MQL_Task_Key__c" in told.stdout  # made on Activity, seen on Task
        assert "to do: Give the integration user Read and Edit on Lead.MQL_Score__c" in told.stdout
        # A real org grants nobody a field it just made: an admin's script cannot see it either.
        with pytest.raises(SalesforceMalformedRequest) as caught:
            crm._sdk().query("SELECT Id, MQL_Score__c FROM Lead LIMIT 1")
        assert caught.value.content[0]["errorCode"] == "INVALID_FIELD"

        admin(crm.url, "/__sandbox/access", {"may_assign": False})
        refused = cli(crm, state, "setup")
        assert refused.returncode == 0, refused.stderr
        assert "to do: Assign the permission set mqlsync_fields" in refused.stdout
        admin(crm.url, "/__sandbox/access", {"may_assign": True})
        granted = cli(crm, state, "setup")
        assert "gave the integration user read and edit on" in granted.stdout and "to do" not in granted.stdout
        assert "created 0" in granted.stdout  # the fields were there, only hidden

        run(crm, state)
        scored = [p for p in crm.sdk_people().values() if p["MQL_Score__c"] is not None]
        assert len(scored) >= 40 and crm.sdk_tasks()
        sdk = crm._sdk()
        permission_set = sdk.query("SELECT Id FROM PermissionSet WHERE Name = 'mqlsync_fields'")["records"][0]["Id"]
        rows = sdk.query_all("SELECT Field, PermissionsRead, PermissionsEdit FROM FieldPermissions WHERE ParentId = "
                             f"'{permission_set}'")["records"]
        assert {"Lead.MQL_Score__c", "Contact.Is_MQL__c", "Task.MQL_Task_Key__c"} <= {r["Field"] for r in rows}
        assert all(r["PermissionsRead"] and r["PermissionsEdit"] for r in rows)


def test_a_professional_portal_runs_the_shipped_mapping_and_skips_what_its_tier_and_scopes_do_not_allow(tmp_path):
    with sandbox_process(HubSpot, 40, "--tier", "professional") as crm:
        state = tmp_path / "state.db"
        assert cli(crm, state, "setup").returncode == 0
        # The token has every scope mqlsync asks for but `content` (marketing e-mail events).
        admin(crm.url, "/__sandbox/access", {"tier": "professional", "scopes": [
            "crm.objects.contacts.read", "crm.objects.contacts.write", "crm.schemas.contacts.read",
            "crm.schemas.contacts.write", "crm.objects.owners.read", "crm.lists.read", "crm.lists.write", "forms",
            "crm.objects.marketing_events.read"]})
        result = cli(crm, state, "run")
        assert result.returncode == 0, result.stderr
        warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: activity source")]
        events = [s.source for s in crm.mapping.activities if s.source.startswith("events:")]
        mails = [s.source for s in crm.mapping.activities if s.source.startswith("email_events:")]
        assert len(warnings) == len(events) + len(mails)  # one each
        assert all("Enterprise" in w for w in warnings if "events:" in w and "email_events" not in w)
        assert all("lacks the scope content" in w for w in warnings if "email_events:" in w)
        # Nor has it the deals scope: the run says so once, and goes on.
        assert [line for line in result.stderr.splitlines() if line.startswith("warning: deal outcomes not read: ")]
        people = crm.sdk_people()
        score = crm.mapping.write_back.fields["score"]
        assert sum(1 for p in people.values() if p.get(score) not in (None, "")) >= 40  # the rest was written
        # Forms, meetings and webinars were read: some scores come from them.
        assert any(float(p[score] or 0) > 0 for p in people.values())


def _certificate(tmp_path, name: str) -> tuple[str, str]:
    """A private key file and the self-signed certificate an admin uploads to the
    connected app, as `openssl req -x509` makes them."""

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mqlsync")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30)).sign(key, hashes.SHA256()))
    path = tmp_path / f"{name}.key"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return str(path), cert.public_bytes(serialization.Encoding.PEM).decode()


def test_jwt_bearer_and_client_credentials_log_in_at_the_org_and_a_wrong_key_is_refused(tmp_path):

    with sandbox_process(Salesforce, 40) as crm:
        state = tmp_path / "state.db"
        key, certificate = _certificate(tmp_path, "server")
        stranger, _ = _certificate(tmp_path, "stranger")
        admin(crm.url, "/__sandbox/connected-app", {
            "consumer_key": "3MVG9sandboxapp", "certificate": certificate, "consumer_secret": "app-secret-value",
            "username": "integration@mqlsync.example"})
        # No session id in the environment: the token must come from the login server.
        base = {k: v for k, v in cli_env(crm, state).items() if k != "SALESFORCE_SESSION_ID"}
        jwt = base | {"SALESFORCE_USERNAME": "integration@mqlsync.example",
                      "SALESFORCE_CONSUMER_KEY": "3MVG9sandboxapp", "SALESFORCE_PRIVATE_KEY_FILE": key}

        def mqlsync(env: dict, *args: str) -> subprocess.CompletedProcess:
            return subprocess.run(cli_args(crm, *args), cwd=tmp_path, env=env, capture_output=True, text=True,
                                  timeout=180)

        assert mqlsync(jwt, "setup").returncode == 0
        ran = mqlsync(jwt, "run")
        assert ran.returncode == 0, ran.stderr
        assert "SOAP API login()" not in ran.stderr
        assert sum(1 for p in crm.sdk_people().values() if p["MQL_Score__c"] is not None) >= 40

        wrong = mqlsync(jwt | {"SALESFORCE_PRIVATE_KEY_FILE": stranger}, "run")
        assert wrong.returncode != 0 and "invalid assertion" in wrong.stderr
        assert "app-secret-value" not in wrong.stderr

        credentials = base | {"SALESFORCE_CONSUMER_KEY": "3MVG9sandboxapp", "SALESFORCE_CONSUMER_SECRET":
                              "app-secret-value", "SALESFORCE_DOMAIN": "mqlsync-dev.my"}
        again = mqlsync(credentials, "run")
        assert again.returncode == 0, again.stderr
        refused = mqlsync(credentials | {"SALESFORCE_CONSUMER_SECRET": "not-the-secret"}, "run")
        assert refused.returncode != 0 and "invalid client credentials" in refused.stderr
        assert "not-the-secret" not in refused.stderr + refused.stdout


def test_a_recycled_contact_that_requalifies_is_an_mql_again_in_hubspot_read_back_through_the_sdk(tmp_path):

    with sandbox_process(HubSpot, 40) as crm:
        state = tmp_path / "state.db"
        assert cli(crm, state, "setup").returncode == 0
        run(crm, state)
        stage = crm.mapping.write_back.fields["stage"]
        people = crm.sdk_people()
        cid = next(c for c, p in people.items() if p.get(stage) == "mql")
        assert people[cid]["lifecyclestage"] == "marketingqualifiedlead"
        # A rep rejects it in HubSpot: the lead status only (no workflow stamps a time).
        client = hubspot.Client.create(access_token=SECRET, host=crm.url)
        client.crm.contacts.basic_api.update(cid, simple_public_object_input=SimplePublicObjectInput(
            properties={"hs_lead_status": "UNQUALIFIED"}))
        time.sleep(1.1)
        run(crm, state)
        assert crm.sdk_people()[cid]["lifecyclestage"] == "other" and crm.sdk_people()[cid][stage] == "recycled"
        # It comes back: new engagement after the rejection. Other is the portal's last
        # stage, so MQL is a move back: cleared, then set, then read back.
        crm.visit_pricing(cid, crm.records()[cid], datetime.now(UTC))
        time.sleep(1.1)
        run(crm, state)
        again = crm.sdk_people()[cid]
        assert again[stage] == "mql" and again["lifecyclestage"] == "marketingqualifiedlead"
        assert len([key for who, key in crm.sdk_tasks() if who == cid]) == 2  # a new qualification, a new task
