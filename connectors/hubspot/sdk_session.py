"""Run the generated HubSpot SDK over one shared ``requests`` session.

The SDK builds URLs, serialises its models and raises its ``ApiException`` types; only
the byte-moving layer is swapped. One keep-alive session serves every API object (the
SDK would open a pool per object), and `responses` can stand in for HubSpot in unit
tests exactly as it does for any requests-based client.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests
import urllib3


class RequestsResponse:
    """The slice of ``urllib3.HTTPResponse`` the SDK's RESTResponse reads."""

    def __init__(self, response: requests.Response) -> None:
        self.status = response.status_code
        self.reason = response.reason
        self.data = response.content
        self._headers = response.headers

    def getheaders(self) -> Mapping[str, str]:
        return self._headers

    def getheader(self, name: str, default: str | None = None) -> str | None:
        return self._headers.get(name, default)

    @property
    def headers(self) -> Mapping[str, str]:
        return self._headers


class RequestsPoolManager:
    """Stands in for the ``urllib3.PoolManager`` inside an SDK ``RESTClientObject``."""

    def __init__(self, session: requests.Session) -> None:
        self.session = session

    def request(
        self,
        method: str,
        url: str,
        *,
        fields: Any = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: urllib3.Timeout | None = None,
        preload_content: bool = True,
        encode_multipart: bool = False,
    ) -> RequestsResponse:
        if encode_multipart:
            raise ValueError("multipart uploads are not used by segsync")
        params = data = None
        if fields:
            # Query and form values go out as OpenAPI's form style: booleans lower-case.
            fields = [(k, _form_value(v)) for k, v in _pairs(fields)]
        if method in ("GET", "HEAD"):
            params = fields
        elif fields:
            data = fields
        else:
            data = body
        response = self.session.request(
            method,
            url,
            params=params,
            data=data,
            headers=dict(headers or {}),
            timeout=_timeout(timeout),
            allow_redirects=False,
        )
        return RequestsResponse(response)


def use_session(api: Any, session: requests.Session) -> Any:
    """Route an SDK API object's HTTP traffic through ``session``; return the API object."""
    api.api_client.rest_client.pool_manager = RequestsPoolManager(session)
    return api


def _pairs(fields: Any) -> list[tuple[str, Any]]:
    return list(fields.items()) if isinstance(fields, Mapping) else list(fields)


def _form_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _timeout(timeout: urllib3.Timeout | None) -> tuple[float | None, float | None] | None:
    if timeout is None:
        return None
    connect = timeout.connect_timeout
    read = timeout.read_timeout
    return (
        connect if isinstance(connect, int | float) else None,
        read if isinstance(read, int | float) else None,
    )
