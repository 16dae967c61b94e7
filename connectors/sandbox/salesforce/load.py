"""Loading the seed into Salesforce-shaped tables (one per object, rows in id order)."""

from __future__ import annotations

from typing import Any

from connectors.sandbox.salesforce.object_schema import FieldDef, ObjectDef
from connectors.sandbox.salesforce.records import ALIASES, SalesforceData, first_id
from connectors.sandbox.salesforce.seed_rows import build, second
from connectors.sandbox.seed.generate import SeedData
from connectors.sandbox.store import Table


def make_table(obj: ObjectDef) -> Table:
    """An empty table for an object: one column per stored field."""
    kinds = {f.name: f.kind for f in obj.fields.values() if f.stored and f.name not in ALIASES}
    return Table(obj.table, kinds, aliases=ALIASES, first_id=first_id(obj.name), id_step=1)


def _fit(definition: FieldDef, value: Any) -> Any:
    """A seeded value clipped to the field's length (seed text can be longer than Salesforce's)."""
    if isinstance(value, str) and definition.length and len(value) > definition.length:
        return value[: definition.length]
    return value


def load_seed(data: SalesforceData, seed: SeedData, username: str) -> None:
    """Create every object's table and fill it from the seed."""
    rows = build(seed, data.id_of, username)
    for name, obj in data.objects.items():
        table = make_table(obj)
        source = rows.rows[name]
        columns = {
            field: [_fit(obj.fields[field.lower()], v) for v in values]
            for field, values in source.columns.items()
        }
        table.load(source.created, source.modstamp, columns)
        data.state.store.add_table(table)
    org_created = second(seed.anchor_ms - 4 * 365 * 86_400_000)
    for obj in data.objects.values():
        for definition in obj.fields.values():
            if definition.custom and not definition.created_ms:
                definition.created_ms = org_created  # seeded fields are as old as the org
    with data.lock:
        data.refresh_grants()
