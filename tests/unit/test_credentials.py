"""Credentials are typed settings per CRM: read from the environment (or <NAME>_FILE),
the login flow chosen by which variables are set, and no secret in any repr."""

import pytest
from pydantic import SecretStr

from mqlsync.connector.crms.hubspot.credentials import HubSpotCredentials
from mqlsync.connector.crms.salesforce.credentials import (
    LOGINS,
    ClientCredentialsLogin,
    JwtLogin,
    PasswordLogin,
    SandboxLogin,
    SessionLogin,
    login_from_env,
)
from mqlsync.connector.errors import ConfigError, CredentialsError
from mqlsync.connector.redact import SECRET_ENV

PASSWORD = {"SALESFORCE_USERNAME": "integration@acme.example", "SALESFORCE_PASSWORD": "hunter2-long",
            "SALESFORCE_SECURITY_TOKEN": "tok-123456"}
SESSION = {"SALESFORCE_SESSION_ID": "00Dxx!session-secret", "SALESFORCE_INSTANCE_URL": "https://acme.my.salesforce.com"}


def test_each_salesforce_flow_is_chosen_by_the_variables_set(tmp_path):
    key = tmp_path / "server.key"
    key.write_text("a key file; only that it exists is checked here\n")
    jwt = {"SALESFORCE_USERNAME": "integration@acme.example", "SALESFORCE_CONSUMER_KEY": "3MVG9",
           "SALESFORCE_PRIVATE_KEY_FILE": str(key)}
    assert type(login_from_env(PASSWORD | {"SALESFORCE_DOMAIN": "test"})) is PasswordLogin
    assert login_from_env(PASSWORD | {"SALESFORCE_DOMAIN": "test"}).domain == "test"
    assert type(login_from_env(jwt)) is JwtLogin
    assert type(login_from_env(SESSION)) is SessionLogin
    credentials = {"SALESFORCE_CONSUMER_KEY": "3MVG9", "SALESFORCE_CONSUMER_SECRET": "s3cret-long",
                   "SALESFORCE_DOMAIN": "acme.my"}
    assert type(login_from_env(credentials)) is ClientCredentialsLogin
    # With the sandbox's address, a session on it wins over a password, and every other
    # flow logs in at the sandbox: a test never reaches a real org by accident.
    sandbox = login_from_env(PASSWORD | {"MQLSYNC_SALESFORCE_INSTANCE_URL": "http://127.0.0.1:8765"})
    assert type(sandbox) is SandboxLogin and sandbox.loopback_http
    via = login_from_env(jwt | {"MQLSYNC_SALESFORCE_INSTANCE_URL": "http://127.0.0.1:8765"})
    assert type(via) is JwtLogin and via.sandbox_url == "http://127.0.0.1:8765" and via.loopback_http
    with pytest.raises(ConfigError, match="SALESFORCE_DOMAIN: the client credentials flow logs in at the org's My"):
        login_from_env(credentials | {"SALESFORCE_DOMAIN": "login"})


def test_the_password_may_come_from_a_file(tmp_path):
    (tmp_path / "pw").write_text("from-a-file\n")
    env = PASSWORD | {"SALESFORCE_PASSWORD": "", "SALESFORCE_PASSWORD_FILE": str(tmp_path / "pw")}
    assert login_from_env(env).password.get_secret_value() == "from-a-file"


def test_nothing_set_names_every_flow_and_a_bad_value_names_its_variable(tmp_path):
    with pytest.raises(CredentialsError, match="SALESFORCE_PRIVATE_KEY_FILE.*SALESFORCE_CONSUMER_SECRET.*"
                                               "SALESFORCE_INSTANCE_URL.*SALESFORCE_SECURITY_TOKEN"):
        login_from_env({"SALESFORCE_USERNAME": "only-this"})
    with pytest.raises(ConfigError) as bad:
        login_from_env(SESSION | {"SALESFORCE_INSTANCE_URL": "http://acme.my.salesforce.com"})
    assert [(i.field, i.message) for i in bad.value.issues] == [
        ("SALESFORCE_INSTANCE_URL", "must be the org's https:// address, e.g. https://yourcompany.my.salesforce.com")]
    with pytest.raises(ConfigError, match="SALESFORCE_PRIVATE_KEY_FILE: names no readable file"):
        login_from_env({"SALESFORCE_USERNAME": "u", "SALESFORCE_CONSUMER_KEY": "k",
                        "SALESFORCE_PRIVATE_KEY_FILE": str(tmp_path / "missing.key")})
    with pytest.raises(ConfigError, match="sandbox only"):
        login_from_env({"MQLSYNC_SALESFORCE_INSTANCE_URL": "https://acme.my.salesforce.com"})


def test_no_secret_shows_in_a_repr_or_an_error():
    login = login_from_env(PASSWORD)
    assert "hunter2-long" not in repr(login) and "tok-123456" not in str(login)
    with pytest.raises(ConfigError) as bad:
        HubSpotCredentials.from_env({"HUBSPOT_ACCESS_TOKEN": "pat-na1-0000-secret",
                                     "MQLSYNC_HUBSPOT_BASE_URL": "ftp:x"})
    assert "pat-na1-0000-secret" not in str(bad.value)


def test_every_secret_variable_is_one_the_redactor_masks():
    secret = {f.alias for cls in (HubSpotCredentials, *LOGINS) for f in cls.model_fields.values()
              if f.annotation is SecretStr}
    assert secret and secret <= set(SECRET_ENV)
