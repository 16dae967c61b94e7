"""The playbook's JSON Schema (draft 2020-12), for editors such as VS Code's YAML extension."""

from __future__ import annotations

import copy
from typing import Any

from segmentation.playbook.model import STANDARD_MODELS, Playbook

DIALECT = "https://json-schema.org/draft/2020-12/schema"
# A URN, not a URL: nothing is fetched from it, and it claims no web domain.
SCHEMA_ID = "urn:segsync:schema:playbook:v1"

_MODEL_HELP = {
    "demographic": "People by who they are: seniority, department, generation, income, ...",
    "firmographic": "Companies by size, revenue and industry.",
    "geographic": "Where records are: region, country, time zone.",
    "behavioral": "What records do: activity recency and frequency "
    "(active, engaged, at-risk, dormant).",
    "psychographic": "Values, lifestyle and interests, from fields and content engagement.",
    "needs_based": "What records need: use cases, form answers, keywords in free text.",
    "technographic": "The tech stack: categories in use and digital maturity.",
    "lifecycle": "Stage gates subscriber -> lead -> MQL -> SQL -> opportunity -> customer -> "
    "evangelist; forward-only unless forward_only: false.",
}


def playbook_json_schema() -> dict[str, Any]:
    """The JSON Schema of a playbook file, with a description on every key.

    Generated from the pydantic models so it cannot drift from what the parser
    accepts, then tidied for editors: optional keys are not offered as null, the
    standard model names are listed (with help) for completion, and the model
    names follow the same lower_snake_case rule as the parser.
    """
    schema = Playbook.model_json_schema(by_alias=True, mode="validation")
    schema = _drop_optional_nulls(copy.deepcopy(schema))
    # "fields: {nps: number}" is shorthand for "fields: {nps: {type: number}}".
    fields = schema["properties"]["fields"]
    type_names = schema["$defs"]["FieldSpec"]["properties"]["type"]["enum"]
    fields["additionalProperties"] = {
        "anyOf": [fields["additionalProperties"], {"type": "string", "enum": type_names}]
    }
    models = schema["properties"]["models"]
    models["propertyNames"] = {"pattern": "^[a-z][a-z0-9_]*$"}
    models["properties"] = {
        name: {"$ref": "#/$defs/RuleModel", "description": _MODEL_HELP[name]}
        for name in STANDARD_MODELS
    }
    return {"$schema": DIALECT, "$id": SCHEMA_ID, **schema}


def _drop_optional_nulls(node: Any) -> Any:
    """``anyOf: [X, {type: null}]`` with ``default: null`` becomes X.

    pydantic spells every optional key as nullable; in a YAML file an optional key
    is simply left out, and offering ``null`` in completion only invites mistakes.
    Required nullable keys (``fallback``) have no default and keep their null.
    """
    if isinstance(node, list):
        return [_drop_optional_nulls(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _drop_optional_nulls(value) for key, value in node.items()}
    if "default" not in node or node["default"] is not None:
        return node
    options = node.get("anyOf")
    if isinstance(options, list):
        kept = [o for o in options if o != {"type": "null"}]
        if len(kept) == 1 and len(kept) < len(options):
            del node["anyOf"]
            node.update(kept[0])
    if node.get("type") != "null" and {"type": "null"} not in node.get("anyOf", []):
        del node["default"]
    return node
