"""``/crm/v3/properties/{objectType}``: properties, batch property calls and property groups."""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Request, Response

from connectors.sandbox.dialect import CallInfo
from connectors.sandbox.hubspot.error_bodies import (
    ApiError,
    batch_response,
    json_response,
    no_content,
)
from connectors.sandbox.hubspot.property_schema import (
    ObjectSchema,
    PropertyDef,
    PropertyGroup,
    SchemaError,
    group_from_create,
    property_from_create,
    property_from_update,
)
from connectors.sandbox.hubspot.records import HubSpotData, bool_param, read_json
from connectors.sandbox.hubspot.values import iso


class PropertiesApi:
    """Handlers for the properties API."""

    def __init__(self, data: HubSpotData) -> None:
        self.data = data
        self.state = data.state

    def _schema(self, obj: str) -> tuple[str, ObjectSchema]:
        object_type = self.data.object_type(obj)
        return object_type, self.data.schemas[object_type]

    @staticmethod
    def _group(schema: ObjectSchema, name: str) -> PropertyGroup:
        group = schema.groups.get(name)
        if group is None or group.archived:
            raise ApiError(
                404, f"Unable to find property group with name {name}", "OBJECT_NOT_FOUND"
            )
        return group

    def _prop(self, schema: ObjectSchema, name: str) -> PropertyDef:
        prop = schema.live(name)
        if prop is None:
            raise ApiError(404, f"Unable to find property with name {name}", "OBJECT_NOT_FOUND")
        return prop

    # -- properties -----------------------------------------------------------------------------

    def list_properties(self, request: Request, obj: str) -> Response:
        """All (or all archived) properties of an object type."""
        _, schema = self._schema(obj)
        archived = bool_param(request, "archived")
        with self.state.store.lock:
            results = [p.to_json(iso) for p in schema.properties.values() if p.archived == archived]
        return json_response(200, {"results": results})

    def get(self, request: Request, obj: str, name: str) -> Response:
        """One property."""
        _, schema = self._schema(obj)
        with self.state.store.lock:
            return json_response(200, self._prop(schema, name).to_json(iso))

    def create(self, request: Request, obj: str) -> Response:
        """Create a custom property: 201, 409 when the name exists."""
        object_type, schema = self._schema(obj)
        body = read_json(request)
        with self.state.store.lock:
            prop = self._create_one(object_type, schema, body)
            return json_response(201, prop.to_json(iso))

    def _create_one(self, object_type: str, schema: ObjectSchema, body: Any) -> PropertyDef:
        try:
            prop = property_from_create(body, schema, self.state.now_ms())
        except SchemaError as exc:
            raise ApiError(400, str(exc)) from None
        if prop.name in schema.properties:
            raise ApiError(
                409,
                f"Property named '{prop.name}' already exists.",
                "OBJECT_ALREADY_EXISTS",
                context={"name": [prop.name]},
            )
        self._install(object_type, schema, prop)
        return prop

    def _install(self, object_type: str, schema: ObjectSchema, prop: PropertyDef) -> None:
        schema.properties[prop.name] = prop
        table = self.data.table(object_type)
        table.add_property(prop.name, prop.kind)
        if prop.has_unique_value:
            table.index_unique(prop.name)

    def update(self, request: Request, obj: str, name: str) -> Response:
        """PATCH a property; ``options`` replace the old list (HubSpot allows removing options)."""
        object_type, schema = self._schema(obj)
        body = read_json(request)
        with self.state.store.lock:
            prop = self._prop(schema, name)
            try:
                updated = property_from_update(prop, body, schema, self.state.now_ms())
            except SchemaError as exc:
                raise ApiError(400, str(exc)) from None
            self._install(object_type, schema, updated)
            return json_response(200, updated.to_json(iso))

    def archive(self, request: Request, obj: str, name: str) -> Response:
        """Archive a custom property (HubSpot-defined ones cannot be archived)."""
        _, schema = self._schema(obj)
        with self.state.store.lock:
            prop = self._prop(schema, name)
            if prop.hubspot_defined:
                raise ApiError(
                    400, f"Property {name} is a HubSpot-defined property and cannot be archived"
                )
            prop.archived = True
            prop.updated_at = self.state.now_ms()
        return no_content()

    def batch_read(self, request: Request, obj: str, call: CallInfo) -> Response:
        """Several properties by name; unknown names are left out."""
        _, schema = self._schema(obj)
        body = read_json(request)
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list):
            raise ApiError(400, "Invalid input JSON: expected an object with an 'inputs' array")
        archived = bool(body.get("archived", False))
        with self.state.store.lock:
            results = []
            for item in inputs:
                prop = (
                    schema.properties.get(str(item.get("name"))) if isinstance(item, dict) else None
                )
                if prop is not None and prop.archived == archived:
                    results.append(prop.to_json(iso))
        return batch_response(call.started_ms, results)

    def batch_create(self, request: Request, obj: str, call: CallInfo) -> Response:
        """Create several properties; existing names come back as 207 errors."""
        object_type, schema = self._schema(obj)
        body = read_json(request)
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list) or not inputs:
            raise ApiError(
                400, "Invalid input JSON: expected an object with a non-empty 'inputs' array"
            )
        now = self.state.now_ms()
        with self.state.store.lock:
            candidates = []
            for item in inputs:
                try:
                    candidates.append(property_from_create(item, schema, now))
                except SchemaError as exc:
                    raise ApiError(400, str(exc)) from None
            results, errors = [], []
            for prop in candidates:
                if prop.name in schema.properties:
                    errors.append(
                        {
                            "status": "error",
                            "category": "OBJECT_ALREADY_EXISTS",
                            "message": f"Property named '{prop.name}' already exists.",
                            "context": {"name": [prop.name]},
                            "errors": [],
                            "links": {},
                        }
                    )
                    continue
                self._install(object_type, schema, prop)
                results.append(prop.to_json(iso))
        return batch_response(call.started_ms, results, errors, ok_status=201)

    def batch_archive(self, request: Request, obj: str) -> Response:
        """Archive several custom properties."""
        _, schema = self._schema(obj)
        body = read_json(request)
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list):
            raise ApiError(400, "Invalid input JSON: expected an object with an 'inputs' array")
        with self.state.store.lock:
            for item in inputs:
                prop = schema.live(str(item.get("name"))) if isinstance(item, dict) else None
                if prop is not None and not prop.hubspot_defined:
                    prop.archived = True
        return no_content()

    # -- groups ---------------------------------------------------------------------------------

    def list_groups(self, request: Request, obj: str) -> Response:
        """All property groups."""
        _, schema = self._schema(obj)
        with self.state.store.lock:
            results = [g.to_json() for g in schema.groups.values() if not g.archived]
        return json_response(200, {"results": results})

    def get_group(self, request: Request, obj: str, name: str) -> Response:
        """One property group."""
        _, schema = self._schema(obj)
        with self.state.store.lock:
            group = self._group(schema, name)
            return json_response(200, group.to_json())

    def create_group(self, request: Request, obj: str) -> Response:
        """Create a property group: 201, 409 when the name exists."""
        _, schema = self._schema(obj)
        body = read_json(request)
        try:
            group = group_from_create(body)
        except SchemaError as exc:
            raise ApiError(400, str(exc)) from None
        with self.state.store.lock:
            existing = schema.groups.get(group.name)
            if existing is not None and not existing.archived:
                raise ApiError(
                    409,
                    f"Property group named '{group.name}' already exists.",
                    "OBJECT_ALREADY_EXISTS",
                    context={"name": [group.name]},
                )
            schema.groups[group.name] = group
            return json_response(201, group.to_json())

    def update_group(self, request: Request, obj: str, name: str) -> Response:
        """Change a group's label or display order."""
        _, schema = self._schema(obj)
        body = read_json(request)
        if not isinstance(body, dict):
            raise ApiError(400, "request body must be a JSON object")
        with self.state.store.lock:
            group = self._group(schema, name)
            if "label" in body:
                group.label = str(body["label"])
            if "displayOrder" in body:
                if not isinstance(body["displayOrder"], int):
                    raise ApiError(400, "displayOrder must be an integer")
                group.display_order = body["displayOrder"]
            return json_response(200, group.to_json())

    def archive_group(self, request: Request, obj: str, name: str) -> Response:
        """Archive an empty property group."""
        _, schema = self._schema(obj)
        with self.state.store.lock:
            group = self._group(schema, name)
            if any(p.group_name == name and not p.archived for p in schema.properties.values()):
                raise ApiError(400, f"Property group {name} still contains properties")
            group.archived = True
        return no_content()
