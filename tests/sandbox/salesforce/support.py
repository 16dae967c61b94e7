"""Helpers for the Salesforce sandbox tests (no tests here): servers, clients, admin calls.

simple-salesforce hard-codes ``https://`` URLs (instance and ``login.salesforce.com``); a
``requests`` adapter mounted on ``https://`` sends every one of them to the plain-HTTP
sandbox instead, so the library runs unchanged.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from requests.adapters import HTTPAdapter
from simple_salesforce import Salesforce

from connectors.sandbox import SandboxConfig, SandboxServer

TOKEN = "sandbox-token"
INSTANCE = "https://acme.my.salesforce.com"
API = "/services/data/v59.0"


class Rewrite(HTTPAdapter):
    """Sends any https:// request to the sandbox's http:// base URL, path and query kept."""

    def __init__(self, base: str) -> None:
        super().__init__()
        self.base = base.rstrip("/")

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        url = str(request.url)
        parts = urlsplit(url)
        request.url = self.base + url[len(f"{parts.scheme}://{parts.netloc}") :]
        return super().send(request, *args, **kwargs)


def server(**overrides: Any) -> SandboxServer:
    """A started Salesforce-dialect sandbox (small and quick unless told otherwise)."""
    options: dict[str, Any] = {
        "dialect": "salesforce",
        "contacts": 60,
        "companies": 12,
        "deals": 20,
        "bulk_latency_seconds": 0.1,
        "bulk_rows_per_second": 5000.0,
    }
    options.update(overrides)
    return SandboxServer(SandboxConfig(**options)).start()


def http(srv: SandboxServer) -> requests.Session:
    """A requests session whose https:// traffic goes to the sandbox."""
    session = requests.Session()
    session.mount("https://", Rewrite(srv.url))
    return session


def client(srv: SandboxServer, **kwargs: Any) -> Salesforce:
    """simple-salesforce on a static session id (or on the credentials given)."""
    if not kwargs:
        kwargs = {"session_id": TOKEN, "instance_url": INSTANCE}
    sf = Salesforce(session=http(srv), **kwargs)
    return sf


def metadata(sf: Salesforce) -> Any:
    """``sf.mdapi`` with zeep's private session routed to the sandbox too."""
    md = sf.mdapi
    md._client.transport.session = sf.session
    return md


def admin(srv: SandboxServer, path: str, body: Any = None) -> Any:
    """GET (no body) or POST an admin endpoint; returns the JSON answer."""
    url = f"{srv.url}/_sandbox/{path}"
    response = (
        requests.get(url, timeout=30) if body is None else requests.post(url, json=body, timeout=30)
    )
    return response.json()


def rest(srv: SandboxServer, method: str, path: str, **kwargs: Any) -> requests.Response:
    """A raw REST call on the static session (``path`` under /services/data/v59.0)."""
    headers = {"Authorization": f"Bearer {TOKEN}", **kwargs.pop("headers", {})}
    return requests.request(method, f"{srv.url}{API}{path}", headers=headers, timeout=30, **kwargs)


def rsa_key_pair() -> tuple[str, str]:
    """A fresh RSA key pair: (private PEM for the client, public PEM for the connected app)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


PRIVATE, PUBLIC = rsa_key_pair()
