"""A local CRM that behaves like HubSpot's CRM v3 API or Salesforce, for demos, tests, benchmarks.

    from connectors.sandbox import SandboxConfig, SandboxServer, FaultConfig
    srv = SandboxServer(SandboxConfig(contacts=1000, faults=FaultConfig.parse("0.05"))).start()
    ...  # point hubspot-api-client at srv.url
    srv.stop()

``SandboxConfig(dialect="salesforce")`` serves the same seed as a Salesforce org that
simple-salesforce talks to unchanged (REST, SOQL, Bulk API 2.0, Metadata API, logins).

Layout, by layer. Dialect-neutral, here: ``config`` (settings, webhook settings
included), ``store`` (column store), ``search`` and ``range_index`` (filter/sort
engine), ``quotas``, ``faults``, ``tokens``, ``stats``, ``mutate`` (simulated activity),
``state`` (what a server shares), ``dialect`` (the protocol a CRM dialect implements),
``events`` (change events to a receiver), ``admin`` (``/_sandbox/*``) and ``server``
(HTTP). ``seed/``: the deterministic canonical data. ``hubspot/``: the HubSpot dialect
(objects, properties, search, associations, pipelines, OAuth, webhooks). ``salesforce/``:
the Salesforce dialect (REST, describe, collections, query, Bulk API 2.0, logins,
outbound messages, its seed rows and simulated activity), with ``soql/`` (the SOQL
engine) and ``metadata/`` (the Metadata API) inside.
"""

from connectors.sandbox.config import FaultConfig, SandboxConfig
from connectors.sandbox.server import SandboxServer

__all__ = ["FaultConfig", "SandboxConfig", "SandboxServer"]
