"""The HubSpot sandbox's OAuth tokens and request quotas: the rolling window, the search limiter."""

from __future__ import annotations

import time

import pytest
import requests
from hubspot import HubSpot
from hubspot.crm.contacts import (
    ApiException,
)

from tests.sandbox.hubspot.support import AUTH, admin_call, error_body, new_server

pytestmark = pytest.mark.integration


# -- auth and quotas ----------------------------------------------------------------------------


def test_oauth_refresh_expiry_and_revocation() -> None:
    server = new_server(contacts=5, companies=1, deals=0, access_token_ttl=1)
    try:
        client = HubSpot(host=server.url)
        token = client.oauth.tokens_api.create(
            grant_type="refresh_token",
            client_id="sandbox-client",
            client_secret="sandbox-secret",
            refresh_token="sandbox-refresh",
        )
        assert token.token_type == "bearer" and token.expires_in == 1
        api = HubSpot(access_token=token.access_token, host=server.url)
        assert len(api.crm.contacts.basic_api.get_page(limit=2).results) == 2
        time.sleep(1.1)
        with pytest.raises(ApiException) as expired:
            api.crm.contacts.basic_api.get_page(limit=2)
        assert (
            expired.value.status == 401
            and error_body(expired.value)["category"] == "EXPIRED_AUTHENTICATION"
        )
        form = {
            "grant_type": "refresh_token",
            "client_id": "sandbox-client",
            "client_secret": "sandbox-secret",
            "refresh_token": "wrong",
        }
        bad = requests.post(f"{server.url}/oauth/v1/token", data=form, timeout=10)
        assert bad.status_code == 400
        assert bad.json()["status"] == "BAD_REFRESH_TOKEN"
        assert (
            requests.delete(
                f"{server.url}/oauth/v1/refresh-tokens/sandbox-refresh", timeout=10
            ).status_code
            == 204
        )
        revoked = requests.post(
            f"{server.url}/oauth/v1/token",
            data={**form, "refresh_token": "sandbox-refresh"},
            timeout=10,
        )
        assert revoked.json()["status"] == "BAD_REFRESH_TOKEN"
        anonymous = requests.get(f"{server.url}/crm/v3/objects/contacts", timeout=10)
        assert (
            anonymous.status_code == 401
            and anonymous.json()["category"] == "INVALID_AUTHENTICATION"
        )
    finally:
        server.stop()


def test_rate_limit_window_headers_and_429_body() -> None:
    server = new_server(contacts=5, companies=1, deals=0, rate_limit=5, search_rate_per_second=2)
    try:
        session = requests.Session()
        session.headers.update(AUTH)
        remaining = []
        for _ in range(5):
            res = session.get(f"{server.url}/crm/v3/objects/contacts", timeout=10)
            assert res.status_code == 200
            assert res.headers["X-HubSpot-RateLimit-Max"] == "5"
            assert res.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
            remaining.append(int(res.headers["X-HubSpot-RateLimit-Remaining"]))
        assert remaining == [4, 3, 2, 1, 0]
        limited = session.get(f"{server.url}/crm/v3/objects/contacts", timeout=10)
        assert limited.status_code == 429
        body = limited.json()
        assert body["policyName"] == "TEN_SECONDLY_ROLLING" and body["errorType"] == "RATE_LIMIT"
        assert body["message"] == "You have reached your ten_secondly_rolling limit."
        stats = admin_call(server, "stats")
        assert stats["rate_limited"] == 1
        assert stats["max_requests_in_window"] == {"token-1": 5}
    finally:
        server.stop()


def test_search_has_its_own_per_second_limit() -> None:
    server = new_server(contacts=5, companies=1, deals=0, search_rate_per_second=2)
    try:
        url = f"{server.url}/crm/v3/objects/contacts/search"
        codes = [requests.post(url, json={}, headers=AUTH, timeout=10) for _ in range(3)]
        assert [c.status_code for c in codes[:2]] == [200, 200]
        assert codes[2].status_code == 429
        assert codes[2].json()["message"] == "You have reached your secondly limit."
        assert "X-HubSpot-RateLimit-Remaining" not in codes[2].headers
    finally:
        server.stop()
