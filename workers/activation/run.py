"""``segsync activate`` and the scheduled runs' activation step, for either CRM."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from connectors.base import Connector, ConnectorError
from segmentation.playbook import Playbook
from workers.activation.campaigns import sync_campaigns
from workers.activation.lists import sync_lists
from workers.activation.plan import ActivationError, Kind, wanted
from workers.state import StateStore

log = logging.getLogger("segsync.activation")
APPLIED_STATE = "activation"  # model state: the definitions last applied, by fingerprint


def activate(
    connector: Connector,
    store: StateStore,
    playbook: Playbook,
    *,
    dry_run: bool = False,
    prune: bool = False,
    status: str | None = None,
    people: Mapping[str, set[str]] | None = None,
) -> dict[str, Any]:
    """Bring the CRM's lists (HubSpot) or campaigns (Salesforce) in step; a JSON-ready report.

    ``people`` (Salesforce): only these contacts and leads can have changed segment (an
    incremental run's); None looks at everyone.
    """
    from connectors.hubspot.connector import HubSpotConnector

    if isinstance(connector, HubSpotConnector):
        report = sync_lists(connector, store, playbook, dry_run=dry_run, prune=prune)
        if not dry_run:
            store.save_model_state(
                connector.crm, APPLIED_STATE, {"lists": fingerprint(connector, playbook)}
            )
        return report.summary(connector.crm, "lists", "list_id")
    from connectors.salesforce.connector import SalesforceConnector

    if not isinstance(connector, SalesforceConnector):
        raise ActivationError(f"{connector.crm}: no lists or campaigns to keep on this CRM")
    # Writes from now on (event rounds included) are the next activation's to look at.
    since = datetime.now(UTC)
    done = sync_campaigns(
        connector,
        store,
        playbook,
        dry_run=dry_run,
        prune=prune,
        status=status,
        people=people,
    )
    if not dry_run:
        applied = {"campaigns": fingerprint(connector, playbook), "since": since.isoformat()}
        store.save_model_state(connector.crm, APPLIED_STATE, applied)
    return done.summary(connector.crm, "campaigns", "campaign_id")


def fingerprint(connector: Connector, playbook: Playbook) -> str:
    """What the playbook asks activation for, as one hash: a scheduled run that finds it
    unchanged has no list to touch."""
    kind: Kind = "list" if connector.crm == "hubspot" else "campaign"
    wants = sorted(
        (w.name, w.field, w.segment) for w in wanted(playbook, kind, connector.field_name)
    )
    return hashlib.sha256(json.dumps(wants).encode()).hexdigest()[:16]


def marked(playbook: Playbook) -> bool:
    """Whether any model asks for lists or campaigns."""
    return any(model.activate for model in playbook.models.values())


def after_sync(
    connector: Connector,
    store: StateStore,
    playbook: Playbook,
    *,
    whole: bool,
    started_at: datetime,
    status: str | None = None,
) -> dict[str, Any] | None:
    """A scheduled run's activation step, after its writes; None when there is nothing to do.

    HubSpot keeps list members itself, so the lists are looked at only when the playbook's
    wishes changed since they were last applied, or on a whole run (which also finds a
    list someone deleted). Salesforce campaigns follow the people written to since the last
    activation, by this run or by event rounds (the mirror knows whom, since when), or
    everyone on a whole run. A failure is reported
    with the run and logged; it does not fail the sync, whose writes have landed.
    """
    if not marked(playbook):
        return None
    crm = connector.crm
    kind = "lists" if crm == "hubspot" else "campaigns"
    state = store.get_model_state(crm, APPLIED_STATE) or {}
    unchanged = state.get(kind) == fingerprint(connector, playbook)
    people: dict[str, set[str]] | None = None
    if not whole:
        if kind == "lists" and unchanged:
            return None
        if kind == "campaigns":
            # Everyone written since the last activation: this run's writes and those of
            # the event rounds in between (they move segments too).
            since = datetime.fromisoformat(state["since"]) if "since" in state else started_at
            people = {t: store.mirror.written_since(crm, t, since) for t in ("contact", "lead")}
            if unchanged and not any(people.values()):
                return None
            if not unchanged:
                people = None  # new campaigns: everyone in them
    try:
        return activate(connector, store, playbook, status=status, people=people)
    except (ActivationError, ConnectorError) as exc:
        log.warning("%s activation failed: %s", crm, exc)
        return {"crm": crm, "kind": kind, "error": str(exc)}
