"""The receiver tests' fixtures: a state store in a temporary folder and a test client over the
receiver app."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.workers.receiver.support import receiver
from workers.state import StateStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    with StateStore(f"sqlite:///{tmp_path / 'state.db'}") as s:
        s.migrate()
        yield s


@pytest.fixture
def client(store: StateStore) -> Iterator[TestClient]:
    with receiver(store) as c:
        yield c
