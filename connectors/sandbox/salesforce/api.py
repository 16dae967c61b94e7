"""The Salesforce dialect: routes, dispatch, and Salesforce's auth, limit and server-error answers.

Limits as Salesforce has them: a rolling-24-hour org allocation (``daily_limit``) reported in
``Sforce-Limit-Info: api-usage=used/max`` on every API response; once exhausted, every call
gets 403 ``REQUEST_LIMIT_EXCEEDED`` "TotalRequests Limit exceeded." There is no
per-10-second limit and no HTTP 429. The injected "429" fault share stands for Salesforce's
own throttle, the concurrent long-running request limit: 403 ``REQUEST_LIMIT_EXCEEDED``
"ConcurrentPerOrgLongTxn Limit exceeded." (retry later); injected 5xx answer 503
``SERVER_UNAVAILABLE`` or 500 ``UNKNOWN_EXCEPTION``. SOAP endpoints answer all of these as
SOAP faults.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from connectors.sandbox.dialect import CallInfo, Route, RouteKind
from connectors.sandbox.mutate import MutationHooks
from connectors.sandbox.quotas import DAILY, Usage
from connectors.sandbox.salesforce.activity import SalesforceMutationHooks
from connectors.sandbox.salesforce.bulk_jobs import RESULTS, BulkApi
from connectors.sandbox.salesforce.collections import CollectionsApi
from connectors.sandbox.salesforce.error_bodies import (
    SESSION_EXPIRED,
    SfError,
    json_response,
    not_found,
    server_error,
)
from connectors.sandbox.salesforce.ids import parse_id
from connectors.sandbox.salesforce.load import load_seed
from connectors.sandbox.salesforce.logins import AuthApi
from connectors.sandbox.salesforce.metadata.api import MetadataApi, session_id
from connectors.sandbox.salesforce.query import QueryApi
from connectors.sandbox.salesforce.record_writes import Writer
from connectors.sandbox.salesforce.records import SalesforceData
from connectors.sandbox.salesforce.rest import RestApi, check_version
from connectors.sandbox.salesforce.soap import METADATA_NS, SoapFault
from connectors.sandbox.seed.generate import SeedData
from connectors.sandbox.state import SandboxState
from connectors.sandbox.tokens import AuthFailure, Principal

Handler = Callable[[Request, Mapping[str, Any], CallInfo], Response]
MAX_URI = 16_384  # bytes of URI plus headers Salesforce accepts (HTTP 414/431 beyond)
D = "/services/data/<version>"
T = "/services/data/vXX.X"
# (rule, methods, endpoint, stats template, kind)
ROUTES: tuple[tuple[str, tuple[str, ...], str, str, RouteKind], ...] = (
    ("/services/oauth2/token", ("POST",), "auth.token", "/services/oauth2/token", "oauth"),
    (
        "/services/oauth2/userinfo",
        ("GET", "POST"),
        "auth.userinfo",
        "/services/oauth2/userinfo",
        "oauth",
    ),
    ("/services/Soap/u/<version>", ("POST",), "soap.login", "/services/Soap/u/vXX.X", "oauth"),
    (
        "/services/Soap/u/<version>/<path:rest>",
        ("POST",),
        "soap.login",
        "/services/Soap/u/vXX.X",
        "oauth",
    ),
    ("/services/Soap/m/<version>", ("POST",), "soap.metadata", "/services/Soap/m/vXX.X", "api"),
    (
        "/services/Soap/m/<version>/<path:rest>",
        ("POST",),
        "soap.metadata",
        "/services/Soap/m/vXX.X",
        "api",
    ),
    ("/services/data", ("GET",), "rest.versions", "/services/data", "oauth"),
    (D, ("GET",), "rest.resources", T, "api"),
    (f"{D}/limits", ("GET",), "rest.limits", f"{T}/limits", "api"),
    (f"{D}/sobjects", ("GET",), "rest.sobjects", f"{T}/sobjects", "api"),
    (f"{D}/sobjects/<sobject>", ("GET",), "rest.sobject", f"{T}/sobjects/{{sobject}}", "api"),
    (f"{D}/sobjects/<sobject>", ("POST",), "rest.create", f"{T}/sobjects/{{sobject}}", "api"),
    (
        f"{D}/sobjects/<sobject>/updated",
        ("GET",),
        "rest.updated",
        f"{T}/sobjects/{{sobject}}/updated",
        "api",
    ),
    (
        f"{D}/sobjects/<sobject>/deleted",
        ("GET",),
        "rest.deleted",
        f"{T}/sobjects/{{sobject}}/deleted",
        "api",
    ),
    (
        f"{D}/sobjects/<sobject>/describe",
        ("GET",),
        "rest.describe",
        f"{T}/sobjects/{{sobject}}/describe",
        "api",
    ),
    (
        f"{D}/sobjects/<sobject>/<rid>",
        ("GET",),
        "rest.get",
        f"{T}/sobjects/{{sobject}}/{{id}}",
        "api",
    ),
    (
        f"{D}/sobjects/<sobject>/<rid>",
        ("PATCH",),
        "rest.update",
        f"{T}/sobjects/{{sobject}}/{{id}}",
        "api",
    ),
    (
        f"{D}/sobjects/<sobject>/<rid>",
        ("DELETE",),
        "rest.delete",
        f"{T}/sobjects/{{sobject}}/{{id}}",
        "api",
    ),
    (f"{D}/query", ("GET",), "query.query", f"{T}/query", "api"),
    (f"{D}/query/<locator>", ("GET",), "query.more", f"{T}/query/{{locator}}", "api"),
    (f"{D}/queryAll", ("GET",), "query.all", f"{T}/queryAll", "api"),
    (f"{D}/queryAll/<locator>", ("GET",), "query.more", f"{T}/queryAll/{{locator}}", "api"),
    (f"{D}/composite/sobjects", ("POST",), "coll.create", f"{T}/composite/sobjects", "api"),
    (f"{D}/composite/sobjects", ("PATCH",), "coll.update", f"{T}/composite/sobjects", "api"),
    (f"{D}/composite/sobjects", ("DELETE",), "coll.delete", f"{T}/composite/sobjects", "api"),
    (
        f"{D}/composite/sobjects/<sobject>",
        ("GET",),
        "coll.retrieve",
        f"{T}/composite/sobjects/{{sobject}}",
        "api",
    ),
    (f"{D}/jobs/ingest", ("POST",), "bulk.create", f"{T}/jobs/ingest", "api"),
    (f"{D}/jobs/ingest", ("GET",), "bulk.list", f"{T}/jobs/ingest", "api"),
    (f"{D}/jobs/ingest/<job_id>", ("GET",), "bulk.get", f"{T}/jobs/ingest/{{jobId}}", "api"),
    (f"{D}/jobs/ingest/<job_id>", ("PATCH",), "bulk.patch", f"{T}/jobs/ingest/{{jobId}}", "api"),
    (
        f"{D}/jobs/ingest/<job_id>",
        ("DELETE",),
        "bulk.delete",
        f"{T}/jobs/ingest/{{jobId}}",
        "api",
    ),
    (
        f"{D}/jobs/ingest/<job_id>/batches",
        ("PUT",),
        "bulk.upload",
        f"{T}/jobs/ingest/{{jobId}}/batches",
        "api",
    ),
    (
        f"{D}/jobs/ingest/<job_id>/<kind>",
        ("GET",),
        "bulk.results",
        f"{T}/jobs/ingest/{{jobId}}/{{results}}",
        "api",
    ),
)
OBJECT_TYPES = {
    "contact": "contact",
    "contacts": "contact",
    "lead": "lead",
    "leads": "lead",
    "company": "company",
    "companies": "company",
    "account": "company",
    "accounts": "company",
    "deal": "deal",
    "deals": "deal",
    "opportunity": "deal",
    "opportunities": "deal",
}


class SalesforceDialect:
    """Salesforce's REST, Bulk API 2.0, SOAP login and Metadata API over the shared store."""

    name = "salesforce"
    correlation_header = "X-Request-Id"

    def __init__(self, state: SandboxState, seed: SeedData) -> None:
        self.state = state
        self.data = SalesforceData(state)
        load_seed(self.data, seed, state.config.username)
        self.writer = Writer(self.data)
        self.hooks: MutationHooks = SalesforceMutationHooks(self.data, self.writer)
        self.bulk = BulkApi(self.data, self.writer)
        self.rest = RestApi(self.data, self.writer, self.bulk.batches_used)
        self.query = QueryApi(self.data)
        self.collections = CollectionsApi(self.data, self.writer, self.rest)
        self.auth = AuthApi(self.data)
        self.metadata = MetadataApi(self.data, self.writer)
        rules = []
        self._routes: dict[str, tuple[str, str, RouteKind]] = {}
        for rule, methods, endpoint, template, kind in ROUTES:
            key = f"{endpoint}:{'|'.join(methods)}:{rule}"
            rules.append(Rule(rule, methods=list(methods), endpoint=key))
            self._routes[key] = (methods[0], template, kind)
        self.url_map = Map(rules, strict_slashes=False)
        self._handlers: dict[str, Handler] = self._make_handlers()

    def _make_handlers(self) -> dict[str, Handler]:
        rest, query, coll, bulk = self.rest, self.query, self.collections, self.bulk

        def v(a: Mapping[str, Any]) -> str:
            return check_version(str(a["version"]))

        def results(r: Request, a: Mapping[str, Any], c: CallInfo) -> Response:
            v(a)
            if a["kind"] not in RESULTS:
                raise not_found()
            return bulk.results(a["job_id"], a["kind"])

        return {
            "auth.token": lambda r, a, c: self.auth.token(r, c),
            "auth.userinfo": lambda r, a, c: self.auth.userinfo(r, c),
            "soap.login": lambda r, a, c: self.auth.soap_login(r, str(a["version"]), c),
            "soap.metadata": lambda r, a, c: self.metadata.handle(r),
            "rest.versions": lambda r, a, c: rest.versions(),
            "rest.resources": lambda r, a, c: rest.resources(v(a), self.auth.instance_url(c)),
            "rest.limits": lambda r, a, c: (v(a), rest.limits())[1],
            "rest.sobjects": lambda r, a, c: rest.sobjects(v(a)),
            "rest.sobject": lambda r, a, c: rest.sobject_info(v(a), a["sobject"]),
            "rest.create": lambda r, a, c: (v(a), rest.create(r, a["sobject"]))[1],
            "rest.describe": lambda r, a, c: rest.describe(v(a), a["sobject"]),
            "rest.updated": lambda r, a, c: (
                v(a),
                rest.replicated(r, a["sobject"], deleted=False),
            )[1],
            "rest.deleted": lambda r, a, c: (
                v(a),
                rest.replicated(r, a["sobject"], deleted=True),
            )[1],
            "rest.get": lambda r, a, c: rest.get(r, v(a), a["sobject"], a["rid"]),
            "rest.update": lambda r, a, c: (v(a), rest.update(r, a["sobject"], a["rid"]))[1],
            "rest.delete": lambda r, a, c: (v(a), rest.delete(a["sobject"], a["rid"]))[1],
            "query.query": lambda r, a, c: query.query(r, v(a), query_all=False),
            "query.all": lambda r, a, c: query.query(r, v(a), query_all=True),
            "query.more": lambda r, a, c: query.more(r, v(a), a["locator"]),
            "coll.create": lambda r, a, c: (v(a), coll.save(r, creating=True))[1],
            "coll.update": lambda r, a, c: (v(a), coll.save(r, creating=False))[1],
            "coll.delete": lambda r, a, c: (v(a), coll.delete(r))[1],
            "coll.retrieve": lambda r, a, c: coll.retrieve(r, v(a), a["sobject"]),
            "bulk.create": lambda r, a, c: bulk.create(r, v(a)),
            "bulk.list": lambda r, a, c: bulk.list(v(a)),
            "bulk.get": lambda r, a, c: bulk.get(v(a), a["job_id"]),
            "bulk.patch": lambda r, a, c: bulk.patch(r, v(a), a["job_id"]),
            "bulk.delete": lambda r, a, c: (v(a), bulk.delete(a["job_id"]))[1],
            "bulk.upload": lambda r, a, c: (v(a), bulk.upload(r, a["job_id"]))[1],
            "bulk.results": results,
        }

    # -- the Dialect protocol --------------------------------------------------------------------

    @staticmethod
    def _endpoint(key: str) -> str:
        return key.split(":", 1)[0]

    @staticmethod
    def _soap(call: CallInfo) -> bool:
        return call.endpoint.startswith("soap.")

    def route(self, method: str, endpoint: str, args: Mapping[str, Any]) -> Route:
        """Stats template with the sObject spelled out and the version as ``vXX.X``."""
        _, template, kind = self._routes[endpoint]
        sobject = args.get("sobject")
        obj = self.data.obj(str(sobject)) if sobject else None
        filled = template.replace("{sobject}", obj.name if obj else "{sobject}")
        kind_arg = str(args.get("kind", ""))
        filled = filled.replace("{results}", kind_arg if kind_arg in RESULTS else "{results}")
        return Route(f"{method} {filled}", kind)

    def precheck(self, request: Request, call: CallInfo) -> Response | None:
        """414 for a URI over 16,384 bytes, 431 when URI and headers together are."""
        uri = str(request.environ.get("REQUEST_URI") or request.full_path)
        if len(uri.encode()) > MAX_URI:
            return Response(
                b"<html><body><h1>414 Request-URI Too Large</h1></body></html>",
                status=414,
                content_type="text/html",
            )
        headers = sum(len(k) + len(v) + 4 for k, v in request.headers.items())
        if len(uri.encode()) + headers > MAX_URI:
            return Response(
                b"<html><body><h1>431 Request Header Fields Too Large</h1></body></html>",
                status=431,
                content_type="text/html",
            )
        return None

    def credentials(self, request: Request, endpoint: str) -> str | None:
        """``Authorization`` (``OAuth <sid>`` works too); the SessionHeader for SOAP calls."""
        if self._endpoint(endpoint) == "soap.metadata":
            sid = session_id(request.get_data(cache=True))
            return f"Bearer {sid}" if sid else None
        header = request.headers.get("Authorization")
        if header and header[:6].lower() == "oauth ":
            return "Bearer " + header[6:].strip()
        return header

    def handle(
        self, endpoint: str, request: Request, args: Mapping[str, Any], call: CallInfo
    ) -> Response:
        """Run a handler; SfError becomes Salesforce's error array."""
        try:
            return self._handlers[self._endpoint(endpoint)](request, args, call)
        except SfError as exc:
            if self._soap(call):
                return SoapFault.of(exc).response(METADATA_NS)
            return exc.response()

    def unauthorized(self, failure: AuthFailure, call: CallInfo) -> Response:
        """401 INVALID_SESSION_ID (a SOAP fault for Metadata API calls)."""
        if self._soap(call):
            return SoapFault(
                "INVALID_SESSION_ID",
                "Invalid Session ID found in SessionHeader: Illegal Session",
            ).response(METADATA_NS)
        return json_response(401, [{"message": SESSION_EXPIRED, "errorCode": "INVALID_SESSION_ID"}])

    def rate_limited(self, policy: str, call: CallInfo) -> Response:
        """403 REQUEST_LIMIT_EXCEEDED: the daily allocation, or (injected) the concurrency limit."""
        message = (
            "TotalRequests Limit exceeded."
            if policy == DAILY
            else "ConcurrentPerOrgLongTxn Limit exceeded."
        )
        if self._soap(call):
            return SoapFault("REQUEST_LIMIT_EXCEEDED", message).response(METADATA_NS)
        return json_response(403, [{"message": message, "errorCode": "REQUEST_LIMIT_EXCEEDED"}])

    def gateway_error(self, status: int, call: CallInfo) -> Response:
        """An injected server error: 503 SERVER_UNAVAILABLE or 500 UNKNOWN_EXCEPTION."""
        if self._soap(call):
            return SoapFault(
                "UNKNOWN_EXCEPTION", "An unexpected error occurred. Please try again."
            ).response(METADATA_NS)
        return server_error(status)

    def plain_error(self, status: int, message: str, call: CallInfo) -> Response:
        """Errors raised before a handler runs, in the REST error shape."""
        if status == 404:
            return not_found().response()
        if status == 405:
            return json_response(405, [{"message": message, "errorCode": "METHOD_NOT_ALLOWED"}])
        return server_error(500)

    def rate_headers(self, usage: Usage, principal: Principal) -> list[tuple[str, str]]:
        """``Sforce-Limit-Info: api-usage=used/max``."""
        used = usage.daily_max - usage.daily_remaining
        return [("Sforce-Limit-Info", f"api-usage={used}/{usage.daily_max}")]

    def object_type(self, name: str) -> str | None:
        """Admin names (``contacts``, ``accounts``, ``Opportunity``…) -> canonical type."""
        canonical = OBJECT_TYPES.get(name.lower())
        if canonical is not None:
            return canonical
        obj = self.data.obj(name)
        return obj.table if obj is not None else None

    def api_name(self, object_type: str) -> str:
        """``company`` -> ``Account``."""
        return self.data.by_table(object_type).name

    def record_view(self, object_type: str, row: int) -> dict[str, Any]:
        """Every field (hidden custom fields included) of one record, as the API shows them."""
        obj = self.data.by_table(object_type)
        table = self.data.table(obj)
        fields = {
            f.name: self.data.json_value(obj, table, row, f)
            for f in obj.fields.values()
            if self.data.stored(obj, table, row, f) not in (None, False) or f.name == "IsDeleted"
        }
        return {"properties": fields, "sobject": obj.name}

    def format_id(self, object_type: str, record_id: int) -> str:
        """The 18-character id of a store id."""
        return self.data.record_id(self.data.by_table(object_type), record_id)

    def parse_id(self, object_type: str, text: str) -> int | None:
        """The store id of a 15/18-character id of this object type."""
        parsed = parse_id(text, self.data.by_table(object_type).prefix)
        return None if parsed is None else parsed[1]

    def timestamp(self, ms: int) -> int:
        """Salesforce datetimes have whole-second precision."""
        return ms // 1000 * 1000
