"""No secret reaches a log line, an exception message or a settings dump."""

from __future__ import annotations

import logging

import pytest
import requests
import responses
from pydantic import SecretStr

from connectors.base import ConnectorError
from connectors.hubspot.connector import HubSpotConnector
from connectors.hubspot.options import HubSpotConfig
from connectors.ratelimit import UnlimitedLimiter
from connectors.retrying import RetryPolicy
from workers.settings import Settings

BASE = "https://api.hubapi.com"
SECRETS = ("pat-na1-very-secret-token", "client-secret-value-1", "refresh-token-value-2")
FAST = RetryPolicy(max_attempts=2, initial_wait=0.001, max_wait=0.01)


def connectors() -> list[HubSpotConnector]:
    static = HubSpotConfig(base_url=BASE, token=SecretStr(SECRETS[0]), retry=FAST)
    oauth = HubSpotConfig(
        base_url=BASE,
        client_id="client-id",
        client_secret=SecretStr(SECRETS[1]),
        refresh_token=SecretStr(SECRETS[2]),
        retry=FAST,
    )
    return [
        HubSpotConnector(c, limiter=UnlimitedLimiter(), search_limiter=UnlimitedLimiter())
        for c in (static, oauth)
    ]


@responses.activate
def test_failures_never_show_a_secret(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    url = f"{BASE}/crm/v3/objects/contacts"
    responses.add(
        responses.POST,
        f"{BASE}/oauth/v1/token",
        status=400,
        json={"status": "BAD_REFRESH_TOKEN", "message": "missing or unknown refresh token"},
    )
    responses.add(
        responses.GET,
        url,
        status=401,
        json={"message": "bad token", "category": "INVALID_AUTHENTICATION"},
    )
    responses.add(responses.GET, url, body=requests.ConnectionError("refused"))
    responses.add(responses.GET, url, body=requests.ConnectionError("refused"))
    messages = []
    for connector in connectors():
        for _ in range(2):
            with pytest.raises(ConnectorError) as caught:
                connector.check()
            messages.append(str(caught.value))
            messages.append(repr(caught.value))
    text = "\n".join(messages + [r.getMessage() for r in caplog.records])
    assert messages  # the failures were exercised
    for secret in SECRETS:
        assert secret not in text


def test_settings_dump_hides_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEGSYNC_HUBSPOT_TOKEN", SECRETS[0])
    monkeypatch.setenv("SEGSYNC_HUBSPOT_CLIENT_SECRET", SECRETS[1])
    settings = Settings()
    dumped = f"{settings!r} {settings} {settings.model_dump()} {settings.hubspot()!r}"
    assert settings.hubspot_token is not None
    assert settings.hubspot_token.get_secret_value() == SECRETS[0]
    for secret in SECRETS[:2]:
        assert secret not in dumped
