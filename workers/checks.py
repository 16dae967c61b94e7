"""What `segsync check` reports for each CRM: one line per finding, and whether it passed."""

from __future__ import annotations

from collections.abc import Iterator

from connectors.base import ConnectorError
from workers.fieldmap import load_field_map
from workers.outputs import written_object_types
from workers.settings import Settings

Finding = tuple[bool, str]


def check_hubspot(settings: Settings) -> Iterator[Finding]:
    """Credentials, reachability and rate-limit headroom of the HubSpot account."""
    from connectors.hubspot import HubSpotConnector

    try:
        usage = HubSpotConnector(settings.hubspot()).check()
    except (ConnectorError, ValueError) as exc:
        yield False, f"hubspot: FAILED: {exc}"
        return
    yield (
        True,
        (
            f"hubspot: OK at {settings.hubspot_base_url} (10-second limit {usage.interval_max}, "
            f"{usage.interval_remaining} left; daily limit {usage.daily_max}, "
            f"{usage.daily_remaining} left)"
        ),
    )


def check_salesforce(settings: Settings) -> Iterator[Finding]:
    """Login, API usage (used/max) and segsync's fields: present and writable?"""
    from connectors.salesforce import SalesforceConnector
    from connectors.salesforce_streams import STREAMS

    try:
        connector = SalesforceConnector(settings.salesforce())
        usage = connector.check()
    except (ConnectorError, ValueError) as exc:
        yield False, f"salesforce: FAILED: {exc}"
        return
    used = (usage.daily_max or 0) - (usage.daily_remaining or 0)
    yield (
        True,
        (
            f"salesforce: OK at {connector.sf.sf_instance} (API usage {used}/{usage.daily_max} "
            f"today; segsync stops at {settings.salesforce_daily_budget_share:.0%})"
        ),
    )
    # Exactly the objects `schema apply` creates fields on: asking for more could never pass.
    for object_type in written_object_types(load_field_map("salesforce").object_types()):
        sobject = STREAMS[object_type].sobject
        try:
            fields = connector.field_access(object_type)
        except ConnectorError as exc:
            yield False, f"salesforce {sobject}: cannot describe: {exc}"
            continue
        if not fields:
            yield (
                False,
                (
                    f"salesforce {sobject}: no segsync fields yet: run `segsync schema apply "
                    "--crm salesforce`"
                ),
            )
            continue
        read_only = sorted(name for name, writable in fields.items() if not writable)
        if read_only:
            yield (
                False,
                (
                    f"salesforce {sobject}: {len(fields)} segsync fields, not writable: "
                    f"{', '.join(read_only)} (grant edit access in the Segsync_Integration "
                    "permission set)"
                ),
            )
        else:
            yield True, f"salesforce {sobject}: {len(fields)} segsync fields, all writable"


CHECKS = {"hubspot": check_hubspot, "salesforce": check_salesforce}
