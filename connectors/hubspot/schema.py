"""segsync's properties in HubSpot: the ``segsync`` group, its properties, new options only.

Options already on a property are sent back untouched when new ones are added: removing
one still in use would orphan the values already written to records.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from hubspot.crm.properties import OptionInput, PropertyCreate, PropertyGroupCreate, PropertyUpdate

from connectors.base import FieldSpec, ObjectType, RejectedError, SchemaChange
from connectors.hubspot.http import HubSpotTransport
from connectors.hubspot.streams import HubSpotStream, stream_for

PROPERTY_GROUP = "segsync"

# segsync field type -> HubSpot (type, fieldType)
# An earlier segsync wrote some segments (clusters) as text: that property takes every
# option's value, so it stays; deleting it is the user's call, not a side effect.
KEPT_AS_TEXT = "text property takes every value; delete it and apply again for a dropdown"
_HUBSPOT_TYPES: dict[str, tuple[str, str]] = {
    "string": ("string", "text"),
    "number": ("number", "number"),
    "enumeration": ("enumeration", "select"),
    "datetime": ("datetime", "date"),
    "date": ("date", "date"),
    "bool": ("bool", "booleancheckbox"),
}


@dataclass
class PropertySchema:
    """Applies field specs to one portal through the connector's transport and SDK APIs."""

    transport: HubSpotTransport
    groups: Any  # the SDK's properties groups API
    properties: Any  # the SDK's properties core API
    field_name: Callable[[str], str]

    def apply(self, object_type: ObjectType, specs: Sequence[FieldSpec]) -> list[SchemaChange]:
        """Create the `segsync` group and properties; add new enumeration options only."""
        stream = stream_for(object_type)
        api = stream.api_name
        changes: list[SchemaChange] = []
        try:
            self.transport.call(
                f"GET /crm/v3/properties/{api}/groups/{{groupName}}",
                self.groups.get_by_name_with_http_info,
                api,
                PROPERTY_GROUP,
            )
        except RejectedError as exc:
            if exc.status != 404:
                raise
            try:
                self.transport.call(
                    f"POST /crm/v3/properties/{api}/groups",
                    self.groups.create_with_http_info,
                    api,
                    PropertyGroupCreate(name=PROPERTY_GROUP, label="segsync", display_order=-1),
                )
            except RejectedError as create_exc:
                if create_exc.status != 409:  # 409: a lost answer to our own create
                    raise
            changes.append(SchemaChange(object_type, PROPERTY_GROUP, "group_created"))
        existing = {
            prop.name: prop
            for prop in self.transport.call(
                f"GET /crm/v3/properties/{api}",
                self.properties.get_all_with_http_info,
                api,
            ).results
        }
        for spec in specs:
            changes.append(
                self._apply_field(stream, spec, existing.get(self.field_name(spec.name)))
            )
        return changes

    def _apply_field(
        self, stream: HubSpotStream, spec: FieldSpec, current: Any | None
    ) -> SchemaChange:
        api = stream.api_name
        name = self.field_name(spec.name)
        hs_type, field_type = _HUBSPOT_TYPES[spec.type]
        options = _options_for(spec)
        if current is None:
            try:
                self.transport.call(
                    f"POST /crm/v3/properties/{api}",
                    self.properties.create_with_http_info,
                    api,
                    PropertyCreate(
                        name=name,
                        label=spec.label,
                        type=hs_type,
                        field_type=field_type,
                        group_name=PROPERTY_GROUP,
                        description=spec.description,
                        options=options or None,
                    ),
                )
                return SchemaChange(stream.object_type, name, "created")
            except RejectedError as exc:
                if exc.status != 409:
                    raise
                # Our earlier attempt landed but its answer was lost (or another worker
                # won the race): carry on from what HubSpot now holds.
                current = self.transport.call(
                    f"GET /crm/v3/properties/{api}/{{propertyName}}",
                    self.properties.get_by_name_with_http_info,
                    api,
                    name,
                )
        if current.type == "string" and hs_type == "enumeration":
            return SchemaChange(stream.object_type, name, "kept_as_text", KEPT_AS_TEXT)
        if current.type != hs_type:
            raise RejectedError(
                f"HubSpot property {api}.{name} already exists with type {current.type!r}; "
                f"segsync needs {hs_type!r}. Delete or rename it in HubSpot, then run "
                "`segsync schema apply` again.",
                category="SCHEMA_CONFLICT",
            )
        known = {o.value for o in current.options or ()}
        new = [o for o in options if o.value not in known]
        if not new:
            return SchemaChange(stream.object_type, name, "unchanged")
        # Existing options are sent back untouched: removing one still in use would
        # orphan the values already written to records.
        kept = [
            OptionInput(
                label=o.label,
                value=o.value,
                hidden=bool(o.hidden),
                display_order=o.display_order,
                description=o.description,
            )
            for o in current.options or ()
        ]
        start = max((o.display_order or 0 for o in kept), default=0) + 1
        for offset, option in enumerate(new):
            option.display_order = start + offset
        self.transport.call(
            f"PATCH /crm/v3/properties/{api}/{{propertyName}}",
            self.properties.update_with_http_info,
            api,
            name,
            PropertyUpdate(options=kept + new),
        )
        added = ", ".join(o.value for o in new)
        return SchemaChange(stream.object_type, name, "options_added", added)


def _options_for(spec: FieldSpec) -> list[OptionInput]:
    if spec.type == "bool":
        return [
            OptionInput(label="Yes", value="true", hidden=False, display_order=0),
            OptionInput(label="No", value="false", hidden=False, display_order=1),
        ]
    return [
        OptionInput(
            label=value.replace("_", " ").capitalize(), value=value, hidden=False, display_order=i
        )
        for i, value in enumerate(spec.options)
    ]
