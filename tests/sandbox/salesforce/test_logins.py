"""Salesforce sandbox: logins (JWT, client credentials, password, SOAP), sessions, limits."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceRefusedRequest,
)

from connectors.sandbox import FaultConfig, SandboxServer
from tests.sandbox.salesforce.support import (
    PRIVATE,
    PUBLIC,
    admin,
    client,
    http,
    rest,
    rsa_key_pair,
    server,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def srv() -> Iterator[SandboxServer]:
    s = server(jwt_public_key=PUBLIC)
    yield s
    s.stop()


def test_jwt_bearer_flow_verifies_signature_issuer_and_subject(srv: SandboxServer) -> None:
    cfg = srv.config
    sf = client(srv, username=cfg.username, consumer_key=cfg.oauth_client_id, privatekey=PRIVATE)
    assert sf.session_id.startswith("00D") and "!" in sf.session_id
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == cfg.companies
    other_private, _ = rsa_key_pair()
    with pytest.raises(SalesforceAuthenticationFailed) as exc:
        client(
            srv, username=cfg.username, consumer_key=cfg.oauth_client_id, privatekey=other_private
        )
    assert (exc.value.code, exc.value.auth_message) == ("invalid_grant", "invalid assertion")
    with pytest.raises(SalesforceAuthenticationFailed) as exc:
        client(srv, username=cfg.username, consumer_key="someone-else", privatekey=PRIVATE)
    assert exc.value.code == "invalid_client_id"


def test_jwt_needs_an_approved_user() -> None:
    s = server(jwt_public_key=PUBLIC, jwt_preapproved=False)
    try:
        cfg = s.config
        with pytest.warns(UserWarning), pytest.raises(SalesforceAuthenticationFailed) as exc:
            client(s, username=cfg.username, consumer_key=cfg.oauth_client_id, privatekey=PRIVATE)
        assert exc.value.auth_message == "user hasn't approved this consumer"
    finally:
        s.stop()


def test_client_credentials_and_password_grants(srv: SandboxServer) -> None:
    cfg = srv.config
    sf = client(
        srv,
        consumer_key=cfg.oauth_client_id,
        consumer_secret=cfg.oauth_client_secret,
        domain="acme.my",
    )
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] > 0
    with pytest.raises(SalesforceAuthenticationFailed) as exc:
        client(srv, consumer_key=cfg.oauth_client_id, consumer_secret="wrong", domain="acme.my")
    assert (exc.value.code, exc.value.auth_message) == (
        "invalid_client",
        "invalid client credentials",
    )
    sf = client(
        srv,
        username=cfg.username,
        password=cfg.password,
        consumer_key=cfg.oauth_client_id,
        consumer_secret=cfg.oauth_client_secret,
    )
    assert sf.limits()["DailyApiRequests"]["Max"] == cfg.daily_limit
    with pytest.raises(SalesforceAuthenticationFailed) as exc:
        client(
            srv,
            username=cfg.username,
            password="nope",
            consumer_key=cfg.oauth_client_id,
            consumer_secret=cfg.oauth_client_secret,
        )
    assert (exc.value.code, exc.value.auth_message) == ("invalid_grant", "authentication failure")
    token = requests.post(
        f"{srv.url}/services/oauth2/token", data={"grant_type": "authorization_code"}, timeout=10
    )
    assert token.status_code == 400 and token.json()["error"] == "unsupported_grant_type"


def test_soap_login_and_userinfo(srv: SandboxServer) -> None:
    cfg = srv.config
    sf = client(
        srv, username=cfg.username, password=cfg.password, security_token=cfg.security_token
    )
    assert sf.sf_instance == srv.url.removeprefix("http://")
    assert sf.query("SELECT Id FROM User WHERE IsActive = true")["totalSize"] >= 2
    with pytest.raises(SalesforceAuthenticationFailed) as exc:
        client(srv, username=cfg.username, password=cfg.password, security_token="wrong")
    assert exc.value.code == "INVALID_LOGIN"
    info = sf.session.get(
        "https://login.salesforce.com/services/oauth2/userinfo",
        headers={"Authorization": f"Bearer {sf.session_id}"},
        timeout=10,
    ).json()
    assert info["preferred_username"] == cfg.username and info["user_id"].startswith("005")
    bad = sf.session.get(
        "https://login.salesforce.com/services/oauth2/userinfo",
        headers={"Authorization": "Bearer nope"},
        timeout=10,
    )
    assert bad.status_code == 403


def test_expired_sessions_make_simple_salesforce_log_in_again(srv: SandboxServer) -> None:
    cfg = srv.config
    sf = client(
        srv, username=cfg.username, password=cfg.password, security_token=cfg.security_token
    )
    old = sf.session_id
    assert admin(srv, "oauth/expire", {})["expired"] >= 1
    assert sf.query("SELECT COUNT() FROM Lead")["totalSize"] >= 0  # 401, re-login, retry
    assert sf.session_id != old
    stale = Salesforce(
        session_id=old, instance_url="https://acme.my.salesforce.com", session=http(srv)
    )
    with pytest.raises(SalesforceExpiredSession) as exc:
        stale.query("SELECT Id FROM Lead LIMIT 1")
    assert exc.value.content == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    ]


def test_daily_limit_is_reported_and_enforced() -> None:
    s = server(daily_limit=6)
    try:
        sf = client(s)
        for used in range(1, 7):
            sf.query("SELECT Id FROM Account LIMIT 1")
            assert sf.api_usage["api-usage"].used == used
            assert sf.api_usage["api-usage"].total == 6
        with pytest.raises(SalesforceRefusedRequest) as exc:
            sf.query("SELECT Id FROM Account LIMIT 1")
        assert exc.value.content == [
            {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
        ]
        refused = rest(s, "GET", "/limits/")
        assert refused.status_code == 403
        assert refused.headers["Sforce-Limit-Info"] == "api-usage=6/6"
        # Logging in is not an API call: it still works.
        token = requests.post(
            f"{s.url}/services/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": s.config.oauth_client_id,
                "client_secret": s.config.oauth_client_secret,
            },
            timeout=10,
        )
        assert token.status_code == 200 and token.json()["token_type"] == "Bearer"
    finally:
        s.stop()


def test_injected_faults_answer_as_salesforce_does(srv: SandboxServer) -> None:
    sf = client(srv)
    try:
        requests.post(f"{srv.url}/_sandbox/faults", data="429=1", timeout=10)
        with pytest.raises(SalesforceRefusedRequest) as refused:
            sf.query("SELECT Id FROM Account LIMIT 1")
        assert refused.value.content == [
            {
                "message": "ConcurrentPerOrgLongTxn Limit exceeded.",
                "errorCode": "REQUEST_LIMIT_EXCEEDED",
            }
        ]
        requests.post(f"{srv.url}/_sandbox/faults", data="5xx=1", timeout=10)
        codes = set()
        for _ in range(12):
            with pytest.raises(SalesforceGeneralError) as failed:
                sf.query("SELECT Id FROM Account LIMIT 1")
            codes.add((failed.value.status, failed.value.content[0]["errorCode"]))
        assert codes <= {(500, "UNKNOWN_EXCEPTION"), (503, "SERVER_UNAVAILABLE")}
        assert len(codes) == 2
    finally:
        requests.post(f"{srv.url}/_sandbox/faults", data="0", timeout=10)
    assert FaultConfig.parse("0").per_request_total == 0
