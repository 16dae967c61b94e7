"""``segsync activate`` and the scheduled runs' activation step, for either CRM."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from connectors.base import Connector
from segmentation.playbook import Playbook
from workers.activation.lists import sync_lists
from workers.activation.plan import ActivationError, Kind, wanted
from workers.state import StateStore

APPLIED_STATE = "activation"  # model state: the definitions last applied, by fingerprint


def activate(
    connector: Connector,
    store: StateStore,
    playbook: Playbook,
    *,
    dry_run: bool = False,
    prune: bool = False,
) -> dict[str, Any]:
    """Bring the CRM's lists (HubSpot) or campaigns (Salesforce) in step; a JSON-ready report."""
    from connectors.hubspot.connector import HubSpotConnector

    if isinstance(connector, HubSpotConnector):
        report = sync_lists(connector, store, playbook, dry_run=dry_run, prune=prune)
        if not dry_run:
            store.save_model_state(
                connector.crm, APPLIED_STATE, {"lists": fingerprint(connector, playbook)}
            )
        return {
            "crm": connector.crm,
            "kind": "lists",
            "dry_run": dry_run,
            "steps": [s.as_dict() for s in report.steps],
            "counts": {a: report.count(a) for a in ACTIONS},
            "writes": report.writes,
            "api_calls": report.calls,
        }
    raise ActivationError(f"{connector.crm}: campaigns are not built yet")


ACTIONS = ("create", "adopt", "update", "rename", "delete", "stale", "keep")


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
