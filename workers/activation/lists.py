"""HubSpot active lists, one per segment: found, created, kept in step with the playbook.

HubSpot keeps each list's members itself (a DYNAMIC list filters on the segment field),
so what segsync keeps in step is the lists: their filter and name. A list is recorded in
the state store as soon as HubSpot created it. A second run finds every list as it
should be and writes nothing. A segment renamed in the playbook (one segment of a model
gone, one new) moves its list to the new value; lists of segments that are gone stay
until ``--prune``. At the portal's list limit the run stops, naming the limit and the
lists still missing.
"""

from __future__ import annotations

from typing import Any

from connectors.base import RejectedError
from connectors.hubspot.connector import HubSpotConnector
from connectors.hubspot.lists import HubSpotLists, segment_filter
from segmentation.playbook import Playbook
from workers.activation.plan import (
    ActivationError,
    Report,
    Step,
    Wanted,
    renamed_segments,
    wanted,
)
from workers.state import StateStore
from workers.state.activations import Activation

FOLDER = "segsync"
Key = tuple[str, str, str]


class ListsReport(Report):
    """What an activation of HubSpot lists did or would do; its writes are list writes."""


def sync_lists(
    connector: HubSpotConnector,
    store: StateStore,
    playbook: Playbook,
    *,
    dry_run: bool = False,
    prune: bool = False,
) -> ListsReport:
    """Make the portal hold one active list per segment of each model marked ``lists``."""
    crm = connector.crm
    lists = connector.lists
    calls = connector.usage().calls_made
    report = ListsReport(dry_run)
    want = {w.key: w for w in wanted(playbook, "list", connector.field_name)}
    kept = {(a.model, a.object_type, a.segment): a for a in store.activations(crm, "list")}
    current: dict[Key, dict[str, Any]] = {}
    existing = lists.live([a.remote_id for a in kept.values()]) if kept else {}
    for key, activation in kept.items():
        found = existing.get(activation.remote_id)
        if found is None:  # deleted in HubSpot: found again by name, or made anew
            if not dry_run:
                store.drop_activation(crm, activation)
        else:
            current[key] = found
    missing = [w for key, w in want.items() if key not in current]
    stale = [key for key in current if key not in want]
    renamed = renamed_segments(missing, stale)
    for key, w in want.items():
        if key in current:
            _keep_in_step(lists, store, crm, w, current[key], report)
        elif key in renamed:
            old = renamed[key]
            _move(lists, store, crm, w, kept[old], current[old], report)
    for key in stale:
        if key in renamed.values():
            continue
        found, activation = current[key], kept[key]
        if prune:
            if not dry_run:
                lists.delete(activation.remote_id)
                store.drop_activation(crm, activation)
            report.steps.append(Step.kept("delete", activation))
        else:
            detail = "its segment is no longer in the playbook; `--prune` deletes it"
            report.steps.append(Step.kept("stale", activation, detail))
    to_create = [w for w in missing if w.key not in renamed]
    _create(lists, store, crm, to_create, report)
    report.calls = connector.usage().calls_made - calls
    return report


def _keep_in_step(
    lists: HubSpotLists,
    store: StateStore,
    crm: str,
    w: Wanted,
    found: dict[str, Any],
    report: ListsReport,
) -> None:
    list_id = str(found["listId"])
    branch = segment_filter(w.field, w.segment)
    same_filter = _meaning(found.get("filterBranch")) == _meaning(branch)
    if not same_filter:
        if not report.dry_run:
            lists.update_filters(list_id, branch)
        report.steps.append(Step.wanted("update", w, list_id, "filter set to the segment"))
    if found.get("name") != w.name:
        if not report.dry_run:
            lists.rename(list_id, w.name)
            store.save_activation(crm, w.kept_as(list_id))
        report.steps.append(Step.wanted("rename", w, list_id, f"was {found.get('name')}"))
    if same_filter and found.get("name") == w.name:
        report.steps.append(Step.wanted("keep", w, list_id))


def _move(
    lists: HubSpotLists,
    store: StateStore,
    crm: str,
    w: Wanted,
    old: Activation,
    found: dict[str, Any],
    report: ListsReport,
) -> None:
    """A renamed segment: its list takes the new value's filter and name."""
    list_id = str(found["listId"])
    if not report.dry_run:
        lists.update_filters(list_id, segment_filter(w.field, w.segment))
        lists.rename(list_id, w.name)
        store.save_activation(crm, w.kept_as(list_id))
        store.drop_activation(crm, old)
    detail = f"segment {old.segment} renamed {w.segment}; was {found.get('name')}"
    report.steps.append(Step.wanted("update", w, list_id, detail))


def _create(
    lists: HubSpotLists, store: StateStore, crm: str, todo: list[Wanted], report: ListsReport
) -> None:
    """Adopt lists already named as segsync names them, create the rest."""
    folder: str | None = None
    for i, w in enumerate(todo):
        found = lists.find(w.name, w.object_type)
        if found is not None and found.get("processingType") == "DYNAMIC":
            list_id = str(found["listId"])
            if not report.dry_run:
                store.save_activation(crm, w.kept_as(list_id))
            report.steps.append(Step.wanted("adopt", w, list_id, "found by its name"))
            _keep_in_step(lists, store, crm, w, found, report)
            continue
        if found is not None:
            raise ActivationError(
                f"a {found.get('processingType')} list named {w.name!r} (id {found['listId']}) "
                "is in the way: segsync keeps active (DYNAMIC) lists; rename or delete it"
            )
        if report.dry_run:
            report.steps.append(Step.wanted("create", w))
            continue
        if folder is None:
            folder = lists.folder(FOLDER)
        try:
            made = lists.create(w.name, w.object_type, segment_filter(w.field, w.segment), folder)
        except RejectedError as exc:
            if "limit" in str(exc).lower():
                need = ", ".join(x.name for x in todo[i:])
                raise ActivationError(
                    f"HubSpot refused a new list at the portal's list limit ({exc}); segsync "
                    f"needs {len(todo) - i} more: {need}. Delete lists you no longer use, or "
                    "mark fewer models with `activate: [lists]`, then run `segsync activate` "
                    "again (the lists already made are kept)"
                ) from None
            raise
        list_id = str(made["listId"])
        store.save_activation(crm, w.kept_as(list_id))
        report.steps.append(Step.wanted("create", w, list_id))


def _meaning(branch: Any) -> Any:
    """What a filter selects, without what HubSpot may add or order differently when it
    echoes one back (extra keys, key order): its AND branches' property tests, as a set."""
    if not isinstance(branch, dict) or branch.get("filterBranchType") != "OR":
        return branch
    tests = set()
    for child in branch.get("filterBranches") or ():
        tests.add(
            tuple(
                sorted(
                    (
                        str(f.get("property")),
                        str((f.get("operation") or {}).get("operator")),
                        tuple(sorted(map(str, (f.get("operation") or {}).get("values") or ()))),
                        bool((f.get("operation") or {}).get("includeObjectsWithNoValueSet")),
                    )
                    for f in child.get("filters") or ()
                )
            )
        )
    return (frozenset(tests), bool(branch.get("filters")))
