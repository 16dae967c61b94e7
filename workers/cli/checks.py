"""What `segsync check` reports for each CRM: one line per finding, and whether it passed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

from connectors.base import Connector, ConnectorError
from workers.cli.errors import EXIT_USAGE, connector_error
from workers.fieldmap import load_field_map
from workers.settings import Settings
from workers.sync.outputs import written_object_types


class Finding(NamedTuple):
    """One line of the report; a failed finding carries the exit code it calls for."""

    ok: bool
    line: str
    exit_code: int = 0


def _failed(line: str, exc: Exception) -> Finding:
    # Refused or missing credentials and settings the connector rejects (ValueError) are
    # configuration (2); an unreachable or erroring CRM is a failure (1).
    code = connector_error(exc).exit_code if isinstance(exc, ConnectorError) else EXIT_USAGE
    return Finding(False, line, code)


def check_hubspot(settings: Settings) -> Iterator[Finding]:
    """Credentials, reachability and rate-limit headroom of the HubSpot account."""
    from connectors.hubspot.connector import HubSpotConnector

    try:
        connector = HubSpotConnector(settings.hubspot())
        usage = connector.check()
    except (ConnectorError, ValueError) as exc:
        yield _failed(f"hubspot: FAILED: {exc}", exc)
        return
    yield from field_map_findings(connector)
    yield Finding(
        True,
        (
            f"hubspot: OK at {settings.hubspot_base_url} (10-second limit {usage.interval_max}, "
            f"{usage.interval_remaining} left; daily limit {usage.daily_max}, "
            f"{usage.daily_remaining} left)"
        ),
    )


def check_salesforce(settings: Settings) -> Iterator[Finding]:
    """Login, API usage (used/max) and segsync's fields: present and writable?"""
    from connectors.salesforce.connector import SalesforceConnector
    from connectors.salesforce.streams import STREAMS

    try:
        connector = SalesforceConnector(settings.salesforce())
        usage = connector.check()
    except (ConnectorError, ValueError) as exc:
        yield _failed(f"salesforce: FAILED: {exc}", exc)
        return
    used = (usage.daily_max or 0) - (usage.daily_remaining or 0)
    yield Finding(
        True,
        (
            f"salesforce: OK at {connector.sf.sf_instance} (API usage {used}/{usage.daily_max} "
            f"today; segsync stops at {settings.salesforce_daily_budget_share:.0%})"
        ),
    )
    yield from field_map_findings(connector)
    # Exactly the objects `schema apply` creates fields on: asking for more could never pass.
    for object_type in written_object_types(load_field_map("salesforce").object_types()):
        sobject = STREAMS[object_type].sobject
        try:
            fields = connector.field_access(object_type)
        except ConnectorError as exc:
            yield _failed(f"salesforce {sobject}: cannot describe: {exc}", exc)
            continue
        if not fields:
            yield Finding(
                False,
                f"salesforce {sobject}: no segsync fields yet: run `segsync schema apply "
                "--crm salesforce`",
                EXIT_USAGE,
            )
            continue
        read_only = sorted(name for name, writable in fields.items() if not writable)
        if read_only:
            yield Finding(
                False,
                f"salesforce {sobject}: {len(fields)} segsync fields, not writable: "
                f"{', '.join(read_only)} (grant edit access in the Segsync_Integration "
                "permission set)",
                EXIT_USAGE,
            )
        else:
            yield Finding(True, f"salesforce {sobject}: {len(fields)} segsync fields, all writable")


def field_map_findings(connector: Connector) -> Iterator[Finding]:
    """The field map in use: it loads, and every property it maps exists with a usable type."""
    from workers.fieldmap import FieldMapError
    from workers.fieldmap_check import problems

    crm = connector.crm
    try:
        field_map = load_field_map(crm)
        found = problems(connector, field_map)
    except FieldMapError as exc:
        yield Finding(False, f"{crm} field map: FAILED: {exc}", EXIT_USAGE)
        return
    except ConnectorError as exc:
        yield _failed(f"{crm} field map: cannot list the properties: {exc}", exc)
        return
    if found and not field_map.custom:
        # The shipped map names optional properties a portal may lack: read as empty.
        yield Finding(
            True,
            f"{crm} field map: shipped; {len(found)} mapped properties absent "
            "(read as empty; point SEGSYNC_FIELD_MAP at your own map to change that)",
        )
        return
    for problem in found:
        yield Finding(False, f"{crm} field map: {problem}", EXIT_USAGE)
    if not found:
        mapped = sum(len(m) for m in field_map.fields.values())
        yield Finding(True, f"{crm} field map: OK ({field_map.source}: {mapped} properties)")


CHECKS = {"hubspot": check_hubspot, "salesforce": check_salesforce}
