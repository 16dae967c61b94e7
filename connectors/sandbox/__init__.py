"""A local CRM that behaves like HubSpot's CRM v3 API, for demos, tests and benchmarks.

    from connectors.sandbox import SandboxConfig, SandboxServer, FaultConfig
    srv = SandboxServer(SandboxConfig(contacts=1000, faults=FaultConfig.parse("0.05"))).start()
    ...  # point hubspot-api-client at srv.url
    srv.stop()

Layout. Dialect-neutral: ``config`` (settings), ``seed`` + ``seed_*`` (deterministic
canonical data), ``store`` (column store), ``search`` (filter/sort engine),
``ratelimit``, ``faults``, ``auth``, ``stats``, ``mutate`` (simulated activity),
``state`` (what a server shares), ``dialect`` (the protocol a CRM dialect implements),
``admin`` (``/_sandbox/*``) and ``server`` (HTTP). HubSpot-specific: ``hubspot_*``.
"""

from .config import FaultConfig, SandboxConfig
from .server import SandboxServer

__all__ = ["FaultConfig", "SandboxConfig", "SandboxServer"]
