"""Building an authenticated simple-salesforce client, and the HTTP layer under it.

Every request simple-salesforce, zeep (Metadata API) or segsync's Bulk 2.0 client sends
goes through one ``requests`` session whose adapter checks the daily budget (and waits
for the limiter, when one is given) *before* sending, reads ``Sforce-Limit-Info`` from
every answer, applies timeouts, and — only for an ``http://`` instance such as the
sandbox CRM — routes the https URLs that simple-salesforce hard-codes to that instance.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from pydantic import SecretStr
from requests.adapters import HTTPAdapter
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceAuthenticationFailed

from connectors.base import AuthError, TransientError
from connectors.budget import DailyBudget
from connectors.observe import watch
from connectors.ratelimit import Limiter

_LIMIT_INFO = re.compile(r"api-usage=(\d+)/(\d+)")


@dataclass(frozen=True)
class SalesforceAuth:
    """Credentials for one of the supported flows (secrets as SecretStr)."""

    instance_url: str | None = None
    domain: str = "login"
    session_id: SecretStr | None = None
    username: str | None = None
    password: SecretStr | None = None
    security_token: SecretStr | None = None
    consumer_key: str | None = None
    consumer_secret: SecretStr | None = None
    private_key: SecretStr | None = None
    private_key_file: str | None = None

    @property
    def flow(self) -> str:
        """Which flow these credentials select, in order of preference for servers."""
        if self.consumer_key and (self.private_key or self.private_key_file) and self.username:
            return "jwt"
        if self.consumer_key and self.consumer_secret and not self.username:
            return "client_credentials"
        if self.username and self.password and self.security_token is not None:
            return "password"
        if self.session_id and self.instance_url:
            return "session"
        raise AuthError(
            "no complete Salesforce credentials: set SEGSYNC_SALESFORCE_CONSUMER_KEY with "
            "SEGSYNC_SALESFORCE_USERNAME and SEGSYNC_SALESFORCE_PRIVATE_KEY (JWT bearer), or "
            "SEGSYNC_SALESFORCE_CONSUMER_KEY and SEGSYNC_SALESFORCE_CONSUMER_SECRET (client "
            "credentials), or SEGSYNC_SALESFORCE_USERNAME, SEGSYNC_SALESFORCE_PASSWORD and "
            "SEGSYNC_SALESFORCE_SECURITY_TOKEN, or SEGSYNC_SALESFORCE_SESSION_ID with "
            "SEGSYNC_SALESFORCE_INSTANCE_URL"
        )


class GuardedAdapter(HTTPAdapter):
    """Budget check and pacing before, usage reading after, every Salesforce request."""

    def __init__(
        self,
        budget: DailyBudget,
        timeout: tuple[float, float],
        loopback: str | None = None,
        *,
        limiter: Limiter | None = None,
    ) -> None:
        super().__init__()
        self.budget = budget
        self.limiter = limiter
        self.timeout = timeout
        self.loopback = loopback.rstrip("/") if loopback else None
        self.api_used: int | None = None
        self.api_max: int | None = None

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        self.budget.check()
        if self.limiter is not None:
            self.limiter.acquire()
        if self.loopback and request.url:
            parts = urlsplit(request.url)
            tail = parts.path + (f"?{parts.query}" if parts.query else "")
            request.url = self.loopback + tail
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        self.budget.count_call()
        try:
            response = super().send(request, **kwargs)
        except requests.RequestException as exc:
            raise TransientError(
                f"{request.method} {_path(request.url)}: no answer from Salesforce at "
                f"{_origin(request.url)} ({type(exc).__name__})"
            ) from None
        match = _LIMIT_INFO.search(response.headers.get("Sforce-Limit-Info", ""))
        if match:
            self.api_used, self.api_max = int(match.group(1)), int(match.group(2))
            self.budget.observe(self.api_max, self.api_max - self.api_used)
        return response


def _path(url: str | None) -> str:
    return urlsplit(url or "").path


def _origin(url: str | None) -> str:
    # Scheme and host only: a wrong instance URL is named without any query or token.
    parts = urlsplit(url or "")
    return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}"


def build_session(adapter: GuardedAdapter) -> requests.Session:
    """A session whose every request goes through ``adapter``."""
    session = requests.Session()
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return watch(session, "salesforce")


def login(auth: SalesforceAuth, session: requests.Session, version: str) -> Salesforce:
    """An authenticated simple-salesforce client for the configured flow."""
    flow = auth.flow
    instance = _instance_host(auth.instance_url)
    try:
        if flow == "session":
            assert auth.session_id is not None
            client = Salesforce(
                session_id=auth.session_id.get_secret_value(),
                instance=instance,
                session=session,
                version=version,
            )
        elif flow == "jwt":
            client = Salesforce(
                username=auth.username,
                consumer_key=auth.consumer_key,
                privatekey=auth.private_key.get_secret_value() if auth.private_key else None,
                privatekey_file=auth.private_key_file,
                domain=auth.domain,
                session=session,
                version=version,
            )
        elif flow == "client_credentials":
            assert auth.consumer_secret is not None
            client = Salesforce(
                consumer_key=auth.consumer_key,
                consumer_secret=auth.consumer_secret.get_secret_value(),
                domain=auth.domain,
                session=session,
                version=version,
            )
        else:
            assert auth.password is not None and auth.security_token is not None
            client = Salesforce(
                username=auth.username,
                password=auth.password.get_secret_value(),
                security_token=auth.security_token.get_secret_value(),
                domain=auth.domain,
                session=session,
                version=version,
            )
    except SalesforceAuthenticationFailed as exc:
        # simple-salesforce's message carries only the code and Salesforce's text.
        raise AuthError(
            f"Salesforce refused the {flow} login ({exc.code}): {exc.message}. Check the "
            "connected app, the user's pre-authorization and SEGSYNC_SALESFORCE_DOMAIN."
        ) from None
    return client


def _instance_host(instance_url: str | None) -> str | None:
    if not instance_url:
        return None
    parts = urlsplit(instance_url)
    return parts.netloc or parts.path
