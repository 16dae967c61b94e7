"""A local CRM that behaves like HubSpot's CRM v3 API, for demos, tests and benchmarks.

    from connectors.sandbox import SandboxConfig, SandboxServer, FaultConfig
    srv = SandboxServer(SandboxConfig(contacts=1000, faults=FaultConfig.parse("0.05"))).start()
    ...  # point hubspot-api-client at srv.url
    srv.stop()

Layout: ``config`` (settings), ``seed``/``seed_pools`` (deterministic neutral data),
``store`` (column store), ``search`` (filter/sort engine), ``ratelimit``, ``faults``,
``auth``, ``stats``, ``mutate``, ``admin`` (``/_sandbox/*``), ``server`` (HTTP) — all
dialect-neutral — and ``hubspot_*`` for everything HubSpot-specific.
"""

from .config import FaultConfig, SandboxConfig
from .server import SandboxServer

__all__ = ["FaultConfig", "SandboxConfig", "SandboxServer"]
