"""``GET query/?q=`` and ``queryAll/?q=``: SOQL over the store, paged through query locators.

A query's result is serialised when it runs: the locator (``nextRecordsUrl``) pins that
snapshot, so records changed while a client pages through still appear once, as they were.
Pages hold up to 2,000 records (``Sforce-Query-Options: batchSize=N``, 200..2000).
``queryAll`` also returns soft-deleted records (``IsDeleted`` true). Cursors live until the
sandbox holds more than :data:`MAX_CURSORS` of them; the oldest is then forgotten and its
locator answers ``INVALID_QUERY_LOCATOR`` (real orgs keep them two days).
"""

from __future__ import annotations

import itertools
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from werkzeug.wrappers import Request, Response

from connectors.sandbox.salesforce.describe import SoqlDescribe
from connectors.sandbox.salesforce.error_bodies import JSON_TYPE, SfError
from connectors.sandbox.salesforce.ids import make_id
from connectors.sandbox.salesforce.object_schema import FieldDef, ObjectDef
from connectors.sandbox.salesforce.records import SalesforceData
from connectors.sandbox.salesforce.soql.engine import SoqlError, parse_soql
from connectors.sandbox.store import Table

DEFAULT_BATCH = 2000
MIN_BATCH = 200
MAX_CURSORS = 64
_BATCH = re.compile(r"batchSize\s*=\s*(\d+)", re.IGNORECASE)
_LOCATOR = re.compile(r"^([0-9A-Za-z]{18})-(\d+)$")
Getter = Callable[[int, tuple[str, ...]], Any]


@dataclass(slots=True)
class Cursor:
    """A serialised result: one JSON document per record."""

    records: list[bytes]
    query_all: bool


class QueryApi:
    """Runs queries and serves their later pages."""

    def __init__(self, data: SalesforceData) -> None:
        self.data = data
        self.describe = SoqlDescribe(data)
        self._cursors: OrderedDict[str, Cursor] = OrderedDict()
        self._lock = threading.Lock()
        self._serial = itertools.count(1)

    # -- endpoints --------------------------------------------------------------------------

    def query(self, request: Request, version: str, *, query_all: bool) -> Response:
        """Run ``q`` and answer the first page."""
        text = request.args.get("q")
        if text is None or not text.strip():
            raise SfError(400, "MALFORMED_QUERY", "A query string has to be specified")
        try:
            parsed = parse_soql(text, self.describe)
        except SoqlError as exc:
            raise SfError(400, exc.error_code, exc.message) from None
        obj = self.data.obj(parsed.object_name)
        assert obj is not None  # the describe only names objects that exist
        with self.data.state.store.lock:
            table = self.data.table(obj)
            candidates = range(len(table)) if query_all else _live(table)
            get = self._getter(obj)
            now = datetime.now(UTC)
            if parsed.is_count:
                total = parsed.count(candidates, get, now=now)
                return _page(total, [], None)
            rows = parsed.execute(candidates, get, now=now)
            attributes = self._attributes(version)
            records = [
                orjson.dumps(parsed.project(row, get, attributes=attributes)) for row in rows
            ]
        cursor = Cursor(records, query_all)
        return self._answer(cursor, 0, self._batch(request), version, None)

    def more(self, request: Request, version: str, locator: str) -> Response:
        """A later page: ``GET query/{locator}-{offset}``."""
        m = _LOCATOR.match(locator)
        with self._lock:
            cursor = self._cursors.get(m.group(1)) if m else None
            if cursor is not None and m is not None:
                self._cursors.move_to_end(m.group(1))
        if m is None or cursor is None or int(m.group(2)) >= len(cursor.records):
            raise SfError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return self._answer(cursor, int(m.group(2)), self._batch(request), version, m.group(1))

    # -- pieces -------------------------------------------------------------------------------

    def _answer(
        self, cursor: Cursor, start: int, batch: int, version: str, locator: str | None
    ) -> Response:
        end = min(len(cursor.records), start + batch)
        next_url = None
        if end < len(cursor.records):
            if locator is None:
                locator = self._remember(cursor, version)
            kind = "queryAll" if cursor.query_all else "query"
            next_url = f"/services/data/{version}/{kind}/{locator}-{end}"
        return _page(len(cursor.records), cursor.records[start:end], next_url)

    def _remember(self, cursor: Cursor, version: str) -> str:
        # Since API 56.0 locators start with 0r8 (before: 01g, see the fact sheet §2).
        prefix = "0r8" if float(version[1:]) >= 56.0 else "01g"
        locator = make_id(prefix, next(self._serial))
        with self._lock:
            self._cursors[locator] = cursor
            while len(self._cursors) > MAX_CURSORS:
                self._cursors.popitem(last=False)
        return locator

    @staticmethod
    def _batch(request: Request) -> int:
        m = _BATCH.search(request.headers.get("Sforce-Query-Options", ""))
        if m is None:
            return DEFAULT_BATCH
        return max(MIN_BATCH, min(DEFAULT_BATCH, int(m.group(1))))

    def _attributes(self, version: str) -> Callable[[str, Any], dict[str, Any] | None]:
        data = self.data

        def attributes(object_name: str, row: Any) -> dict[str, Any] | None:
            obj = data.objects[object_name]
            return data.attributes(obj, data.table(obj), row, version)

        return attributes

    def _getter(self, root: ObjectDef) -> Getter:
        """``get(row, path)`` for the SOQL engine, resolving each path once into a closure."""
        resolvers: dict[tuple[str, ...], Callable[[int], Any]] = {}

        def get(row: int, path: tuple[str, ...]) -> Any:
            resolver = resolvers.get(path)
            if resolver is None:
                resolver = resolvers[path] = self._resolver(root, path)
            return resolver(row)

        return get

    def _resolver(self, root: ObjectDef, path: tuple[str, ...]) -> Callable[[int], Any]:
        """A function from a root row to the value at ``path`` (a parent's row when ``path``
        ends in a relationship). Deleted parents read as missing."""
        data = self.data
        hops: list[tuple[ObjectDef, Table, FieldDef, ObjectDef, Table]] = []
        obj = root
        *relationships, last = path
        for part in relationships:
            reference = obj.relationship(part)
            if reference is None:
                raise SoqlError("INVALID_FIELD", f"Didn't understand relationship '{part}'")
            parent = data.objects[reference.reference_to[0]]
            hops.append((obj, data.table(obj), reference, parent, data.table(parent)))
            obj = parent
        definition = obj.field(last)
        if definition is None:  # the path ends in a relationship: answer the parent's row
            reference = obj.relationship(last)
            if reference is None:
                raise SoqlError("INVALID_FIELD", f"No such column '{last}' on entity '{obj.name}'")
            parent = data.objects[reference.reference_to[0]]
            hops.append((obj, data.table(obj), reference, parent, data.table(parent)))

        def walk(row: int) -> int | None:
            current = row
            for child, table, reference, parent, parent_table in hops:
                target = data.stored(child, table, current, reference)
                number = None if target is None else data.number(parent, target)
                found = None if number is None else parent_table.row_of.get(number)
                if found is None or parent_table.archived[found]:
                    return None
                current = found
            return current

        if definition is None:
            return walk
        final_obj, final_table, field = obj, data.table(obj), definition
        if not hops:
            return lambda row: data.value(final_obj, final_table, row, field)

        def value(row: int) -> Any:
            target = walk(row)
            return None if target is None else data.value(final_obj, final_table, target, field)

        return value


def _live(table: Table) -> list[int]:
    archived = table.archived
    return [r for r in range(len(table)) if not archived[r]]


def _page(total: int, records: list[bytes], next_url: str | None) -> Response:
    """``{"totalSize", "done", "nextRecordsUrl"?, "records"}`` assembled from serialised records."""
    parts = [b'{"totalSize":', str(total).encode(), b',"done":']
    parts.append(b"false" if next_url else b"true")
    if next_url:
        parts += [b',"nextRecordsUrl":', orjson.dumps(next_url)]
    parts += [b',"records":[', b",".join(records), b"]}"]
    return Response(b"".join(parts), status=200, content_type=JSON_TYPE)
