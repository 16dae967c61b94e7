"""``/oauth/v1/...``: HubSpot's OAuth token endpoints and the scopes its tokens carry."""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Request, Response

from connectors.sandbox.dialect import CallInfo
from connectors.sandbox.hubspot.defaults import PORTAL_ID
from connectors.sandbox.hubspot.error_bodies import json_response, no_content
from connectors.sandbox.hubspot.records import HubSpotData
from connectors.sandbox.tokens import OAuthFailure

SCOPES = [
    "oauth",
    "crm.objects.contacts.read",
    "crm.objects.contacts.write",
    "crm.objects.companies.read",
    "crm.objects.companies.write",
    "crm.objects.deals.read",
    "crm.objects.deals.write",
    "crm.schemas.contacts.read",
    "crm.schemas.contacts.write",
    "crm.schemas.companies.read",
    "crm.schemas.companies.write",
    "crm.schemas.deals.read",
    "crm.schemas.deals.write",
]


class OAuthApi:
    """``/oauth/v1/...``: refresh-token grant, token introspection, refresh-token revocation."""

    def __init__(self, data: HubSpotData) -> None:
        self.data = data
        self.tokens = data.state.tokens

    def token(self, request: Request, call: CallInfo) -> Response:
        """POST /oauth/v1/token (form-encoded)."""
        form = request.form
        grant = form.get("grant_type")
        if grant == "authorization_code":
            return self._fail("BAD_AUTH_CODE", "missing or unknown auth code", call)
        if grant != "refresh_token":
            return self._fail(
                "BAD_GRANT_TYPE", f"unsupported or missing grant_type: {grant!r}", call
            )
        issued = self.tokens.refresh(
            form.get("client_id"), form.get("client_secret"), form.get("refresh_token")
        )
        if isinstance(issued, OAuthFailure):
            status, message = {
                "client": ("BAD_CLIENT_ID", "missing or unknown client id"),
                "secret": ("BAD_CLIENT_SECRET", "missing or invalid client secret"),
                "refresh_token": ("BAD_REFRESH_TOKEN", "missing or unknown refresh token"),
            }[issued.reason]
            return self._fail(status, message, call)
        return json_response(
            200,
            {
                "token_type": "bearer",
                "refresh_token": issued.refresh_token,
                "access_token": issued.access_token,
                "expires_in": issued.expires_in,
                "token_use": "access_token",
            },
        )

    @staticmethod
    def _fail(status: str, message: str, call: CallInfo) -> Response:
        return json_response(
            400,
            {
                "status": status,
                "message": message,
                "correlationId": call.correlation_id,
                "category": "VALIDATION_ERROR",
                "error": "invalid_grant",
                "error_description": message,
            },
        )

    @staticmethod
    def _missing(message: str, call: CallInfo) -> Response:
        return json_response(
            404,
            {
                "status": "error",
                "message": message,
                "correlationId": call.correlation_id,
                "category": "OBJECT_NOT_FOUND",
            },
        )

    def _info(self, token: str, **extra: Any) -> Response:
        return json_response(
            200,
            {
                "token": token,
                "user": "sandbox-admin@example.com",
                "hub_domain": "sandbox.segsync.test",
                "scopes": SCOPES,
                "hub_id": PORTAL_ID,
                "user_id": 1,
                **extra,
            },
        )

    def access_token_info(self, token: str, call: CallInfo) -> Response:
        """GET /oauth/v1/access-tokens/{token}."""
        left = self.tokens.expires_in(token)
        if left is None or left <= 0:
            return self._missing("Token not found or expired", call)
        return self._info(token, app_id=1, expires_in=left, token_type="access")

    def refresh_token_info(self, token: str, call: CallInfo) -> Response:
        """GET /oauth/v1/refresh-tokens/{token}."""
        if not self.tokens.knows_refresh_token(token):
            return self._missing("Refresh token not found", call)
        return self._info(token, client_id=self.tokens.client_id, token_type="refresh")

    def revoke(self, token: str, call: CallInfo) -> Response:
        """DELETE /oauth/v1/refresh-tokens/{token}: the app is uninstalled; refreshes now fail."""
        if not self.tokens.revoke_refresh_token(token):
            return self._missing("Refresh token not found", call)
        return no_content()
