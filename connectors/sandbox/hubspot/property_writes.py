"""Validating and applying property writes the way HubSpot does.

A write is validated completely before anything is applied: one bad value anywhere in
a batch rejects the whole batch (HubSpot's behaviour, without naming the input).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors.sandbox.hubspot.defaults import ERROR_NOUN, PIPELINES, STAGE_INFO, TYPE_ID_TARGET
from connectors.sandbox.hubspot.error_bodies import ApiError, invalid_properties
from connectors.sandbox.hubspot.records import HubSpotData
from connectors.sandbox.hubspot.values import Issue, normalize, normalize_number
from connectors.sandbox.store import Table

REQUIRED_ON_CREATE: dict[str, tuple[str, ...]] = {"deal": ("dealname", "dealstage")}


class Writer:
    """Turns API property maps into stored values and applies them."""

    def __init__(self, data: HubSpotData) -> None:
        self.data = data
        self.state = data.state

    # -- validation ---------------------------------------------------------------------------

    def validate(
        self, object_type: str, row: int | None, props: Any
    ) -> tuple[dict[str, Any], list[Issue]]:
        """Stored values for ``props`` on ``row`` (None = a new record) and the problems found."""
        if not isinstance(props, Mapping):
            raise ApiError(400, "Invalid input: 'properties' must be an object of property values")
        schema = self.data.schemas[object_type]
        table = self.data.table(object_type)
        values: dict[str, Any] = {}
        issues: list[Issue] = []
        for name, raw in props.items():
            if raw is None:
                continue  # null never clears; "" does
            prop = schema.live(name)
            if prop is None:
                issues.append(
                    Issue(name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist')
                )
                continue
            if prop.read_only_value:
                issues.append(
                    Issue(
                        name,
                        "READ_ONLY_VALUE",
                        f'"{name}" is a read only property; its value cannot be set.',
                    )
                )
                continue
            if prop.external_options:
                values[name] = None if raw == "" else str(raw)
                continue
            current = table.get(row, name) if row is not None else None
            result = normalize(prop, raw, current)
            if isinstance(result, Issue):
                issues.append(result)
            else:
                values[name] = result
        if object_type == "deal":
            issues.extend(self._check_pipeline(table, row, values))
        if "lifecyclestage" in values and row is not None:
            issues.extend(self._check_lifecycle(object_type, table, row, values))
        return values, issues

    def _check_pipeline(self, table: Table, row: int | None, values: dict[str, Any]) -> list[Issue]:
        if "pipeline" not in values and "dealstage" not in values:
            return []
        current_pipeline = table.get(row, "pipeline") if row is not None else None
        pipeline = values.get("pipeline", current_pipeline) or "default"
        if pipeline not in PIPELINES:
            return [
                Issue(
                    "pipeline",
                    "INVALID_OPTION",
                    f"{pipeline} was not one of the allowed options: [{', '.join(PIPELINES)}]",
                )
            ]
        if "pipeline" in values and values["pipeline"] is None:
            values["pipeline"] = "default"
        stage = values.get("dealstage", table.get(row, "dealstage") if row is not None else None)
        stages = [s[0] for s in PIPELINES[pipeline][1]]
        if stage is not None and stage not in stages:
            return [
                Issue(
                    "dealstage",
                    "INVALID_OPTION",
                    f"{stage} was not one of the allowed options: [{', '.join(stages)}]",
                )
            ]
        return []

    def _check_lifecycle(
        self, object_type: str, table: Table, row: int, values: dict[str, Any]
    ) -> list[Issue]:
        new, current = values["lifecyclestage"], table.get(row, "lifecyclestage")
        if new is None or current is None or new == current:
            return []
        prop = self.data.schemas[object_type].properties["lifecyclestage"]
        order = {o.value: o.display_order for o in prop.options}
        if order.get(new, 0) >= order.get(current, 0):
            return []
        if self.state.config.lifecycle_backward == "ignore":
            del values["lifecyclestage"]  # HubSpot may silently keep the later stage
            return []
        return [
            Issue(
                "lifecyclestage",
                "INVALID_LIFECYCLE_STAGE",
                f"{new} is an earlier lifecycle stage than the current value {current}. Lifecycle "
                "stage can only move forward; clear it first to set an earlier stage.",
            )
        ]

    def check_required(self, object_type: str, values: Mapping[str, Any]) -> list[Issue]:
        """Issues for properties a new record must have."""
        issues = [
            Issue(n, "REQUIRED_PROPERTY", f'Property "{n}" is required')
            for n in REQUIRED_ON_CREATE.get(object_type, ())
            if values.get(n) in (None, "")
        ]
        if object_type == "company" and not values.get("name") and not values.get("domain"):
            issues.append(Issue("name", "REQUIRED_PROPERTY", "A company needs a name or a domain"))
        return issues

    def raise_if_invalid(self, issues: list[Issue]) -> None:
        """The whole-batch 400 when anything was invalid."""
        if issues:
            raise invalid_properties(issues)

    def check_rejects(
        self, object_type: str, ids: list[int], props: list[Mapping[str, Any]]
    ) -> None:
        """The injected 'reject' fault: a whole-batch 400 that does not name the record."""
        faults = self.state.faults
        for record_id, written in zip(ids, props, strict=True):
            if faults.rejects(object_type, record_id):
                self.state.stats.fault("reject")
                name = next(iter(written), "hs_object_id")
                raise invalid_properties(
                    [
                        Issue(
                            name,
                            "INVALID_PROPERTY_VALUE",
                            "The value failed a validation rule set up in this account",
                        )
                    ]
                )

    def check_unique(
        self, object_type: str, pending: list[tuple[int | None, Mapping[str, Any]]]
    ) -> None:
        """409 when a write would give two records the same email (or unique property value)."""
        table = self.data.table(object_type)
        claimed: set[tuple[str, str]] = set()
        for row, values in pending:
            for name in table.unique:
                value = values.get(name)
                if value is None:
                    continue
                key = (name, str(value).lower())
                if key in claimed:
                    raise ApiError(
                        409,
                        f"Duplicate values for the unique property {name} found in "
                        f"batch input: [{value}]",
                        "CONFLICT",
                        context={name: [str(value)]},
                    )
                owner = table.lookup_unique(name, str(value))
                if owner is not None and owner != row:
                    existing = table.ids[owner]
                    if object_type == "contact" and name == "email":
                        raise ApiError(
                            409, f"Contact already exists. Existing ID: {existing}", "CONFLICT"
                        )
                    noun = ERROR_NOUN[object_type].lower()
                    raise ApiError(
                        409,
                        f"A {noun} with {name}={value} already exists. Existing ID: {existing}",
                        "CONFLICT",
                    )
                claimed.add(key)

    # -- applying -------------------------------------------------------------------------------

    def apply(self, object_type: str, row: int, values: Mapping[str, Any], now_ms: int) -> bool:
        """Write validated values to a record; True when something really changed."""
        table = self.data.table(object_type)
        delay = self.state.config.search_index_delay
        changed = table.update(row, values, now_ms, via_api=True, index_delay=delay)
        if changed:
            derived = self.derived(object_type, changed, values)
            if derived:
                table.update(row, derived, now_ms, via_api=False, index_delay=delay)
        return bool(changed)

    def create(self, object_type: str, values: Mapping[str, Any], now_ms: int) -> int:
        """Insert a validated record; returns its row."""
        table = self.data.table(object_type)
        full = dict(values)
        if object_type == "deal":
            full.setdefault("pipeline", "default")
            full.update(self.derived(object_type, list(full), full))
        return table.insert(full, now_ms, index_delay=self.state.config.search_index_delay)

    def derived(
        self, object_type: str, changed: list[str], values: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Calculated properties HubSpot keeps in step (deal stage -> won/closed/probability)."""
        if object_type != "deal" or "dealstage" not in changed:
            return {}
        stage = values.get("dealstage")
        info = STAGE_INFO.get(stage) if stage else None
        if info is None:
            return {
                "hs_is_closed_won": None,
                "hs_is_closed": None,
                "hs_deal_stage_probability": None,
            }
        _, probability, closed = info
        return {
            "hs_is_closed_won": "true" if closed and probability >= 1.0 else "false",
            "hs_is_closed": "true" if closed else "false",
            "hs_deal_stage_probability": normalize_number(str(probability)),
        }

    def link(self, object_type: str, record_id: int, targets: list[tuple[str, int]]) -> None:
        """Link a new record to validated association targets."""
        for to_type, to_id in targets:
            self.state.store.link(object_type, record_id, to_type, to_id)

    def validate_associations(self, object_type: str, associations: Any) -> list[tuple[str, int]]:
        """Check a create body's associations; returns (to type, to id) pairs."""
        if associations in (None, []):
            return []
        if not isinstance(associations, list):
            raise ApiError(400, "Invalid input: 'associations' must be an array")
        out: list[tuple[str, int]] = []
        for item in associations:
            to = item.get("to") if isinstance(item, dict) else None
            types = item.get("types") if isinstance(item, dict) else None
            if not isinstance(to, dict) or not isinstance(types, list) or not types:
                raise ApiError(400, "Invalid input: each association needs 'to' and 'types'")
            for spec in types:
                type_id = spec.get("associationTypeId") if isinstance(spec, dict) else None
                pair = TYPE_ID_TARGET.get(type_id) if isinstance(type_id, int) else None
                if pair is None or pair[0] != object_type:
                    raise ApiError(
                        400, f"Association type id {type_id} is not valid for {object_type}s"
                    )
                if self.data.table(pair[1]).row(str(to.get("id"))) is None:
                    raise ApiError(
                        400,
                        f"Association target {pair[1]} {to.get('id')} does not exist",
                        "OBJECT_NOT_FOUND",
                    )
                out.append((pair[1], int(to["id"])))
        return out

    def result_names(self, object_type: str, written: Mapping[str, Any]) -> list[str]:
        """Properties echoed in a write's result: what was written plus the system ones."""
        return self.data.property_names(object_type, list(written), ())
