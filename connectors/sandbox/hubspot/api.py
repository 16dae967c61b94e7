"""The HubSpot dialect: routes, dispatch, and HubSpot's auth, quota and gateway responses."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from connectors.sandbox.dialect import CallInfo, Route, RouteKind
from connectors.sandbox.hubspot.associations import AssociationsApi
from connectors.sandbox.hubspot.defaults import (
    ASSOCIATION_TYPES,
    ID_PLACEHOLDER,
    OBJECT_NAMES,
    PATH_OBJECTS,
)
from connectors.sandbox.hubspot.error_bodies import (
    INVALID_AUTH_MESSAGE,
    ApiError,
    gateway_error,
    json_response,
    rate_limit_body,
)
from connectors.sandbox.hubspot.load import HubSpotMutationHooks, load_seed
from connectors.sandbox.hubspot.oauth import OAuthApi
from connectors.sandbox.hubspot.objects import ObjectsApi
from connectors.sandbox.hubspot.pipelines import pipelines
from connectors.sandbox.hubspot.portal_lists import ListsApi
from connectors.sandbox.hubspot.properties import PropertiesApi
from connectors.sandbox.hubspot.records import HubSpotData
from connectors.sandbox.hubspot.search import SearchApi
from connectors.sandbox.hubspot.values import format_value, iso
from connectors.sandbox.mutate import MutationHooks
from connectors.sandbox.quotas import Usage
from connectors.sandbox.seed.generate import SeedData
from connectors.sandbox.state import SandboxState
from connectors.sandbox.tokens import AuthFailure, Principal

Handler = Callable[[Request, Mapping[str, Any], CallInfo], Response]

# (rule, method, endpoint, stats template, kind); templates fill {obj}/{from}/{to}/{id}.
ROUTES: tuple[tuple[str, str, str, str, RouteKind], ...] = (
    ("/crm/v3/objects/<obj>", "GET", "objects.list", "/crm/v3/objects/{obj}", "api"),
    ("/crm/v3/objects/<obj>", "POST", "objects.create", "/crm/v3/objects/{obj}", "api"),
    (
        "/crm/v3/objects/<obj>/search",
        "POST",
        "objects.search",
        "/crm/v3/objects/{obj}/search",
        "search",
    ),
    *(
        (
            f"/crm/v3/objects/<obj>/batch/{op}",
            "POST",
            f"objects.batch_{op}",
            f"/crm/v3/objects/{{obj}}/batch/{op}",
            "api",
        )
        for op in ("read", "create", "update", "upsert", "archive")
    ),
    ("/crm/v3/objects/<obj>/<id>", "GET", "objects.get", "/crm/v3/objects/{obj}/{id}", "api"),
    ("/crm/v3/objects/<obj>/<id>", "PATCH", "objects.update", "/crm/v3/objects/{obj}/{id}", "api"),
    (
        "/crm/v3/objects/<obj>/<id>",
        "DELETE",
        "objects.archive",
        "/crm/v3/objects/{obj}/{id}",
        "api",
    ),
    ("/crm/v3/properties/<obj>", "GET", "properties.list", "/crm/v3/properties/{obj}", "api"),
    ("/crm/v3/properties/<obj>", "POST", "properties.create", "/crm/v3/properties/{obj}", "api"),
    *(
        (
            f"/crm/v3/properties/<obj>/batch/{op}",
            "POST",
            f"properties.batch_{op}",
            f"/crm/v3/properties/{{obj}}/batch/{op}",
            "api",
        )
        for op in ("read", "create", "archive")
    ),
    (
        "/crm/v3/properties/<obj>/groups",
        "GET",
        "groups.list",
        "/crm/v3/properties/{obj}/groups",
        "api",
    ),
    (
        "/crm/v3/properties/<obj>/groups",
        "POST",
        "groups.create",
        "/crm/v3/properties/{obj}/groups",
        "api",
    ),
    *(
        (
            "/crm/v3/properties/<obj>/groups/<name>",
            m,
            f"groups.{e}",
            "/crm/v3/properties/{obj}/groups/{groupName}",
            "api",
        )
        for m, e in (("GET", "get"), ("PATCH", "update"), ("DELETE", "archive"))
    ),
    *(
        (
            "/crm/v3/properties/<obj>/<name>",
            m,
            f"properties.{e}",
            "/crm/v3/properties/{obj}/{propertyName}",
            "api",
        )
        for m, e in (("GET", "get"), ("PATCH", "update"), ("DELETE", "archive"))
    ),
    (
        "/crm/v4/associations/<from_obj>/<to_obj>/batch/read",
        "POST",
        "associations.v4_read",
        "/crm/v4/associations/{from}/{to}/batch/read",
        "api",
    ),
    (
        "/crm/v3/associations/<from_obj>/<to_obj>/batch/read",
        "POST",
        "associations.v3_read",
        "/crm/v3/associations/{from}/{to}/batch/read",
        "api",
    ),
    (
        "/crm/v4/objects/<from_obj>/<id>/associations/<to_obj>",
        "GET",
        "associations.v4_list",
        "/crm/v4/objects/{from}/{id}/associations/{to}",
        "api",
    ),
    ("/crm/v3/pipelines/<obj>", "GET", "pipelines.list", "/crm/v3/pipelines/{obj}", "api"),
    (
        "/crm/v3/pipelines/<obj>/<pipeline_id>",
        "GET",
        "pipelines.get",
        "/crm/v3/pipelines/{obj}/{pipelineId}",
        "api",
    ),
    ("/crm/v3/lists", "POST", "lists.create", "/crm/v3/lists", "api"),
    ("/crm/v3/lists", "GET", "lists.get_many", "/crm/v3/lists", "api"),
    ("/crm/v3/lists/search", "POST", "lists.search", "/crm/v3/lists/search", "api"),
    ("/crm/v3/lists/folders", "GET", "lists.folders", "/crm/v3/lists/folders", "api"),
    ("/crm/v3/lists/folders", "POST", "lists.create_folder", "/crm/v3/lists/folders", "api"),
    (
        "/crm/v3/lists/folders/move-list",
        "PUT",
        "lists.move_list",
        "/crm/v3/lists/folders/move-list",
        "api",
    ),
    (
        "/crm/v3/lists/folders/<folder_id>",
        "DELETE",
        "lists.delete_folder",
        "/crm/v3/lists/folders/{folderId}",
        "api",
    ),
    (
        "/crm/v3/lists/object-type-id/<object_type_id>/name/<path:list_name>",
        "GET",
        "lists.get_by_name",
        "/crm/v3/lists/object-type-id/{objectTypeId}/name/{listName}",
        "api",
    ),
    ("/crm/v3/lists/<list_id>", "GET", "lists.get", "/crm/v3/lists/{listId}", "api"),
    ("/crm/v3/lists/<list_id>", "DELETE", "lists.delete", "/crm/v3/lists/{listId}", "api"),
    *(
        (
            f"/crm/v3/lists/<list_id>/{tail}",
            method,
            f"lists.{name}",
            f"/crm/v3/lists/{{listId}}/{tail}",
            "api",
        )
        for tail, method, name in (
            ("update-list-filters", "PUT", "update_filters"),
            ("update-list-name", "PUT", "update_name"),
            ("restore", "PUT", "restore"),
            ("memberships", "GET", "memberships"),
        )
    ),
    ("/oauth/v1/token", "POST", "oauth.token", "/oauth/v1/token", "oauth"),
    (
        "/oauth/v1/access-tokens/<token>",
        "GET",
        "oauth.access_info",
        "/oauth/v1/access-tokens/{token}",
        "oauth",
    ),
    (
        "/oauth/v1/refresh-tokens/<token>",
        "GET",
        "oauth.refresh_info",
        "/oauth/v1/refresh-tokens/{token}",
        "oauth",
    ),
    (
        "/oauth/v1/refresh-tokens/<token>",
        "DELETE",
        "oauth.revoke",
        "/oauth/v1/refresh-tokens/{token}",
        "oauth",
    ),
)


def _segment(raw: Any) -> str:
    canon = PATH_OBJECTS.get(str(raw).lower())
    return OBJECT_NAMES[canon] if canon else "{objectType}"


class HubSpotDialect:
    """HubSpot's CRM v3 API over the shared store."""

    name = "hubspot"
    correlation_header = "X-HubSpot-Correlation-Id"

    def __init__(self, state: SandboxState, seed: SeedData) -> None:
        self.state = state
        self.data = HubSpotData(state)
        load_seed(self.data, seed)
        self.hooks: MutationHooks = HubSpotMutationHooks(self.data)
        self.url_map = Map(
            [
                Rule(rule, methods=[method], endpoint=f"{endpoint}")
                for rule, method, endpoint, _, _ in ROUTES
            ],
            strict_slashes=False,
        )
        self._routes = {
            endpoint: (method, template, kind) for _, method, endpoint, template, kind in ROUTES
        }
        objects, search = ObjectsApi(self.data), SearchApi(self.data)
        props, assoc, oauth = (
            PropertiesApi(self.data),
            AssociationsApi(self.data),
            OAuthApi(self.data),
        )
        self.lists = lists = ListsApi(self.data)
        self._handlers: dict[str, Handler] = {
            "objects.list": lambda r, a, c: objects.list_page(r, a["obj"], c),
            "objects.create": lambda r, a, c: objects.create(r, a["obj"], c),
            "objects.search": lambda r, a, c: search.search(r, a["obj"]),
            "objects.batch_read": lambda r, a, c: objects.batch_read(r, a["obj"], c),
            "objects.batch_create": lambda r, a, c: objects.batch_create(r, a["obj"], c),
            "objects.batch_update": lambda r, a, c: objects.batch_update(r, a["obj"], c),
            "objects.batch_upsert": lambda r, a, c: objects.batch_upsert(r, a["obj"], c),
            "objects.batch_archive": lambda r, a, c: objects.batch_archive(r, a["obj"], c),
            "objects.get": lambda r, a, c: objects.get(r, a["obj"], a["id"], c),
            "objects.update": lambda r, a, c: objects.update(r, a["obj"], a["id"], c),
            "objects.archive": lambda r, a, c: objects.archive(r, a["obj"], a["id"], c),
            "properties.list": lambda r, a, c: props.list_properties(r, a["obj"]),
            "properties.create": lambda r, a, c: props.create(r, a["obj"]),
            "properties.batch_read": lambda r, a, c: props.batch_read(r, a["obj"], c),
            "properties.batch_create": lambda r, a, c: props.batch_create(r, a["obj"], c),
            "properties.batch_archive": lambda r, a, c: props.batch_archive(r, a["obj"]),
            "properties.get": lambda r, a, c: props.get(r, a["obj"], a["name"]),
            "properties.update": lambda r, a, c: props.update(r, a["obj"], a["name"]),
            "properties.archive": lambda r, a, c: props.archive(r, a["obj"], a["name"]),
            "groups.list": lambda r, a, c: props.list_groups(r, a["obj"]),
            "groups.create": lambda r, a, c: props.create_group(r, a["obj"]),
            "groups.get": lambda r, a, c: props.get_group(r, a["obj"], a["name"]),
            "groups.update": lambda r, a, c: props.update_group(r, a["obj"], a["name"]),
            "groups.archive": lambda r, a, c: props.archive_group(r, a["obj"], a["name"]),
            "associations.v4_read": lambda r, a, c: assoc.batch_read_v4(
                r, a["from_obj"], a["to_obj"], c
            ),
            "associations.v3_read": lambda r, a, c: assoc.batch_read_v3(
                r, a["from_obj"], a["to_obj"], c
            ),
            "associations.v4_list": lambda r, a, c: assoc.list_v4(
                r, a["from_obj"], a["id"], a["to_obj"]
            ),
            "pipelines.list": lambda r, a, c: pipelines(r, a["obj"], self.data),
            "pipelines.get": lambda r, a, c: pipelines(r, a["obj"], self.data, a["pipeline_id"]),
            "lists.create": lambda r, a, c: lists.create(r),
            "lists.get_many": lambda r, a, c: lists.get_many(r),
            "lists.search": lambda r, a, c: lists.search(r),
            "lists.folders": lambda r, a, c: lists.folders(r),
            "lists.create_folder": lambda r, a, c: lists.create_folder(r),
            "lists.move_list": lambda r, a, c: lists.move_list(r),
            "lists.delete_folder": lambda r, a, c: lists.delete_folder(a["folder_id"]),
            "lists.get_by_name": lambda r, a, c: lists.get_by_name(
                r, a["object_type_id"], a["list_name"]
            ),
            "lists.get": lambda r, a, c: lists.get(r, a["list_id"]),
            "lists.delete": lambda r, a, c: lists.delete(a["list_id"]),
            "lists.update_filters": lambda r, a, c: lists.update_filters(r, a["list_id"]),
            "lists.update_name": lambda r, a, c: lists.update_name(r, a["list_id"]),
            "lists.restore": lambda r, a, c: lists.restore(a["list_id"]),
            "lists.memberships": lambda r, a, c: lists.memberships(r, a["list_id"]),
            "oauth.token": lambda r, a, c: oauth.token(r, c),
            "oauth.access_info": lambda r, a, c: oauth.access_token_info(a["token"], c),
            "oauth.refresh_info": lambda r, a, c: oauth.refresh_token_info(a["token"], c),
            "oauth.revoke": lambda r, a, c: oauth.revoke(a["token"], c),
        }

    def route(self, method: str, endpoint: str, args: Mapping[str, Any]) -> Route:
        """Stats template with the object type spelled out (``0-1`` counts as ``contacts``)."""
        rule_method, template, kind = self._routes[endpoint]
        canon = PATH_OBJECTS.get(str(args.get("obj") or args.get("from_obj") or "").lower())
        filled = template.format(
            obj=_segment(args.get("obj")),
            **{"from": _segment(args.get("from_obj"))},
            to=_segment(args.get("to_obj")),
            id=ID_PLACEHOLDER.get(canon or "", "{objectId}"),
            groupName="{groupName}",
            propertyName="{propertyName}",
            pipelineId="{pipelineId}",
            listId="{listId}",
            folderId="{folderId}",
            objectTypeId="{objectTypeId}",
            listName="{listName}",
            token="{token}",
        )
        return Route(f"{rule_method} {filled}", kind)

    def handle(
        self, endpoint: str, request: Request, args: Mapping[str, Any], call: CallInfo
    ) -> Response:
        """Run a handler; ApiError becomes HubSpot's error body."""
        try:
            return self._handlers[endpoint](request, args, call)
        except ApiError as exc:
            return json_response(exc.status, exc.body(call.correlation_id))

    def precheck(self, request: Request, call: CallInfo) -> Response | None:
        """Nothing is refused before routing."""
        return None

    def credentials(self, request: Request, endpoint: str) -> str | None:
        """The ``Authorization`` header."""
        return request.headers.get("Authorization")

    def unauthorized(self, failure: AuthFailure, call: CallInfo) -> Response:
        """401 INVALID_AUTHENTICATION, or EXPIRED_AUTHENTICATION for an expired OAuth token."""
        if failure.reason == "expired":
            ago = max(0, int(self.state.now_ms() / 1000 - failure.expired_at))
            err = ApiError(
                401,
                f"The OAuth token used to make this call expired {ago} second(s) ago.",
                "EXPIRED_AUTHENTICATION",
                context={"expire time": [iso(int(failure.expired_at * 1000))]},
            )
        else:
            err = ApiError(401, INVALID_AUTH_MESSAGE, "INVALID_AUTHENTICATION")
        return json_response(401, err.body(call.correlation_id))

    def rate_limited(self, policy: str, call: CallInfo) -> Response:
        """429 with HubSpot's rate-limit body."""
        return json_response(429, rate_limit_body(policy, call.correlation_id))

    def gateway_error(self, status: int, call: CallInfo) -> Response:
        """An injected 502/503/504."""
        return gateway_error(status, call.correlation_id)

    def plain_error(self, status: int, message: str, call: CallInfo) -> Response:
        """Errors raised before a handler runs."""
        category = {404: "OBJECT_NOT_FOUND", 405: "VALIDATION_ERROR"}.get(status, "INTERNAL_ERROR")
        return json_response(status, ApiError(status, message, category).body(call.correlation_id))

    def rate_headers(self, usage: Usage, principal: Principal) -> list[tuple[str, str]]:
        """X-HubSpot-RateLimit-* headers (the daily pair is not sent on OAuth calls)."""
        headers = [
            ("X-HubSpot-RateLimit-Interval-Milliseconds", str(usage.interval_ms)),
            ("X-HubSpot-RateLimit-Max", str(usage.interval_max)),
            ("X-HubSpot-RateLimit-Remaining", str(usage.interval_remaining)),
        ]
        if not principal.oauth:
            headers += [
                ("X-HubSpot-RateLimit-Daily", str(usage.daily_max)),
                ("X-HubSpot-RateLimit-Daily-Remaining", str(usage.daily_remaining)),
            ]
        return headers

    def object_type(self, name: str) -> str | None:
        """``contacts``/``contact``/``0-1`` -> ``contact``."""
        return PATH_OBJECTS.get(name.lower())

    def api_name(self, object_type: str) -> str:
        """``contact`` -> ``contacts``."""
        return OBJECT_NAMES[object_type]

    def format_id(self, object_type: str, record_id: int) -> str:
        """HubSpot ids are the numbers as strings."""
        return str(record_id)

    def parse_id(self, object_type: str, text: str) -> int | None:
        """A decimal id, None when not a number."""
        try:
            return int(text)
        except ValueError:
            return None

    def timestamp(self, ms: int) -> int:
        """HubSpot keeps milliseconds."""
        return ms

    def record_view(self, object_type: str, row: int) -> dict[str, Any]:
        """Every non-empty property as the API shows it, plus linked ids per object type."""
        table = self.data.table(object_type)
        props = {}
        for name, prop in self.data.schemas[object_type].properties.items():
            if prop.archived:
                continue
            value = format_value(table.kind_of(name), table.get(row, name))
            if value is not None:
                props[name] = value
        links = {}
        for frm, to in ASSOCIATION_TYPES:
            if frm == object_type:
                ids = self.data.live_links(object_type, table.ids[row], to)
                if ids:
                    links[OBJECT_NAMES[to]] = [str(i) for i in ids]
        return {"properties": props, "associations": links}
