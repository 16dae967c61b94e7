"""``/crm/v3/pipelines/deals``: the deal pipelines, their stage order, probability, closed flags."""

from __future__ import annotations

from werkzeug.wrappers import Request, Response

from connectors.sandbox.hubspot.defaults import PIPELINES, SCHEMA_CREATED_MS
from connectors.sandbox.hubspot.error_bodies import ApiError, json_response
from connectors.sandbox.hubspot.records import HubSpotData
from connectors.sandbox.hubspot.values import iso


def pipelines(
    request: Request, obj: str, data: HubSpotData, pipeline_id: str | None = None
) -> Response:
    """GET /crm/v3/pipelines/deals[/{pipelineId}]: stage order, probability and closed flags."""
    object_type = data.object_type(obj)
    if object_type != "deal":
        return (
            json_response(200, {"results": []})
            if pipeline_id is None
            else _no_pipeline(pipeline_id)
        )
    created = iso(SCHEMA_CREATED_MS)
    out = []
    for order, (pid, (label, stages)) in enumerate(PIPELINES.items()):
        out.append(
            {
                "id": pid,
                "label": label,
                "displayOrder": order,
                "archived": False,
                "createdAt": created,
                "updatedAt": created,
                "stages": [
                    {
                        "id": sid,
                        "label": slabel,
                        "displayOrder": i,
                        "archived": False,
                        "createdAt": created,
                        "updatedAt": created,
                        "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT",
                        "metadata": {
                            "isClosed": "true" if closed else "false",
                            "probability": str(p),
                        },
                    }
                    for i, (sid, slabel, p, closed) in enumerate(stages)
                ],
            }
        )
    if pipeline_id is None:
        return json_response(200, {"results": out})
    for pipeline in out:
        if pipeline["id"] == pipeline_id:
            return json_response(200, pipeline)
    return _no_pipeline(pipeline_id)


def _no_pipeline(pipeline_id: str) -> Response:
    raise ApiError(404, f"Unable to find pipeline {pipeline_id}", "OBJECT_NOT_FOUND")
