"""Logging in: OAuth 2.0 token endpoint (JWT bearer, client credentials, password), SOAP login,
userinfo.

There is one user to log in as (the integration user) and one connected app (consumer key
and secret from the config). Grants answer Salesforce's JSON
``{access_token, instance_url, id, token_type, issued_at, signature}``; failures answer
``{"error", "error_description"}`` with Salesforce's wording. No flow issues refresh
tokens: clients re-run the grant when a session expires (simple-salesforce does).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from werkzeug.wrappers import Request, Response

from connectors.sandbox.dialect import CallInfo
from connectors.sandbox.salesforce.error_bodies import json_response
from connectors.sandbox.salesforce.records import SalesforceData
from connectors.sandbox.salesforce.soap import (
    PARTNER_FAULT_NS,
    PARTNER_NS,
    SoapFault,
    child,
    envelope,
    parse_envelope,
    text_of,
    xml_text,
)
from connectors.sandbox.tokens import AuthFailure

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
LOGIN_AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")
INVALID_LOGIN = "Invalid username, password, security token; or user locked out."


class OAuthError(Exception):
    """A refused grant: ``{"error": code, "error_description": description}``."""

    def __init__(self, code: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.status = status


def load_public_key(pem: str) -> Any:
    """The RSA public key in a PEM public key or X.509 certificate (what the app was given)."""
    raw = pem.encode()
    if b"CERTIFICATE" in raw:
        return x509.load_pem_x509_certificate(raw).public_key()
    return load_pem_public_key(raw)


class AuthApi:
    """The login endpoints."""

    def __init__(self, data: SalesforceData) -> None:
        self.data = data
        self.config = data.state.config
        self.tokens = data.state.tokens
        key = self.config.jwt_public_key
        self._public_key = load_public_key(key) if key else None

    def instance_url(self, call: CallInfo) -> str:
        """Where the org lives: the configured instance URL or the URL the request came to."""
        return (self.config.instance_url or call.base_url).rstrip("/")

    def identity_url(self, call: CallInfo) -> str:
        """The identity URL of the integration user."""
        return f"{self.instance_url(call)}/id/{self.data.org_id}/{self.data.user_id}"

    # -- OAuth 2.0 ------------------------------------------------------------------------------

    def token(self, request: Request, call: CallInfo) -> Response:
        """``POST /services/oauth2/token``."""
        form = request.form
        try:
            grant = form.get("grant_type")
            if grant == JWT_GRANT:
                self._jwt(form.get("assertion") or "", call)
            elif grant == "client_credentials":
                self._client(request)
            elif grant == "password":
                self._client(request)
                self._password(form.get("username"), form.get("password"))
            elif grant == "refresh_token":
                self._client(request)
                raise OAuthError("invalid_grant", "expired access/refresh token")
            else:
                raise OAuthError("unsupported_grant_type", "grant type not supported")
        except OAuthError as exc:
            return json_response(
                exc.status, {"error": exc.code, "error_description": exc.description}
            )
        return json_response(200, self._issue(call))

    def _issue(self, call: CallInfo) -> dict[str, Any]:
        token = self.tokens.issue(prefix=self.data.org_id[:15] + "!AQ")
        identity = self.identity_url(call)
        issued_at = str(int(time.time() * 1000))
        digest = hmac.new(
            self.config.oauth_client_secret.encode(),
            (identity + issued_at).encode(),
            hashlib.sha256,
        ).digest()
        return {
            "access_token": token,
            "scope": "api",
            "instance_url": self.instance_url(call),
            "id": identity,
            "token_type": "Bearer",
            "issued_at": issued_at,
            "signature": base64.b64encode(digest).decode(),
        }

    def _client(self, request: Request) -> None:
        """The connected app's credentials, from HTTP Basic or the form."""
        client_id, secret = request.form.get("client_id"), request.form.get("client_secret")
        header = request.headers.get("Authorization", "")
        if header.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(header[6:].strip()).decode()
            except (binascii.Error, UnicodeDecodeError):
                raise OAuthError("invalid_client", "invalid client credentials") from None
            client_id, _, secret = decoded.partition(":")
        if client_id != self.config.oauth_client_id:
            raise OAuthError("invalid_client_id", "client identifier invalid")
        if secret != self.config.oauth_client_secret:
            raise OAuthError("invalid_client", "invalid client credentials")

    def _password(self, username: str | None, password: str | None) -> None:
        accepted = (self.config.password, self.config.password + self.config.security_token)
        if username != self.config.username or password not in accepted:
            raise OAuthError("invalid_grant", "authentication failure")

    def _jwt(self, assertion: str, call: CallInfo) -> None:
        """The JWT bearer flow: issuer = consumer key, signature, audience, expiry, subject."""
        try:
            claims = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise OAuthError("invalid_grant", "invalid assertion") from None
        if claims.get("iss") != self.config.oauth_client_id:
            raise OAuthError("invalid_client_id", "client identifier invalid")
        if self._public_key is None:
            raise OAuthError("invalid_grant", "invalid assertion")  # the app has no certificate
        try:
            jwt.decode(
                assertion,
                self._public_key,
                algorithms=["RS256"],
                options={"verify_aud": False, "verify_exp": False, "require": []},
            )
        except jwt.PyJWTError:
            raise OAuthError("invalid_grant", "invalid assertion") from None
        audiences = {*LOGIN_AUDIENCES, self.instance_url(call), call.base_url.rstrip("/")}
        aud = claims.get("aud")
        if (aud if isinstance(aud, str) else None) not in audiences and not (
            isinstance(aud, list) and audiences.intersection(aud)
        ):
            raise OAuthError("invalid_grant", "audience is invalid")
        try:
            expires = float(claims["exp"])  # simple-salesforce sends it as a string
        except (KeyError, TypeError, ValueError):
            raise OAuthError("invalid_grant", "expired authorization code") from None
        if expires <= time.time():
            raise OAuthError("invalid_grant", "expired authorization code")
        if claims.get("sub") != self.config.username:
            raise OAuthError("invalid_grant", "invalid assertion")
        if not self.config.jwt_preapproved:
            raise OAuthError("invalid_grant", "user hasn't approved this consumer")

    def userinfo(self, request: Request, call: CallInfo) -> Response:
        """``GET /services/oauth2/userinfo`` (403 ``Bad_OAuth_Token`` without a valid session)."""
        principal = self.tokens.authenticate(request.headers.get("Authorization"))
        if isinstance(principal, AuthFailure):
            return Response(b"Bad_OAuth_Token", status=403, content_type="text/plain")
        base = self.instance_url(call)
        identity = self.identity_url(call)
        return json_response(
            200,
            {
                "sub": identity,
                "user_id": self.data.user_id,
                "organization_id": self.data.org_id,
                "preferred_username": self.config.username,
                "nickname": "segsync",
                "name": "Segsync Integration",
                "email": self.config.username,
                "email_verified": True,
                "given_name": "Segsync",
                "family_name": "Integration",
                "zoneinfo": "America/Los_Angeles",
                "profile": f"{base}/{self.data.user_id}",
                "active": True,
                "user_type": "STANDARD",
                "language": "en_US",
                "locale": "en_US",
                "utcOffset": -28_800_000,
                "urls": {
                    "rest": f"{base}/services/data/v{{version}}/",
                    "sobjects": f"{base}/services/data/v{{version}}/sobjects/",
                    "query": f"{base}/services/data/v{{version}}/query/",
                    "metadata": f"{base}/services/Soap/m/{{version}}/{self.data.org_id[:15]}",
                    "partner": f"{base}/services/Soap/u/{{version}}/{self.data.org_id[:15]}",
                    "profile": f"{base}/{self.data.user_id}",
                },
                "is_app_installed": True,
            },
        )

    # -- SOAP login --------------------------------------------------------------------------

    def soap_login(self, request: Request, version: str, call: CallInfo) -> Response:
        """``POST /services/Soap/u/{version}``: the partner API ``login`` call."""
        try:
            header, operation = parse_envelope(request.get_data())
            if operation.tag.rsplit("}", 1)[-1] != "login":
                raise SoapFault("INVALID_OPERATION", "only login is served here", client=True)
            username = text_of(operation, "username")
            password = text_of(operation, "password") or ""
            scope = text_of(child(header, "LoginScopeHeader"), "organizationId")
            accepted = [self.config.password + self.config.security_token]
            if scope and scope[:15] == self.data.org_id[:15]:
                accepted.append(self.config.password)  # org-id login from a trusted network
            if username != self.config.username or password not in accepted:
                raise SoapFault("INVALID_LOGIN", INVALID_LOGIN)
        except SoapFault as fault:
            return fault.response(PARTNER_FAULT_NS, "LoginFault")
        session = self.tokens.issue(prefix=self.data.org_id[:15] + "!AQ")
        base, org15 = self.instance_url(call), self.data.org_id[:15]
        number = version.lstrip("v")
        info = {
            "accessibilityMode": False,
            "currencySymbol": "$",
            "orgAttachmentFileSizeLimit": 5242880,
            "orgDefaultCurrencyIsoCode": "USD",
            "orgDisallowHtmlAttachments": False,
            "orgHasPersonAccounts": False,
            "organizationId": self.data.org_id,
            "organizationMultiCurrency": False,
            "organizationName": "Segsync Sandbox",
            "profileId": "00e5g000000ABCFEAA4",
            "sessionSecondsValid": self.config.access_token_ttl,
            "userEmail": self.config.username,
            "userFullName": "Segsync Integration",
            "userId": self.data.user_id,
            "userLanguage": "en_US",
            "userLocale": "en_US",
            "userName": self.config.username,
            "userTimeZone": "America/Los_Angeles",
            "userType": "Standard",
            "userUiSkin": "Theme3",
        }
        user_info = "".join(f"<{k}>{xml_text(v)}</{k}>" for k, v in info.items())
        body = (
            "<loginResponse><result>"
            f"<metadataServerUrl>{base}/services/Soap/m/{number}/{org15}</metadataServerUrl>"
            "<passwordExpired>false</passwordExpired><sandbox>false</sandbox>"
            f"<serverUrl>{base}/services/Soap/u/{number}/{org15}</serverUrl>"
            f"<sessionId>{xml_text(session)}</sessionId><userId>{self.data.user_id}</userId>"
            f"<userInfo>{user_info}</userInfo></result></loginResponse>"
        )
        return envelope(body, PARTNER_NS)
