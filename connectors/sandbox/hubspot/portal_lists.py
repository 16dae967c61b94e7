"""``/crm/v3/lists``: HubSpot's lists (segments), their folders and the portal's list limit.

A DYNAMIC list holds a filter, and its members are whatever records the filter matches
now: the sandbox evaluates it over the store when members or the size are asked for,
as HubSpot re-evaluates a record whenever it changes. A new list, or one whose filters
changed, reads ``PROCESSING`` in the answer to that call and ``COMPLETE`` afterwards.
MANUAL and SNAPSHOT lists exist so that a DYNAMIC-only call can be refused on them.

Filters are checked and evaluated in ``list_filters``.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from werkzeug.wrappers import Request, Response

from connectors.sandbox.hubspot.error_bodies import ApiError, json_response, no_content
from connectors.sandbox.hubspot.list_filters import as_object, checked_branch, matcher
from connectors.sandbox.hubspot.records import HubSpotData, bool_param, list_param, read_json
from connectors.sandbox.hubspot.values import iso

OBJECT_TYPE_IDS = {"0-1": "contact", "0-2": "company", "0-3": "deal"}
PROCESSING_TYPES = ("MANUAL", "DYNAMIC", "SNAPSHOT")
MAX_SEARCH_COUNT = 500
MAX_MEMBERSHIP_PAGE = 250
ROOT_FOLDER = 0
READ_SCOPE, WRITE_SCOPE = "crm.lists.read", "crm.lists.write"


@dataclass
class PortalList:
    """One list as the portal keeps it."""

    list_id: int
    name: str
    object_type_id: str
    processing_type: str
    filter_branch: dict[str, Any] | None
    folder_id: int
    created_ms: int
    updated_ms: int
    filters_updated_ms: int
    version: int = 1
    deleted_ms: int | None = None
    settled_version: int = 0  # the version whose processing is done


@dataclass
class Folder:
    """A list folder; the root is 0."""

    folder_id: int
    name: str
    parent_id: int
    created_ms: int
    updated_ms: int


@dataclass
class ListsState:
    """Every list and folder of the portal."""

    lists: dict[int, PortalList] = field(default_factory=dict)
    folders: dict[int, Folder] = field(default_factory=dict)
    next_list_id: int = 101
    next_folder_id: int = 1001
    lock: threading.Lock = field(default_factory=threading.Lock)


class ListsApi:
    """The Lists v3 endpoints segsync uses, and what they need to be checked against."""

    def __init__(self, data: HubSpotData) -> None:
        self.data = data
        self.state = ListsState()
        self.state.folders[ROOT_FOLDER] = Folder(ROOT_FOLDER, "Root", -1, 0, 0)

    # -- scopes and lookups -------------------------------------------------------------

    def _require(self, *scopes: str) -> None:
        missing = [s for s in scopes if s in self.data.state.config.missing_scopes]
        if missing:
            raise ApiError(
                403,
                "This app hasn't been granted all required scopes to make this call. Read "
                "more about required scopes here: https://developers.hubspot.com/scopes.",
                "MISSING_SCOPES",
                errors=[
                    {
                        "message": "One or more of the following scopes are required.",
                        "context": {"requiredGranularScopes": list(scopes)},
                    }
                ],
                links={"scopes": "https://developers.hubspot.com/scopes"},
            )

    def _live(self, raw_id: str) -> PortalList:
        found = self.state.lists.get(_int_id(raw_id))
        if found is None or found.deleted_ms is not None:
            raise ApiError(404, f"List does not exist with ID {raw_id}.", "OBJECT_NOT_FOUND")
        return found

    def _name_taken(self, name: str, but: int | None = None) -> bool:
        low = name.strip().lower()
        return any(
            lst.name.lower() == low and lst.deleted_ms is None and lst.list_id != but
            for lst in self.state.lists.values()
        )

    # -- lists ------------------------------------------------------------------------

    def create(self, request: Request) -> Response:
        """POST /crm/v3/lists."""
        self._require(WRITE_SCOPE)
        body = as_object(read_json(request), "request body")
        missing = [k for k in ("name", "objectTypeId", "processingType") if not body.get(k)]
        if missing:
            raise ApiError(400, f"Missing required field(s): {', '.join(missing)}")
        name = _name(body["name"])
        object_type_id = str(body["objectTypeId"])
        object_type = OBJECT_TYPE_IDS.get(object_type_id)
        if object_type is None:
            raise ApiError(400, f"Unknown objectTypeId: {object_type_id}")
        processing = str(body["processingType"])
        if processing not in PROCESSING_TYPES:
            raise ApiError(
                400,
                f"Invalid processingType {processing!r}; one of {', '.join(PROCESSING_TYPES)}",
            )
        raw_branch = body.get("filterBranch")
        if processing == "DYNAMIC" and raw_branch is None:
            raise ApiError(400, "A DYNAMIC list needs a filterBranch.")
        if processing == "MANUAL" and raw_branch is not None:
            raise ApiError(400, "A MANUAL list has no filters.")
        branch = (
            checked_branch(raw_branch, self.data.schemas[object_type], object_type)
            if raw_branch
            else None
        )
        folder = body.get("listFolderId", ROOT_FOLDER)
        if not isinstance(folder, int) or isinstance(folder, bool):
            raise ApiError(400, "listFolderId must be an integer")
        with self.state.lock:
            if folder not in self.state.folders:
                raise ApiError(404, f"Folder {folder} does not exist.", "OBJECT_NOT_FOUND")
            limit = self.data.state.config.list_limit
            live = sum(1 for lst in self.state.lists.values() if lst.deleted_ms is None)
            if live >= limit:
                raise ApiError(
                    400,
                    f"This portal has reached its limit of {limit} lists. Delete lists you no "
                    "longer need before creating new ones.",
                    context={"limit": [str(limit)]},
                )
            if self._name_taken(name):
                raise ApiError(400, f"A list named '{name}' already exists.")
            now = self.data.state.now_ms()
            created = PortalList(
                self.state.next_list_id,
                name,
                object_type_id,
                processing,
                branch,
                folder,
                now,
                now,
                now,
            )
            self.state.next_list_id += 1
            self.state.lists[created.list_id] = created
            answer = self._json(created, with_filters=True, size=False)
            created.settled_version = created.version  # processing ends after this answer
        return json_response(200, {"list": answer})

    def get(self, request: Request, raw_id: str) -> Response:
        """GET /crm/v3/lists/{listId}."""
        self._require(READ_SCOPE)
        found = self._live(raw_id)
        return json_response(
            200, {"list": self._json(found, with_filters=bool_param(request, "includeFilters"))}
        )

    def get_many(self, request: Request) -> Response:
        """GET /crm/v3/lists?listIds=…: the live ones among the ids asked for."""
        self._require(READ_SCOPE)
        wanted = [_int_id(i) for i in list_param(request, "listIds") or []]
        with_filters = bool_param(request, "includeFilters")
        found = [
            self._json(lst, with_filters=with_filters)
            for i in wanted
            if (lst := self.state.lists.get(i)) is not None and lst.deleted_ms is None
        ]
        return json_response(200, {"lists": found})

    def get_by_name(self, request: Request, object_type_id: str, name: str) -> Response:
        """GET /crm/v3/lists/object-type-id/{objectTypeId}/name/{listName} (any case)."""
        self._require(READ_SCOPE)
        low = name.strip().lower()
        for lst in self.state.lists.values():
            matches = lst.object_type_id == object_type_id and lst.name.lower() == low
            if matches and lst.deleted_ms is None:
                found = self._json(lst, with_filters=bool_param(request, "includeFilters"))
                return json_response(200, {"list": found})
        raise ApiError(404, f"List does not exist with name {name}.", "OBJECT_NOT_FOUND")

    def search(self, request: Request) -> Response:
        """POST /crm/v3/lists/search: by name fragment, processing type, ids; offset paging."""
        self._require(READ_SCOPE)
        body = as_object(read_json(request), "request body")
        count = body.get("count", 20)
        offset = body.get("offset", 0)
        if not isinstance(count, int) or not 1 <= count <= MAX_SEARCH_COUNT:
            raise ApiError(400, f"count must be between 1 and {MAX_SEARCH_COUNT}")
        if not isinstance(offset, int) or offset < 0:
            raise ApiError(400, "offset must be a non-negative integer")
        query = str(body.get("query") or "").strip().lower()
        types = body.get("processingTypes") or list(PROCESSING_TYPES)
        ids = {_int_id(i) for i in body.get("listIds") or []}
        object_type_id = body.get("objectTypeId")
        hits = [
            lst
            for lst in sorted(self.state.lists.values(), key=lambda x: x.list_id)
            if lst.deleted_ms is None
            and query in lst.name.lower()
            and lst.processing_type in types
            and (not ids or lst.list_id in ids)
            and (object_type_id is None or lst.object_type_id == object_type_id)
        ]
        page = hits[offset : offset + count]
        results = []
        for lst in page:
            item = self._json(lst, with_filters=False, size=False)
            item["additionalProperties"] = {
                "hs_list_size": str(len(self.members(lst))),
                "hs_folder_name": self.state.folders[lst.folder_id].name,
            }
            results.append(item)
        return json_response(
            200,
            {
                "lists": results,
                "hasMore": offset + count < len(hits),
                "offset": offset + len(page),
                "total": len(hits),
            },
        )

    def update_filters(self, request: Request, raw_id: str) -> Response:
        """PUT /crm/v3/lists/{listId}/update-list-filters: DYNAMIC lists only."""
        self._require(READ_SCOPE, WRITE_SCOPE)
        found = self._live(raw_id)
        if found.processing_type != "DYNAMIC":
            raise ApiError(
                400, f"Filters can only be updated on DYNAMIC lists; {raw_id} is "
                f"{found.processing_type}."
            )  # fmt: skip
        body = as_object(read_json(request), "request body")
        if "filterBranch" not in body:
            raise ApiError(400, "Missing required field(s): filterBranch")
        object_type = OBJECT_TYPE_IDS[found.object_type_id]
        branch = checked_branch(body["filterBranch"], self.data.schemas[object_type], object_type)
        with self.state.lock:
            now = self.data.state.now_ms()
            found.filter_branch = branch
            found.version += 1
            found.updated_ms = found.filters_updated_ms = now
            answer = self._json(found, with_filters=True, size=False)
            found.settled_version = found.version
        return json_response(200, {"updatedList": answer})

    def update_name(self, request: Request, raw_id: str) -> Response:
        """PUT /crm/v3/lists/{listId}/update-list-name?listName=…"""
        self._require(READ_SCOPE, WRITE_SCOPE)
        found = self._live(raw_id)
        name = _name(request.args.get("listName", ""))
        with self.state.lock:
            if self._name_taken(name, but=found.list_id):
                raise ApiError(400, f"A list named '{name}' already exists.")
            found.name = name
            found.version += 1
            found.settled_version = found.version
            found.updated_ms = self.data.state.now_ms()
        answer = self._json(found, with_filters=bool_param(request, "includeFilters"))
        return json_response(200, {"updatedList": answer})

    def delete(self, raw_id: str) -> Response:
        """DELETE /crm/v3/lists/{listId}: restorable for 90 days."""
        self._require(READ_SCOPE, WRITE_SCOPE)
        found = self._live(raw_id)
        found.deleted_ms = self.data.state.now_ms()
        return no_content()

    def restore(self, raw_id: str) -> Response:
        """PUT /crm/v3/lists/{listId}/restore."""
        self._require(READ_SCOPE, WRITE_SCOPE)
        found = self.state.lists.get(_int_id(raw_id))
        if found is None or found.deleted_ms is None:
            raise ApiError(404, f"No deleted list with ID {raw_id}.", "OBJECT_NOT_FOUND")
        if self._name_taken(found.name):
            raise ApiError(400, f"A list named '{found.name}' already exists.")
        found.deleted_ms = None
        return no_content()

    def memberships(self, request: Request, raw_id: str) -> Response:
        """GET /crm/v3/lists/{listId}/memberships: record ids in id order, cursor paging."""
        self._require(READ_SCOPE)
        found = self._live(raw_id)
        limit = _bounded_int(request.args.get("limit", "100"), "limit", 1, MAX_MEMBERSHIP_PAGE)
        after = request.args.get("after")
        members = self.members(found)
        start = 0
        if after:
            start = next((i for i, rid in enumerate(members) if rid > _int_id(after)), len(members))
        page = members[start : start + limit]
        joined = iso(found.filters_updated_ms)
        body: dict[str, Any] = {
            "results": [{"recordId": str(rid), "membershipTimestamp": joined} for rid in page],
            "total": len(members),
        }
        if start + limit < len(members):
            body["paging"] = {"next": {"after": str(page[-1])}}
        return json_response(200, body)

    # -- folders ----------------------------------------------------------------------

    def folders(self, request: Request) -> Response:
        """GET /crm/v3/lists/folders?folderId=…: the folder and its tree below."""
        self._require(READ_SCOPE)
        folder_id = _int_id(request.args.get("folderId", str(ROOT_FOLDER)))
        if folder_id not in self.state.folders:
            raise ApiError(404, f"Folder {folder_id} does not exist.", "OBJECT_NOT_FOUND")
        return json_response(200, {"folder": self._folder_json(folder_id, lists=True)})

    def create_folder(self, request: Request) -> Response:
        """POST /crm/v3/lists/folders."""
        self._require(READ_SCOPE, WRITE_SCOPE)
        body = as_object(read_json(request), "request body")
        name = _name(body.get("name", ""))
        parent = _int_id(str(body.get("parentFolderId", ROOT_FOLDER)))
        with self.state.lock:
            if parent not in self.state.folders:
                raise ApiError(404, f"Folder {parent} does not exist.", "OBJECT_NOT_FOUND")
            siblings = [f for f in self.state.folders.values() if f.parent_id == parent]
            if any(f.name.lower() == name.lower() for f in siblings):
                raise ApiError(400, f"A folder named '{name}' already exists here.")
            now = self.data.state.now_ms()
            folder = Folder(self.state.next_folder_id, name, parent, now, now)
            self.state.next_folder_id += 1
            self.state.folders[folder.folder_id] = folder
        return json_response(200, {"folder": self._folder_json(folder.folder_id, lists=False)})

    def move_list(self, request: Request) -> Response:
        """PUT /crm/v3/lists/folders/move-list."""
        self._require(READ_SCOPE, WRITE_SCOPE)
        body = as_object(read_json(request), "request body")
        missing = [k for k in ("listId", "newFolderId") if body.get(k) in (None, "")]
        if missing:
            raise ApiError(400, f"Missing required field(s): {', '.join(missing)}")
        found = self._live(str(body["listId"]))
        target = _int_id(str(body["newFolderId"]))
        if target not in self.state.folders:
            raise ApiError(404, f"Folder {target} does not exist.", "OBJECT_NOT_FOUND")
        found.folder_id = target
        return no_content()

    def delete_folder(self, raw_id: str) -> Response:
        """DELETE /crm/v3/lists/folders/{folderId}: an empty folder only."""
        self._require(READ_SCOPE, WRITE_SCOPE)
        folder_id = _int_id(raw_id)
        if folder_id == ROOT_FOLDER or folder_id not in self.state.folders:
            raise ApiError(404, f"Folder {raw_id} does not exist.", "OBJECT_NOT_FOUND")
        busy = any(f.parent_id == folder_id for f in self.state.folders.values()) or any(
            lst.folder_id == folder_id and lst.deleted_ms is None
            for lst in self.state.lists.values()
        )
        if busy:
            raise ApiError(400, f"Folder {raw_id} is not empty.")
        del self.state.folders[folder_id]
        return no_content()

    # -- membership -------------------------------------------------------------------

    def members(self, found: PortalList) -> list[int]:
        """Record ids a DYNAMIC or SNAPSHOT list's filter matches now, in id order.

        Each AND branch narrows the live rows filter by filter over the property's column
        (as the search engine does); the list is the union of its branches.
        """
        if found.filter_branch is None:
            return []
        table = self.data.table(OBJECT_TYPE_IDS[found.object_type_id])
        matched: set[int] = set()
        with self.data.state.store.lock:
            live = [row for row, gone in enumerate(table.archived) if not gone]
            for branch in found.filter_branch["filterBranches"]:
                rows = live
                for flt in branch["filters"]:
                    column = _column(table, flt["property"])
                    match = matcher(flt)
                    rows = [row for row in rows if match(column[row])]
                matched.update(rows)
            return sorted(table.ids[row] for row in matched)

    # -- shapes -----------------------------------------------------------------------

    def _json(self, lst: PortalList, *, with_filters: bool, size: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "listId": str(lst.list_id),
            "listVersion": lst.version,
            "name": lst.name,
            "objectTypeId": lst.object_type_id,
            "processingType": lst.processing_type,
            "processingStatus": "COMPLETE" if lst.settled_version == lst.version else "PROCESSING",
            "createdAt": iso(lst.created_ms),
            "updatedAt": iso(lst.updated_ms),
            "filtersUpdatedAt": iso(lst.filters_updated_ms),
            "createdById": "1",
            "updatedById": "1",
        }
        if size:
            out["size"] = len(self.members(lst))
        if with_filters and lst.filter_branch is not None:
            out["filterBranch"] = lst.filter_branch
        return out

    def _folder_json(self, folder_id: int, *, lists: bool) -> dict[str, Any]:
        folder = self.state.folders[folder_id]
        children = [f for f in self.state.folders.values() if f.parent_id == folder_id]
        return {
            "id": str(folder.folder_id),
            "name": folder.name,
            "parentFolderId": str(max(folder.parent_id, 0)),
            "createdAt": iso(folder.created_ms),
            "updatedAt": iso(folder.updated_ms),
            "userId": 1,
            "childNodes": [self._folder_json(f.folder_id, lists=False) for f in children],
            "childLists": sorted(
                lst.list_id
                for lst in self.state.lists.values()
                if lists and lst.folder_id == folder_id and lst.deleted_ms is None
            ),
        }


def _name(raw: Any) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise ApiError(400, "name must be a non-empty string")
    if len(raw) > 255:
        raise ApiError(400, "name must be at most 255 characters")
    return raw.strip()


def _int_id(raw: str) -> int:
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise ApiError(400, f"Invalid id: {raw!r}") from None


def _bounded_int(raw: str, name: str, low: int, high: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"{name} must be an integer") from None
    if not low <= value <= high:
        raise ApiError(400, f"{name} must be between {low} and {high}")
    return value


def _column(table: Any, name: str) -> Sequence[Any]:
    """A property's stored values by row (a column, or one built for an aliased name)."""
    column = table.cols.get(name) if name not in table.aliases else None
    return column if column is not None else [table.get(r, name) for r in range(len(table))]
