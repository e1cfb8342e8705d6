"""Salesforce's login flows, one typed class each (dlt's verified Salesforce source
models them the same way): OAuth 2.0 JWT bearer; OAuth 2.0 client credentials; a
session on the sandbox on this machine; username, password and security token (SOAP
login, which Salesforce is retiring); or a session id and instance URL. The first flow
whose variables are all set is used. With the sandbox's address set, every flow logs
in at the sandbox, which stands in for the org and its login server."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from pydantic import Field, SecretStr, field_validator
from simple_salesforce import Salesforce

from mqlsync.connector.credentials import EnvSettings
from mqlsync.connector.errors import CredentialsError
from mqlsync.connector.http import is_loopback

ENV_USERNAME, ENV_PASSWORD, ENV_TOKEN = "SALESFORCE_USERNAME", "SALESFORCE_PASSWORD", "SALESFORCE_SECURITY_TOKEN"
ENV_CONSUMER_KEY, ENV_KEY_FILE = "SALESFORCE_CONSUMER_KEY", "SALESFORCE_PRIVATE_KEY_FILE"
ENV_CONSUMER_SECRET = "SALESFORCE_CONSUMER_SECRET"
ENV_SESSION, ENV_INSTANCE, ENV_DOMAIN = "SALESFORCE_SESSION_ID", "SALESFORCE_INSTANCE_URL", "SALESFORCE_DOMAIN"
#: the sandbox's address: loopback only, never a real org
ENV_SANDBOX_URL = "MQLSYNC_SALESFORCE_INSTANCE_URL"


log = logging.getLogger("mqlsync.salesforce")


class SalesforceLogin(EnvSettings):
    #: `login`, or `test` for a sandbox org, or the org's My Domain (`yourcompany.my`)
    domain: str = Field(default="login", alias=ENV_DOMAIN)
    #: the mqlsync sandbox on this machine, standing in for the org and its login server
    sandbox_url: str | None = Field(default=None, alias=ENV_SANDBOX_URL)

    @field_validator("sandbox_url")
    @classmethod
    def _loopback_only(cls, url: str | None) -> str | None:
        parts = urlsplit(url or "")
        if url is not None and (parts.scheme not in ("http", "https") or not is_loopback(parts.hostname or "")):
            raise ValueError("points at the mqlsync sandbox only (127.0.0.1 or localhost); "
                             f"for a real org set {ENV_SESSION} and {ENV_INSTANCE}")
        return url

    @property
    def loopback_http(self) -> bool:
        """The sandbox serves plain http on loopback where simple-salesforce speaks https."""
        return self.sandbox_url is not None

    @classmethod
    def required(cls) -> list[str]:
        return [f.alias or name for name, f in cls.model_fields.items() if f.is_required()]

    def client(self, session: requests.Session, **common: Any) -> Salesforce:
        raise NotImplementedError


class SandboxLogin(SalesforceLogin):
    """A session on the sandbox, with the session id it was started with."""

    sandbox_url: str = Field(alias=ENV_SANDBOX_URL)  # required here
    session_id: SecretStr = Field(default=SecretStr("sandbox-session"), alias=ENV_SESSION)

    def client(self, session: requests.Session, **common: Any) -> Salesforce:
        parts = urlsplit(self.sandbox_url)
        instance = f"https://{parts.hostname}:{parts.port}" if parts.port else f"https://{parts.hostname}"
        return Salesforce(session_id=self.session_id.get_secret_value(), instance_url=instance, session=session,
                          **common)


class PasswordLogin(SalesforceLogin):
    username: str = Field(alias=ENV_USERNAME)
    password: SecretStr = Field(alias=ENV_PASSWORD)
    security_token: SecretStr = Field(alias=ENV_TOKEN)

    def client(self, session: requests.Session, **common: Any) -> Salesforce:
        log.warning("logging in with username, password and security token: that is SOAP API login(), which "
                    "Salesforce is retiring (not in API 65.0 and later, off by default in new orgs, retired for "
                    "every version with Summer '27: Salesforce help, article 005132110); use OAuth 2.0 JWT bearer "
                    f"({ENV_CONSUMER_KEY}, {ENV_KEY_FILE}) or client credentials ({ENV_CONSUMER_KEY}, "
                    f"{ENV_CONSUMER_SECRET}, {ENV_DOMAIN})")
        return Salesforce(username=self.username, password=self.password.get_secret_value(),
                          security_token=self.security_token.get_secret_value(), domain=self.domain,
                          session=session, **common)


class JwtLogin(SalesforceLogin):
    """OAuth 2.0 JWT bearer: a connected app's consumer key and its private key (PEM)."""

    username: str = Field(alias=ENV_USERNAME)
    consumer_key: str = Field(alias=ENV_CONSUMER_KEY)
    private_key_file: Path = Field(alias=ENV_KEY_FILE)

    @field_validator("private_key_file")
    @classmethod
    def _readable(cls, path: Path) -> Path:
        if not path.is_file():
            raise ValueError("names no readable file: give the path of the connected app's private key (PEM)")
        return path

    def client(self, session: requests.Session, **common: Any) -> Salesforce:
        return Salesforce(username=self.username, consumer_key=self.consumer_key,
                          privatekey_file=str(self.private_key_file), domain=self.domain, session=session, **common)


class ClientCredentialsLogin(SalesforceLogin):
    """OAuth 2.0 client credentials: a connected app's consumer key and secret, at the
    org's My Domain; the app's run-as user is the integration user ("OAuth 2.0 Client
    Credentials Flow for Server-to-Server Integration", Salesforce help)."""

    consumer_key: str = Field(alias=ENV_CONSUMER_KEY)
    consumer_secret: SecretStr = Field(alias=ENV_CONSUMER_SECRET)
    domain: str = Field(alias=ENV_DOMAIN)

    @field_validator("domain")
    @classmethod
    def _my_domain(cls, domain: str) -> str:
        if domain in ("login", "test"):
            raise ValueError("the client credentials flow logs in at the org's My Domain: set it to the part "
                             "before .salesforce.com, e.g. yourcompany.my")
        return domain

    def client(self, session: requests.Session, **common: Any) -> Salesforce:
        return Salesforce(consumer_key=self.consumer_key, consumer_secret=self.consumer_secret.get_secret_value(),
                          domain=self.domain, session=session, **common)


class SessionLogin(SalesforceLogin):
    session_id: SecretStr = Field(alias=ENV_SESSION)
    instance_url: str = Field(alias=ENV_INSTANCE)

    @field_validator("instance_url")
    @classmethod
    def _https(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.hostname:
            raise ValueError("must be the org's https:// address, e.g. https://yourcompany.my.salesforce.com")
        return url

    def client(self, session: requests.Session, **common: Any) -> Salesforce:
        return Salesforce(session_id=self.session_id.get_secret_value(), instance_url=self.instance_url,
                          session=session, **common)


#: in the order they are tried
LOGINS: tuple[type[SalesforceLogin], ...] = (JwtLogin, ClientCredentialsLogin, SandboxLogin, PasswordLogin,
                                             SessionLogin)


def login_from_env(env: Mapping[str, str]) -> SalesforceLogin:
    """The first flow whose required variables the environment sets, read and checked."""
    for flow in LOGINS:
        if all(name in flow.present_in(env) for name in flow.required()):
            return flow.from_env(env)
    raise CredentialsError(
        f"no Salesforce credentials in the environment: set {ENV_USERNAME}, {ENV_CONSUMER_KEY} and {ENV_KEY_FILE} "
        f"(OAuth JWT bearer); or {ENV_CONSUMER_KEY}, {ENV_CONSUMER_SECRET} and {ENV_DOMAIN} (OAuth client "
        f"credentials, at the org's My Domain); or {ENV_SESSION} and {ENV_INSTANCE}; or {ENV_USERNAME}, "
        f"{ENV_PASSWORD} and {ENV_TOKEN} (SOAP login, being retired) ({ENV_DOMAIN}=test for a sandbox org)")
