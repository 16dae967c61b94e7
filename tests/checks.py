"""What a deployment's CRM must hold: a full sync's plan, recomputed, record by record."""

from __future__ import annotations

from typing import Any

from tests.deployment import Deployment, Key
from workers.state import StateStore
from workers.sync.outputs import is_companion


def crm_mismatches(
    d: Deployment,
    expected: dict[Key, dict[str, str | None]],
    *,
    written_once: bool,
) -> list[str]:
    """Where the sandbox does not hold ``expected``; with ``written_once``, also every
    segsync property whose value changed other than exactly once through the API."""
    problems: list[str] = []
    for (object_type, record_id), fields in sorted(expected.items()):
        record = d.record(object_type, record_id)
        props = record["properties"]
        for name, value in fields.items():
            if (props.get(name) or "") != (value or ""):
                problems.append(
                    f"{object_type} {record_id} {name}: CRM {props.get(name)!r} != {value!r}"
                )
        if written_once:
            changes = record["changes"]
            for name, value in props.items():
                if (
                    name.startswith("segsync_")
                    and value not in (None, "")
                    and changes.get(name) != 1
                ):
                    problems.append(
                        f"{object_type} {record_id} {name}: changed {changes.get(name, 0)} times"
                    )
    return problems


def assert_crm_holds(
    d: Deployment, expected: dict[Key, dict[str, str | None]], *, written_once: bool
) -> None:
    problems = crm_mismatches(d, expected, written_once=written_once)
    assert not problems, f"{len(problems)} problems, first ones:\n" + "\n".join(problems[:15])


def planned(
    d: Deployment, database_url: str | None = None, *, stored_statistics: bool = False
) -> tuple[dict[Key, dict[str, str]], set[str]]:
    """What a full sync would write now (``segsync sync --full --dry-run``, in this
    process) against the state store at ``database_url`` (default: the deployment's):
    per record the fields, and the names of the run-time companions among them.

    With ``stored_statistics``, the run applies the population statistics the store
    holds (RFM and value-tier bounds, CLV fit, centroids) instead of computing them
    afresh: what incremental runs and event rounds segment against until the nightly run
    refreshes them, so "exact" means equal to this."""
    from workers.sync.mirror_pull import pull_population
    from workers.sync.plan import load_playbook, plan_sync
    from workers.sync.runner import build_connector

    settings = d.local_settings(database_url)
    book = load_playbook(settings.playbook)
    connector = build_connector(settings, "hubspot")
    with StateStore(settings.database_url) as store:
        store.migrate()
        pulled = pull_population(connector, store, book, full=True)
        pulled.whole = not stored_statistics
        plan = plan_sync(connector, store, pulled, book)
    return {(w.object_type, w.record_id): dict(w.fields) for w in plan.writes}, plan.derived


def recompute(d: Deployment, *, fitted: bool = False) -> dict[Key, dict[str, str]]:
    """What a from-scratch run (empty state store, in this process) would write now,
    without the run-time companions (entered_at / previous / updated_at).

    With ``fitted``, the scratch store starts with the deployment's fitted models and
    population statistics (CLV fit, cluster centroids, RFM and tier bounds), and the run
    applies them: incremental runs and event rounds use them until the nightly run
    refreshes them, so values that depend on them are compared with the same ones.
    """
    from workers.sync.plan import CLUSTER_STATE, CLV_STATE, STATISTICS_STATE

    scratch = f"sqlite:///{d.tmp / 'from-scratch.db'}"
    with StateStore(scratch) as store:
        store.migrate()
        if fitted:
            with StateStore(d.database_url) as source:
                for name in (CLV_STATE, CLUSTER_STATE, STATISTICS_STATE):
                    value = source.get_model_state("hubspot", name)
                    if value is not None:
                        store.save_model_state("hubspot", name, value)
    writes, derived = planned(d, scratch, stored_statistics=fitted)
    return {
        key: {k: v for k, v in fields.items() if k not in derived} for key, fields in writes.items()
    }


def remembered(fields: dict[str, Any]) -> dict[str, Any]:
    """The fields of a write the state store keeps (not the run-time companions)."""
    return {k: v for k, v in fields.items() if not is_companion(k)}
