"""The sandbox org's OAuth 2.0 token endpoint, for a connected app an admin registers:
the JWT bearer flow and the client credentials flow, as simple-salesforce calls them.

"OAuth 2.0 JWT Bearer Flow for Server-to-Server Integration" (Salesforce help,
remoteaccess_oauth_jwt_flow): the client POSTs grant_type
urn:ietf:params:oauth:grant-type:jwt-bearer and an `assertion` signed RS256 with the
private key of the certificate uploaded to the connected app; `iss` is the consumer
key, `sub` the username, `aud` https://login.salesforce.com (https://test.salesforce.com
for a sandbox org), `exp` at most three minutes ahead. "OAuth 2.0 Client Credentials
Flow for Server-to-Server Integration" (remoteaccess_oauth_client_credentials_flow):
grant_type client_credentials with the consumer key and secret (HTTP Basic), against
the org's My Domain, acting as the app's run-as user. Failures answer 400 with
{"error", "error_description"} (e.g. invalid_grant / "invalid assertion",
invalid_client_id / "client identifier invalid")."""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from mqlsync.connector.sandbox.server import Request, Response

if TYPE_CHECKING:
    from mqlsync.connector.crms.salesforce.sandbox.org import SalesforceSandbox

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")
#: how far ahead `exp` may be ("the expiration time of the assertion within 3 minutes")
MAX_EXP_S = 180


@dataclass
class ConnectedApp:
    consumer_key: str
    #: the X.509 certificate (PEM) whose key signs JWT assertions
    certificate: str | None = None
    consumer_secret: str | None = None
    #: the username JWTs may name (pre-authorized), and the client credentials run-as user
    username: str = "integration@mqlsync.example"


def _refused(code: str, description: str, status: int = 400) -> Response:
    return Response(status, {"error": code, "error_description": description})


class OAuth:
    """POST /services/oauth2/token for the org's connected app (none until registered)."""

    def __init__(self, org: SalesforceSandbox) -> None:
        self.org = org
        self.app: ConnectedApp | None = None

    def routes(self) -> list[tuple[str, Any, Any]]:
        import re

        return [("POST", re.compile(r"/services/oauth2/token/?"), self.token)]

    def token(self, request: Request, m: Any) -> Response:
        form = request.body if isinstance(request.body, dict) else _form(request)
        grant = str(form.get("grant_type") or "")
        if grant == JWT_BEARER:
            return self._jwt(str(form.get("assertion") or ""), request)
        if grant == "client_credentials":
            return self._client_credentials(request)
        return _refused("unsupported_grant_type", "grant type not supported")

    def _jwt(self, assertion: str, request: Request) -> Response:
        app = self.app
        try:
            claims = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            return _refused("invalid_grant", "invalid assertion")
        if app is None or claims.get("iss") != app.consumer_key:
            return _refused("invalid_client_id", "client identifier invalid")
        if not app.certificate:
            return _refused("invalid_grant", "invalid assertion")
        key = x509.load_pem_x509_certificate(app.certificate.encode()).public_key()
        if not isinstance(key, RSAPublicKey):  # the flow signs RS256 only
            return _refused("invalid_grant", "invalid assertion")
        try:
            claims = jwt.decode(assertion, key, algorithms=["RS256"], audience=list(AUDIENCES),
                                options={"require": ["iss", "sub", "aud", "exp"]})
        except jwt.InvalidAudienceError:
            return _refused("invalid_grant", "audience is invalid")
        except jwt.ExpiredSignatureError:
            return _refused("invalid_grant", "expired authorization code")
        except jwt.PyJWTError:
            return _refused("invalid_grant", "invalid assertion")
        if float(claims["exp"]) > time.time() + MAX_EXP_S + 5:
            return _refused("invalid_grant", "invalid assertion")
        if claims.get("sub") != app.username:
            return _refused("invalid_grant", "user hasn't approved this consumer")
        return self._issued(request)

    def _client_credentials(self, request: Request) -> Response:
        app = self.app
        scheme, _, encoded = str(request.headers.get("authorization") or "").partition(" ")
        try:
            key, _, secret = base64.b64decode(encoded).decode().partition(":") if scheme == "Basic" else ("", "", "")
        except ValueError:
            key, secret = "", ""
        if app is None or key != app.consumer_key:
            return _refused("invalid_client_id", "client identifier invalid")
        if not app.consumer_secret or secret != app.consumer_secret:
            return _refused("invalid_client", "invalid client credentials")
        return self._issued(request)

    def _issued(self, request: Request) -> Response:
        host = request.headers.get("host", "127.0.0.1")
        return Response(200, {"access_token": self.org.session_id, "instance_url": f"https://{host}",
                              "id": f"https://{host}/id/00D8d0000000001AAA/{self.org.user_id}",
                              "token_type": "Bearer", "scope": "api", "issued_at": str(int(time.time() * 1000)),
                              "signature": base64.b64encode(b"sandbox").decode()})


def _form(request: Request) -> dict[str, str]:
    raw = request.body if isinstance(request.body, (str, bytes)) else ""
    text = raw.decode() if isinstance(raw, bytes) else raw
    return {k: v[0] for k, v in parse_qs(text).items()}
