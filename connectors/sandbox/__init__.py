"""A local CRM that behaves like HubSpot's CRM v3 API or Salesforce, for demos, tests, benchmarks.

    from connectors.sandbox import SandboxConfig, SandboxServer, FaultConfig
    srv = SandboxServer(SandboxConfig(contacts=1000, faults=FaultConfig.parse("0.05"))).start()
    ...  # point hubspot-api-client at srv.url
    srv.stop()

``SandboxConfig(dialect="salesforce")`` serves the same seed as a Salesforce org that
simple-salesforce talks to unchanged (REST, SOQL, Bulk API 2.0, Metadata API, logins).

Layout. Dialect-neutral: ``config`` (settings), ``seed`` + ``seed_*`` (deterministic
canonical data), ``store`` (column store), ``search`` (filter/sort engine),
``ratelimit``, ``faults``, ``auth``, ``stats``, ``mutate`` (simulated activity),
``state`` (what a server shares), ``dialect`` (the protocol a CRM dialect implements),
``events`` (change events to a receiver; ``events_hubspot`` webhooks,
``events_salesforce`` outbound messages), ``admin`` (``/_sandbox/*``) and ``server``
(HTTP). HubSpot-specific: ``hubspot_*``.
Salesforce-specific: ``salesforce_api`` (routes, limits, errors), ``_objects``/``_schema``
(objects, fields, picklists), ``_ids``, ``_seed``/``_load``/``_hooks`` (data and simulated
activity), ``_records`` (values, field-level security), ``_values``, ``_writes``
(validation), ``_rest``/``_describe``/``_collections``/``_query`` (REST), ``_bulk`` +
``_csv`` (Bulk API 2.0), ``_auth`` (OAuth, SOAP login), ``_soap``/``_metadata``/
``_mdtypes`` (Metadata API), ``_errors``; the SOQL engine is ``soql*``.
"""

from connectors.sandbox.config import FaultConfig, SandboxConfig
from connectors.sandbox.server import SandboxServer

__all__ = ["FaultConfig", "SandboxConfig", "SandboxServer"]
