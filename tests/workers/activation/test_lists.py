"""HubSpot active lists per segment, against the HubSpot sandbox: created once, members as
the segments, nothing written on a second run, a renamed segment moves exactly its list,
``--prune`` deletes a dropped segment's list, the list limit and missing scopes named."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from connectors.base import AuthError
from connectors.hubspot.lists import segment_filter
from connectors.sandbox.hubspot.portal_lists import ListsApi
from segmentation.models import spec_for
from segmentation.playbook import Playbook, parse_playbook
from tests.harness import TOKEN, Harness, hubspot_harness
from workers.activation.plan import ActivationError
from workers.activation.run import activate
from workers.offline import playbook_source
from workers.settings import Settings
from workers.state import StateStore
from workers.sync.crm_schema import apply_schema
from workers.sync.plan import load_playbook
from workers.sync.runner import run_sync

pytestmark = pytest.mark.integration
# Syncs that should not activate anything themselves run the playbook unmarked.
PLAIN = load_playbook("b2b_saas")

MARKED = ("demographic", "geographic")


def book(*, rename: tuple[str, str] | None = None, drop: str | None = None) -> Playbook:
    """The b2b playbook with demographic and geographic marked ``activate: [lists]``."""
    _, text = playbook_source("b2b_saas")
    for model in MARKED:
        text = text.replace(f"\n  {model}:\n", f"\n  {model}:\n    activate: [lists]\n", 1)
    if rename is not None:
        text = text.replace(f"      - name: {rename[0]}\n", f"      - name: {rename[1]}\n", 1)
    if drop is not None:
        start = text.index(f"      - name: {drop}\n")
        end = min(text.index("      - name:", start + 1), text.index("    fallback:", start + 1))
        text = text[:start] + text[end:]
    return parse_playbook(text, source="b2b_saas.yaml")


@pytest.fixture
def synced(tmp_path: Path) -> Iterator[tuple[Harness, Settings, StateStore]]:
    harness = hubspot_harness(contacts=300, companies=40, deals=80)
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'state.db'}",
        redis_url=None,
        hubspot_base_url=harness.server.url,
        hubspot_token=SecretStr(TOKEN),
        hubspot_search_lag_seconds=0,
        hubspot_requests_per_10s=10_000,
    )
    connector = harness.build()
    apply_schema(connector, book(), ["contact", "company"])
    run_sync(settings, "hubspot", PLAIN, connector=connector, full=True)
    with StateStore(settings.database_url) as store:
        yield harness, settings, store
    harness.server.stop()


def lists_api(harness: Harness) -> ListsApi:
    lists: ListsApi = harness.server.dialect.lists  # type: ignore[attr-defined]
    return lists


def segment_sizes(harness: Harness, object_type: str, model: str) -> Counter[str]:
    table = harness.server.state.store.table(object_type)
    return Counter(
        str(table.get(row, f"segsync_{model}"))
        for row in range(len(table.ids))
        if not table.archived[row] and table.get(row, f"segsync_{model}")
    )


def live_lists(harness: Harness) -> dict[str, tuple[int, int]]:
    """name -> (list id, members) of every list in the sandbox portal."""
    api = lists_api(harness)
    return {
        lst.name: (lst.list_id, len(api.members(lst)))
        for lst in api.state.lists.values()
        if lst.deleted_ms is None
    }


def test_one_list_per_segment_with_the_segment_as_members_and_no_write_the_second_time(
    synced: tuple[Harness, Settings, StateStore],
) -> None:
    harness, _, store = synced
    connector = harness.build()
    first = activate(connector, store, book())
    portal = live_lists(harness)
    expected = set()
    for model in MARKED:
        spec = book().models[model]
        segments = [rule.segment for rule in spec.rules] + [spec.fallback]
        for object_type in spec.applies_to or spec_for(model).applies_to:
            suffix = " · companies" if object_type == "company" else ""
            expected |= {f"segsync · {model} · {segment}{suffix}" for segment in segments}
    assert set(portal) == expected
    assert {s["name"] for s in first["steps"] if s["action"] == "create"} == expected
    for name, (_, members) in portal.items():
        model, segment = name.split(" · ")[1:3]
        object_type = "company" if name.endswith("companies") else "contact"
        assert members == segment_sizes(harness, object_type, model).get(segment, 0), name
    assert sum(members for name, (_, members) in portal.items() if "demographic" in name) == 300
    # Every list is in the folder `segsync`, and recorded in the state store.
    api = lists_api(harness)
    folder = next(f for f in api.state.folders.values() if f.name == "segsync")
    assert {lst.folder_id for lst in api.state.lists.values()} == {folder.folder_id}
    assert {a.name for a in store.activations("hubspot", "list")} == expected

    second = activate(harness.build(), store, book())
    assert second["writes"] == 0
    assert second["counts"]["keep"] == len(expected)
    assert live_lists(harness) == portal


def test_a_renamed_segment_updates_exactly_its_list_and_prune_deletes_a_dropped_one(
    synced: tuple[Harness, Settings, StateStore],
) -> None:
    harness, settings, store = synced
    activate(harness.build(), store, book())
    before = live_lists(harness)
    renamed = book(rename=("emea", "europe"))
    connector = harness.build()
    apply_schema(connector, renamed, ["contact", "company"])  # the new option
    # A scheduled whole run applies the playbook's new wishes after its writes.
    run = run_sync(settings, "hubspot", renamed, connector=connector, full=True)
    report = run.activation
    assert report is not None
    changed = [s for s in report["steps"] if s["action"] != "keep"]
    assert {(s["action"], s["object_type"]) for s in changed} == {
        ("update", "contact"),
        ("update", "company"),
    }
    after = live_lists(harness)
    old_id = before["segsync · geographic · emea"][0]
    assert after["segsync · geographic · europe"][0] == old_id  # the same list, moved
    assert "segsync · geographic · emea" not in after
    assert after["segsync · geographic · europe"][1] == before["segsync · geographic · emea"][1]
    assert {n: v for n, v in after.items() if "europe" not in n} == {
        n: v for n, v in before.items() if "emea" not in n
    }

    dropped = book(rename=("emea", "europe"), drop="apac")
    kept = activate(harness.build(), store, dropped)
    assert {s["name"] for s in kept["steps"] if s["action"] == "stale"} == {
        "segsync · geographic · apac",
        "segsync · geographic · apac · companies",
    }
    assert kept["writes"] == 0 and "segsync · geographic · apac" in live_lists(harness)
    preview = activate(harness.build(), store, dropped, prune=True, dry_run=True)
    assert preview["counts"]["delete"] == 2 and "segsync · geographic · apac" in live_lists(harness)
    pruned = activate(harness.build(), store, dropped, prune=True)
    assert pruned["counts"]["delete"] == 2
    assert not any("apac" in name for name in live_lists(harness))
    assert not any(a.segment == "apac" for a in store.activations("hubspot", "list"))


def test_at_the_list_limit_the_error_names_it_and_every_list_made_is_recorded(
    tmp_path: Path,
) -> None:
    harness = hubspot_harness(contacts=60, companies=10, deals=10, list_limit=5)
    try:
        connector = harness.build()
        apply_schema(connector, book(), ["contact", "company"])
        with StateStore(f"sqlite:///{tmp_path / 'state.db'}") as store:
            store.migrate()
            with pytest.raises(ActivationError) as caught:
                activate(connector, store, book())
            message = str(caught.value)
            assert "limit of 5 lists" in message and "needs" in message
            assert "segsync · geographic · unknown" in message  # among those still missing
            recorded = {a.remote_id for a in store.activations("hubspot", "list")}
        assert recorded == {str(i) for _, (i, _) in live_lists(harness).items()}
        assert len(recorded) == 5
    finally:
        harness.server.stop()


def test_a_token_without_the_lists_scopes_is_told_which_scope(tmp_path: Path) -> None:
    harness = hubspot_harness(
        contacts=30, companies=5, deals=5, missing_scopes=("crm.lists.write",)
    )
    try:
        with StateStore(f"sqlite:///{tmp_path / 'state.db'}") as store:
            store.migrate()
            needs = r"this call needs crm\.lists\.read, crm\.lists\.write"
            with pytest.raises(AuthError, match=needs):
                activate(harness.build(), store, book())
            assert store.activations("hubspot", "list") == []
    finally:
        harness.server.stop()


def test_incremental_runs_leave_lists_alone_until_the_playbook_changes(
    synced: tuple[Harness, Settings, StateStore],
) -> None:
    harness, settings, store = synced
    activate(harness.build(), store, book())
    harness.admin("POST", "mutate", json={"count": 20, "object_type": "contacts"})
    before = harness.admin("GET", "stats")["requests"]
    run = run_sync(settings, "hubspot", book(), connector=harness.build())
    after = harness.admin("GET", "stats")["requests"]
    assert run.activation is None
    assert not any("lists" in k and after[k] != before.get(k) for k in after)
    changed = book(rename=("emea", "europe"))
    apply_schema(harness.build(), changed, ["contact", "company"])
    again = run_sync(settings, "hubspot", changed, connector=harness.build())
    assert again.activation is not None and again.activation["counts"]["update"] == 2


def test_a_list_edited_or_deleted_by_hand_is_put_back(
    synced: tuple[Harness, Settings, StateStore],
) -> None:
    harness, _, store = synced
    activate(harness.build(), store, book())
    before = live_lists(harness)
    lists = harness.build().lists  # type: ignore[attr-defined]
    edited, deleted = "segsync · geographic · emea", "segsync · demographic · director"
    lists.update_filters(str(before[edited][0]), segment_filter("segsync_geographic", "apac"))
    lists.delete(str(before[deleted][0]))
    report = activate(harness.build(), store, book())
    changed = {(s["action"], s["name"]) for s in report["steps"] if s["action"] != "keep"}
    assert changed == {("update", edited), ("create", deleted)}
    after = live_lists(harness)
    assert after[edited] == before[edited]  # same list, its members back
    assert after[deleted][1] == before[deleted][1] and after[deleted][0] != before[deleted][0]
