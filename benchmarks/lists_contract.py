"""segsync's HubSpot Lists traffic checked against HubSpot's published Lists v3 definition.

    python -m benchmarks.lists_contract --spec PATH/TO/lists.json

``PATH`` is ``PublicApiSpecs/CRM/Lists/Rollouts/144891/v3/lists.json`` from a clone of
HubSpot/HubSpot-public-api-spec-collection (not shipped here: read it where it is).
Against the HubSpot sandbox, this runs what ``segsync activate`` does in a portal's life:
the first activation (folder, lists), a second one (reads only), a renamed segment, a
dropped one with ``--prune``, a list deleted by hand and made again, and a run at the
list limit. Every request the connector sends and every answer it gets is recorded
from its HTTP session and checked: the path and method exist in the definition, the
query parameters are declared and the required ones sent, the request body validates
against the operation's schema and the answer against the schema of its status (or
the ``default`` error). Prints one line per violation and a summary; exits 1 on any.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from jsonschema import Draft7Validator
from pydantic import SecretStr

from benchmarks._harness import TOKEN, hubspot_sandbox
from connectors.hubspot.connector import HubSpotConnector
from connectors.hubspot.options import HubSpotConfig
from segmentation.playbook import Playbook, parse_playbook
from workers.activation.plan import ActivationError
from workers.activation.run import activate
from workers.offline import playbook_source
from workers.state import StateStore
from workers.sync.crm_schema import apply_schema


def playbook(rename: tuple[str, str] | None = None, drop: str | None = None) -> Playbook:
    _, text = playbook_source("b2b_saas")
    for model in ("demographic", "geographic"):
        text = text.replace(f"\n  {model}:\n", f"\n  {model}:\n    activate: [lists]\n", 1)
    if rename:
        text = text.replace(f"      - name: {rename[0]}\n", f"      - name: {rename[1]}\n", 1)
    if drop:
        start = text.index(f"      - name: {drop}\n")
        end = min(text.index("      - name:", start + 1), text.index("    fallback:", start + 1))
        text = text[:start] + text[end:]
    return parse_playbook(text, source="b2b_saas.yaml")


class Recorder:
    """Every Lists API exchange of a requests session: (method, url, body, status, answer)."""

    def __init__(self) -> None:
        self.exchanges: list[tuple[str, str, Any, int, Any]] = []

    def hook(self, response: requests.Response, *_: Any, **__: Any) -> None:
        request = response.request
        if "/crm/v3/lists" not in str(request.url):
            return
        body = json.loads(request.body) if request.body else None
        answer = response.json() if response.content else None
        self.exchanges.append(
            (str(request.method), str(request.url), body, response.status_code, answer)
        )


def openapi_to_jsonschema(node: Any) -> Any:
    """OpenAPI 3.0 schema objects as JSON Schema (``nullable`` becomes a null type)."""
    if isinstance(node, list):
        return [openapi_to_jsonschema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: openapi_to_jsonschema(v) for k, v in node.items() if k not in ("example",)}
    if out.pop("nullable", False) and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


class Definition:
    """The published definition: operations by (method, path template)."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.components = openapi_to_jsonschema(spec.get("components", {}))
        self.operations: list[tuple[str, re.Pattern[str], str, dict[str, Any]]] = []
        for template, item in spec["paths"].items():
            pattern = re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "/?$")
            for method, op in item.items():
                if method in ("get", "post", "put", "patch", "delete"):
                    self.operations.append((method.upper(), pattern, template, op))
        # Literal segments win over {placeholders} (``/lists/search`` is not a list id).
        self.operations.sort(key=lambda o: o[2].count("{"))

    def operation(self, method: str, path: str) -> tuple[str, dict[str, Any]] | None:
        for op_method, pattern, template, op in self.operations:
            if op_method == method and pattern.match(path):
                return template, op
        return None

    def resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            parts = node["$ref"].lstrip("#/").split("/")
            target: Any = self.spec
            for part in parts:
                target = target[part]
            node = target
        return node

    def errors(self, schema: dict[str, Any], instance: Any) -> list[str]:
        root = {**openapi_to_jsonschema(schema), "components": self.components}
        validator = Draft7Validator(root)
        return [
            f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message[:200]}"
            for e in validator.iter_errors(instance)
        ]


def check(definition: Definition, exchange: tuple[str, str, Any, int, Any]) -> list[str]:
    """Violations of one exchange."""
    method, url, body, status, answer = exchange
    parts = urlsplit(url)
    found = definition.operation(method, parts.path)
    if found is None:
        return [f"{method} {parts.path}: no such operation in the definition"]
    template, op = found
    where = f"{method} {template}"
    problems = []
    params = [definition.resolve(p) for p in op.get("parameters", [])]
    declared = {p["name"] for p in params if p.get("in") == "query"}
    sent = set(parse_qs(parts.query))
    problems += [f"{where}: query parameter {name!r} is not declared" for name in sent - declared]
    required = {p["name"] for p in params if p.get("in") == "query" and p.get("required")}
    problems += [f"{where}: required query parameter {name!r} missing" for name in required - sent]
    request_schema = (
        definition.resolve(op.get("requestBody", {})).get("content", {}).get("application/json", {})
    ).get("schema")
    if request_schema is not None and body is not None:
        problems += [f"{where} request {e}" for e in definition.errors(request_schema, body)]
    elif body is not None:
        problems.append(f"{where}: a body was sent to an operation that takes none")
    responses = op.get("responses", {})
    declared_status = responses.get(str(status)) or responses.get("default")
    if declared_status is None:
        problems.append(f"{where}: status {status} is not declared")
        return problems
    media = definition.resolve(declared_status).get("content", {})
    schema = (media.get("application/json") or media.get("*/*") or {}).get("schema")
    if schema is not None and answer is not None:
        problems += [f"{where} {status} answer {e}" for e in definition.errors(schema, answer)]
    return problems


def run(spec_path: Path) -> int:
    definition = Definition(json.loads(spec_path.read_text()))
    recorder = Recorder()
    server = hubspot_sandbox(300, rate_limit=10_000, search_rate_per_second=1_000)
    limited = hubspot_sandbox(60, rate_limit=10_000, list_limit=4)
    operations: Counter[str] = Counter()
    try:
        for sandbox, steps in ((server, "life"), (limited, "limit")):
            connector = HubSpotConnector(
                HubSpotConfig(
                    base_url=sandbox.url,
                    token=SecretStr(TOKEN),
                    requests_per_10s=10_000,
                    search_lag_seconds=0,
                )
            )
            connector.session.hooks["response"].append(recorder.hook)
            apply_schema(connector, playbook(rename=("emea", "europe")), ["contact", "company"])
            with tempfile.TemporaryDirectory() as tmp, StateStore(f"sqlite:///{tmp}/s.db") as st:
                st.migrate()
                if steps == "limit":
                    try:
                        activate(connector, st, playbook())
                    except ActivationError as exc:
                        print(f"at the limit: {str(exc)[:160]}…")
                    continue
                activate(connector, st, playbook())
                activate(connector, st, playbook())
                activate(connector, st, playbook(rename=("emea", "europe")))
                dropped = playbook(rename=("emea", "europe"), drop="apac")
                activate(connector, st, dropped, prune=True, dry_run=True)
                activate(connector, st, dropped, prune=True)
                first = st.activations("hubspot", "list")[0]
                connector.lists.delete(first.remote_id)  # deleted by hand in HubSpot
                activate(connector, st, dropped)
                connector.lists.count()
    finally:
        server.stop()
        limited.stop()
    violations: list[str] = []
    for exchange in recorder.exchanges:
        path = urlsplit(exchange[1]).path
        found = definition.operation(exchange[0], path)
        operations[f"{exchange[0]} {found[0] if found else path} {exchange[3]}"] += 1
        violations += check(definition, exchange)
    print(f"{len(recorder.exchanges)} exchanges recorded, by operation and status:")
    for name, count in sorted(operations.items()):
        print(f"  {count:>4}  {name}")
    for line in dict.fromkeys(violations):
        print(f"VIOLATION {line}")
    print(f"violations: {len(violations)} ({len(set(violations))} distinct)")
    return 1 if violations else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--spec", type=Path, required=True, help="the Lists v3 lists.json")
    sys.exit(run(parser.parse_args().spec))


if __name__ == "__main__":
    main()
