"""HubSpot lists (Lists v3) through hubspot-api-client: the calls segment activation makes.

Answers are read as plain JSON (``raw``): the SDK's filter models re-serialise with a
stray ``type`` key, so a filter read back and compared, or sent again, would not be the
filter HubSpot holds. Requests are plain dicts for the same reason. A list the portal
does not have (404) is None, not an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from connectors.base import RejectedError
from connectors.hubspot.http import HubSpotTransport

OBJECT_TYPE_IDS = {"contact": "0-1", "company": "0-2"}
ROOT_FOLDER = "0"
IDS_PER_READ = 100  # list ids per GET /crm/v3/lists (repeated in the query string)


def segment_filter(prop: str, value: str) -> dict[str, Any]:
    """The filter of a segment list: ``prop`` is ``value`` (the shape HubSpot echoes back)."""
    return {
        "filterBranchType": "OR",
        "filterBranchOperator": "OR",
        "filters": [],
        "filterBranches": [
            {
                "filterBranchType": "AND",
                "filterBranchOperator": "AND",
                "filterBranches": [],
                "filters": [
                    {
                        "filterType": "PROPERTY",
                        "property": prop,
                        "operation": {
                            "operationType": "ENUMERATION",
                            "operator": "IS_ANY_OF",
                            "values": [value],
                            "includeObjectsWithNoValueSet": False,
                        },
                    }
                ],
            }
        ],
    }


class HubSpotLists:
    """Find, create, update and delete lists and folders through the connector's transport."""

    def __init__(self, transport: HubSpotTransport, lists_api: Any, folders_api: Any) -> None:
        self._transport = transport
        self._lists = lists_api
        self._folders = folders_api

    def live(self, list_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """listId -> the list with its filters, of those among these still in the portal."""
        out: dict[str, dict[str, Any]] = {}
        ids = list(list_ids)
        for start in range(0, len(ids), IDS_PER_READ):
            answer = self._transport.call(
                "GET /crm/v3/lists",
                self._lists.get_all_with_http_info,
                list_ids=ids[start : start + IDS_PER_READ],
                include_filters=True,
                raw=True,
            )
            for found in answer.get("lists") or ():
                if not found.get("deletedAt"):
                    out[str(found["listId"])] = dict(found)
        return out

    def find(self, name: str, object_type: str) -> dict[str, Any] | None:
        """The live list of that name (any case) on that object type, or None."""
        return self._maybe(
            "GET /crm/v3/lists/object-type-id/{objectTypeId}/name/{listName}",
            self._lists.get_by_name_with_http_info,
            name,
            OBJECT_TYPE_IDS[object_type],
            include_filters=True,
        )

    def count(self) -> int:
        """How many lists the portal holds (every kind), from one search."""
        answer = self._transport.call(
            "POST /crm/v3/lists/search",
            self._lists.do_search_with_http_info,
            {"query": "", "count": 1, "offset": 0, "additionalProperties": []},
            raw=True,
        )
        return int(answer.get("total", 0))

    def create(
        self, name: str, object_type: str, branch: dict[str, Any], folder_id: str
    ) -> dict[str, Any]:
        """A new DYNAMIC list in a folder."""
        body = {
            "name": name,
            "objectTypeId": OBJECT_TYPE_IDS[object_type],
            "processingType": "DYNAMIC",
            "filterBranch": branch,
            "listFolderId": int(folder_id),  # an integer here, a string in the folder API
        }
        answer = self._transport.call(
            "POST /crm/v3/lists", self._lists.create_with_http_info, body, raw=True
        )
        return dict(answer["list"])

    def update_filters(self, list_id: str, branch: dict[str, Any]) -> dict[str, Any]:
        """Replace a DYNAMIC list's filter; HubSpot re-evaluates its members."""
        answer = self._transport.call(
            "PUT /crm/v3/lists/{listId}/update-list-filters",
            self._lists.update_list_filters_with_http_info,
            list_id,
            {"filterBranch": branch},
            raw=True,
        )
        return dict(answer["updatedList"])

    def rename(self, list_id: str, name: str) -> dict[str, Any]:
        """Give a list a new name (names are unique in the portal)."""
        answer = self._transport.call(
            "PUT /crm/v3/lists/{listId}/update-list-name",
            self._lists.update_name_with_http_info,
            list_id,
            list_name=name,
            raw=True,
        )
        return dict(answer["updatedList"])

    def delete(self, list_id: str) -> None:
        """Delete a list (HubSpot keeps it restorable for 90 days); gone already is fine."""
        try:
            self._transport.call(
                "DELETE /crm/v3/lists/{listId}", self._lists.remove_with_http_info, list_id
            )
        except RejectedError as exc:
            if exc.status != 404:
                raise

    def folder(self, name: str) -> str:
        """The id of the root's folder called ``name``, created when missing."""
        tree = self._transport.call(
            "GET /crm/v3/lists/folders",
            self._folders.get_all_with_http_info,
            folder_id=ROOT_FOLDER,
            raw=True,
        )
        for child in tree["folder"].get("childNodes") or ():
            if str(child.get("name", "")).lower() == name.lower():
                return str(child["id"])
        made = self._transport.call(
            "POST /crm/v3/lists/folders",
            self._folders.create_with_http_info,
            {"name": name, "parentFolderId": ROOT_FOLDER},
            raw=True,
        )
        return str(made["folder"]["id"])

    def move(self, list_id: str, folder_id: str) -> None:
        """Put a list in a folder."""
        self._transport.call(
            "PUT /crm/v3/lists/folders/move-list",
            self._folders.move_list_with_http_info,
            {"listId": list_id, "newFolderId": folder_id},
        )

    def _maybe(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        try:
            answer = self._transport.call(what, fn, *args, raw=True, **kwargs)
        except RejectedError as exc:
            if exc.status == 404:
                return None
            raise
        found = answer.get("list")
        return dict(found) if found and not found.get("deletedAt") else None
