"""Shared fixtures: the real PostgreSQL and Redis servers the suite runs against.

Tests that need a server fail (never skip) with a message naming the URL when it
cannot be reached, so a green run always means the real server was exercised.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

import pytest

# The deployment fixtures (worker processes with their own PostgreSQL database and Redis
# db index) live with their helpers in tests/deployment.py; imported here, every test
# module can ask for them by name.
from tests.deployment import deployment, worker_database, worker_redis  # noqa: F401

DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def _require_reachable(url: str, env_name: str, default_port: int) -> None:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or default_port
    try:
        with socket.create_connection((host, port), timeout=3):
            return
    except OSError as exc:
        pytest.fail(
            f"{env_name}={url!r}: cannot reach {host}:{port} ({exc}). "
            f"Start the server or point {env_name} at one.",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """URL of the real PostgreSQL server (SEGSYNC_DATABASE_URL when it names one)."""
    url = os.environ.get("SEGSYNC_DATABASE_URL", "")
    if not url.startswith("postgresql"):
        url = DEFAULT_DATABASE_URL
    _require_reachable(url, "SEGSYNC_DATABASE_URL", 5432)
    return url


@pytest.fixture(scope="session")
def redis_url() -> str:
    """URL of the real Redis server (SEGSYNC_REDIS_URL)."""
    url = os.environ.get("SEGSYNC_REDIS_URL", DEFAULT_REDIS_URL)
    _require_reachable(url, "SEGSYNC_REDIS_URL", 6379)
    return url
