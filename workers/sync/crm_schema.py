"""segsync's fields in the CRM: created for a playbook, and checked before a run writes."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from connectors.base import Connector, ObjectType
from segmentation.playbook import Playbook
from workers.ops import progress
from workers.sync.mirror_pull import Pulled
from workers.sync.mirroring import MirrorShape
from workers.sync.outputs import field_specs
from workers.sync.plan import SyncPlan


class SchemaMissingError(RuntimeError):
    """A field segsync would write does not exist (or is read-only) in the CRM."""


def fields_found(pulled: Pulled) -> MirrorShape | None:
    """The fields the last full read found in the CRM, for a run that reads none itself
    (incremental, nightly); None for a full read, which asks the CRM again."""
    read_nothing = pulled.changed is None and not any(pulled.counts.values())
    return pulled.shape if pulled.changed is not None or read_nothing else None


def check_schema(connector: Connector, plan: SyncPlan, known: MirrorShape | None = None) -> None:
    """Refuse to write to fields that do not exist or are read-only, naming the fix.

    With ``known`` (a run that reads nothing from the CRM), the fields found by the last
    full read are taken as they were instead of asking the CRM again.
    """
    problems = []
    for object_type, fields in plan.required_fields().items():
        if known is not None:
            access = dict.fromkeys(known.present.get(object_type, ()), True)
        else:
            access = connector.field_access(object_type)
        ours = fields - plan.crm_owned
        missing = sorted(f for f in ours if f not in access)
        locked = sorted(f for f in ours if f in access and not access[f])
        if missing:
            problems.append(
                f"{object_type}: missing {', '.join(missing[:8])}"
                + (f" and {len(missing) - 8} more" if len(missing) > 8 else "")
            )
        if locked:
            problems.append(f"{object_type}: not writable {', '.join(locked[:8])}")
    if problems:
        raise SchemaMissingError(
            f"{connector.crm} lacks segsync's fields ({'; '.join(problems)}): "
            f"run `segsync schema apply --crm {connector.crm}` first"
        )


def apply_schema(
    connector: Connector, playbook: Playbook, object_types: Iterable[ObjectType]
) -> list[Any]:
    """Create segsync's fields for ``playbook`` on each object type."""
    changes = []
    wanted = {t: field_specs(playbook, t) for t in object_types}
    total = sum(len(specs) for specs in wanted.values())
    for object_type, specs in wanted.items():
        if specs:
            changes += connector.apply_schema(object_type, specs)
            progress.advance("schema", len(specs), total=total, unit="fields")
    return changes
