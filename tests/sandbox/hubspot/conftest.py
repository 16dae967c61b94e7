"""The HubSpot sandbox's fixtures: one server and one official client per test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hubspot import HubSpot

from connectors.sandbox import SandboxServer
from tests.sandbox.hubspot.support import TOKEN, new_server


@pytest.fixture(scope="module")
def srv() -> Iterator[SandboxServer]:
    server = new_server()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def client(srv: SandboxServer) -> HubSpot:
    return HubSpot(access_token=TOKEN, host=srv.url)
