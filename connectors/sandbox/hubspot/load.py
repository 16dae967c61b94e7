"""Loading the neutral seed into HubSpot-shaped tables, and the mutation hooks for HubSpot."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors.sandbox.hubspot.defaults import ALIASES, FIELD_MAP, ID_RANGES, PIPELINES, VALUE_MAPS
from connectors.sandbox.hubspot.error_bodies import ApiError
from connectors.sandbox.hubspot.property_schema import PropertyDef
from connectors.sandbox.hubspot.property_writes import Writer
from connectors.sandbox.hubspot.records import HubSpotData
from connectors.sandbox.hubspot.values import format_value, normalize_number
from connectors.sandbox.seed.generate import SeedData
from connectors.sandbox.store import Table


def encode(prop: PropertyDef, field: str, value: Any) -> Any:
    """Stored form of one canonical seed value for a HubSpot property."""
    if value is None:
        return None
    mapping = VALUE_MAPS.get(field)
    if mapping is not None:
        return mapping.get(value, value)
    kind = prop.kind
    if kind in ("datetime", "date"):
        return int(value)
    if kind == "number":
        return str(value) if isinstance(value, int) else normalize_number(repr(float(value)))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ";".join(str(v) for v in value) or None
    return str(value)


def encode_column(prop: PropertyDef, field: str, values: list[Any]) -> list[Any]:
    """:func:`encode` over a whole seed column, without a call per value where it can.

    A million contacts make tens of millions of values; numbers repeat (rounded amounts,
    head counts) and are encoded once per distinct value.
    """
    mapping = VALUE_MAPS.get(field)
    if mapping is not None:
        return [None if v is None else mapping.get(v, v) for v in values]
    if prop.kind in ("datetime", "date"):
        return [None if v is None else int(v) for v in values]
    if prop.kind == "number":
        memo: dict[tuple[type, Any], Any] = {}
        out: list[Any] = []
        for v in values:
            if v is None:
                out.append(None)
                continue
            key = (type(v), v)
            stored = memo.get(key)
            if stored is None:
                stored = memo[key] = encode(prop, field, v)
            out.append(stored)
        return out
    # Text as it is (str() of a str is the str); lists, booleans and the rest as encode says.
    return [v if v is None or type(v) is str else encode(prop, field, v) for v in values]


def load_seed(data: HubSpotData, seed: SeedData) -> None:
    """Create one table per object type from the schemas and fill it with the seed."""
    store = data.state.store
    for object_type, schema in data.schemas.items():
        aliases = ALIASES[object_type]
        kinds = {name: p.kind for name, p in schema.properties.items() if name not in aliases}
        first, step = ID_RANGES[object_type]
        table = Table(object_type, kinds, aliases=aliases, first_id=first, id_step=step)
        source = seed.tables[object_type]
        columns: dict[str, list[Any]] = {}
        for field, values in source.columns.items():
            native = FIELD_MAP[object_type].get(field)
            if native is None:
                continue
            prop = schema.properties[native]
            columns[native] = encode_column(prop, field, values)
        table.load(
            source.columns.get("created_at", []), source.columns.get("updated_at", []), columns
        )
        if object_type == "contact":
            table.index_unique("email")  # contacts are deduplicated by email
        for name, prop in schema.properties.items():
            if prop.has_unique_value:
                table.index_unique(name)
        store.add_table(table)
    for (a_type, b_type), pairs in seed.links.items():
        a_ids, b_ids = store.table(a_type).ids, store.table(b_type).ids
        for a_row, b_row in pairs:
            store.link(a_type, a_ids[a_row], b_type, b_ids[b_row])


class HubSpotMutationHooks:
    """How simulated activity maps onto HubSpot properties."""

    def __init__(self, data: HubSpotData) -> None:
        self.data = data
        self.writer = Writer(data)

    def native(self, object_type: str, field: str) -> str | None:
        """HubSpot property of a canonical field."""
        return FIELD_MAP[object_type].get(field)

    def encode(self, object_type: str, field: str, value: Any) -> Any:
        """Stored form of a canonical value."""
        native = FIELD_MAP[object_type][field]
        return encode(self.data.schemas[object_type].properties[native], field, value)

    def advance(self, object_type: str, field: str, table: Table, row: int) -> Any:
        """Next lifecycle stage (never to 'other') or next deal stage in the record's pipeline."""
        if field == "lifecycle_stage":
            prop = self.data.schemas[object_type].properties["lifecyclestage"]
            order = [v for v in prop.option_values if v != "other"]
            current = table.get(row, "lifecyclestage")
            if current is None:
                return order[0]
            if current not in order or order.index(current) + 1 >= len(order):
                return None
            return order[order.index(current) + 1]
        pipeline = table.get(row, "pipeline") or "default"
        stages = [s for s in PIPELINES.get(pipeline, PIPELINES["default"])[1]]
        current = table.get(row, "dealstage")
        ids = [s[0] for s in stages]
        if current in ids and stages[ids.index(current)][3]:
            return None  # closed deals stay closed
        position = ids.index(current) if current in ids else -1
        following = [s for s in stages[position + 1 :]]
        return following[0][0] if following else None

    def after_change(
        self, object_type: str, table: Table, row: int, changed: list[str], now_ms: int
    ) -> None:
        """Recalculate deal won/closed/probability when the stage moved."""
        values = {name: table.get(row, name) for name in changed}
        derived = self.writer.derived(object_type, changed, values)
        if derived:
            table.update(
                row,
                derived,
                now_ms,
                via_api=False,
                index_delay=self.data.state.config.search_index_delay,
            )

    def after_delete(self, object_type: str, table: Table, row: int, now_ms: int) -> None:
        """Nothing depends on a deletion: archived records drop out of lists and links."""

    def writable(self, object_type: str, table: Table, row: int) -> bool:
        """Every live HubSpot record can be edited."""
        return True

    def user_values(
        self, object_type: str, table: Table, row: int, properties: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Validated as an API write would be (unknown or read-only properties are refused)."""
        try:
            values, issues = self.writer.validate(object_type, row, properties)
        except ApiError as exc:
            raise ValueError(exc.message) from None
        if issues:
            raise ValueError("; ".join(f"{i.name}: {i.message}" for i in issues))
        return values

    def shown(self, object_type: str, table: Table, row: int, name: str) -> Any:
        """The API's string form of a property value."""
        kind = table.kind_of(name)
        return None if kind is None else format_value(kind, table.get(row, name))
