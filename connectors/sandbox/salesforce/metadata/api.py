"""Metadata API (SOAP, ``/services/Soap/m/{version}``) as zeep sends it from simple-salesforce.

Served calls: ``createMetadata``, ``readMetadata``, ``updateMetadata``, ``upsertMetadata``,
``deleteMetadata`` (CustomField and PermissionSet, at most 10 components per call) and
``listMetadata`` (at most 3 queries). Each component gets its own SaveResult /
UpsertResult / DeleteResult; call-level problems (session, permissions, limits) are SOAP
faults with HTTP 500, as Salesforce sends them. The integration user needs the Customize
Application and Modify Metadata permissions (``SandboxConfig.customize_application``).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

from werkzeug.wrappers import Request, Response

from connectors.sandbox.salesforce.error_bodies import RecordError
from connectors.sandbox.salesforce.metadata.components import (
    Component,
    MetadataError,
    MetadataTypes,
)
from connectors.sandbox.salesforce.record_writes import Writer
from connectors.sandbox.salesforce.records import SalesforceData
from connectors.sandbox.salesforce.soap import (
    METADATA_NS,
    XSI_NS,
    SoapFault,
    child,
    children,
    envelope,
    local,
    parse_envelope,
    text_of,
    xml_text,
)

MAX_COMPONENTS = 10
MAX_QUERIES = 3
LIST_FIELDS = frozenset({"value", "fieldPermissions", "valueSettings", "userPermissions"})
NO_ACCESS = (
    "use of the Metadata API requires a user with the ModifyAllData or ModifyMetadata permissions"
)


def element_dict(element: ET.Element) -> Component:
    """A component element as a dict (repeated or list-typed children become lists)."""
    out: Component = {}
    for item in element:
        name = local(item.tag)
        value: Any = element_dict(item) if len(item) else (item.text or "")
        if name in out:
            if not isinstance(out[name], list):
                out[name] = [out[name]]
            out[name].append(value)
        elif name in LIST_FIELDS:
            out[name] = [value]
        else:
            out[name] = value
    return out


def dict_xml(component: Component) -> str:
    """The elements of a component dict (alphabetical, as the WSDL's sequences are)."""
    parts = []
    for name in sorted(component):
        value = component[name]
        for item in value if isinstance(value, list) else [value]:
            if item is None:
                continue
            inner = dict_xml(item) if isinstance(item, dict) else xml_text(item)
            parts.append(f"<{name}>{inner}</{name}>")
    return "".join(parts)


def session_id(data: bytes) -> str | None:
    """The ``SessionHeader/sessionId`` of a SOAP request, None when absent or unreadable."""
    try:
        header, _ = parse_envelope(data)
    except SoapFault:
        return None
    return text_of(child(header, "SessionHeader"), "sessionId")


def _result(full_name: str, error: RecordError | None, created: bool | None = None) -> str:
    parts = ["<result>"]
    if created is not None:
        parts.append(f"<created>{xml_text(created and error is None)}</created>")
    if error is not None:
        parts.append(
            f"<errors><message>{xml_text(error.message)}</message>"
            f"<statusCode>{xml_text(error.code)}</statusCode></errors>"
        )
    parts.append(f"<fullName>{xml_text(full_name)}</fullName>")
    parts.append(f"<success>{xml_text(error is None)}</success></result>")
    return "".join(parts)


class MetadataApi:
    """Answers Metadata API SOAP calls."""

    def __init__(self, data: SalesforceData, writer: Writer) -> None:
        self.data = data
        self.types = MetadataTypes(data, writer)
        self._ops: dict[str, Callable[[ET.Element], str]] = {
            "createMetadata": lambda op: self._save(op, "create"),
            "updateMetadata": lambda op: self._save(op, "update"),
            "upsertMetadata": lambda op: self._save(op, "upsert"),
            "readMetadata": self._read,
            "deleteMetadata": self._delete,
            "listMetadata": self._list,
        }

    def handle(self, request: Request) -> Response:
        """One SOAP call (the session was checked by the request pipeline)."""
        try:
            _, operation = parse_envelope(request.get_data(cache=True))
            name = local(operation.tag)
            handler = self._ops.get(name)
            if handler is None:
                raise SoapFault(
                    "INVALID_OPERATION", f"The sandbox does not serve the {name} call", client=True
                )
            if not self.data.state.config.customize_application:
                raise SoapFault("INSUFFICIENT_ACCESS", NO_ACCESS)
            body = handler(operation)
        except SoapFault as fault:
            return fault.response(METADATA_NS)
        return envelope(f"<{name}Response>{body}</{name}Response>", METADATA_NS)

    # -- operations ---------------------------------------------------------------------------

    @staticmethod
    def _components(operation: ET.Element) -> list[ET.Element]:
        items = children(operation, "metadata")
        if len(items) > MAX_COMPONENTS:
            raise SoapFault(
                "EXCEEDED_ID_LIMIT",
                "record limit reached. cannot submit more than 10 records in this operation",
            )
        return items

    def _save(self, operation: ET.Element, mode: str) -> str:
        results = []
        for item in self._components(operation):
            kind = local(item.get(f"{{{XSI_NS}}}type", "").rsplit(":", 1)[-1])
            component = element_dict(item)
            full_name = str(component.get("fullName") or "")
            created: bool | None = None
            error = None
            try:
                if kind == "CustomField":
                    created = self.types.save_field(component, mode)
                elif kind == "PermissionSet":
                    created = self.types.save_permission_set(component, mode)
                else:
                    raise MetadataError(
                        "INVALID_TYPE", f"The sandbox does not serve metadata type {kind or '?'}"
                    )
            except MetadataError as exc:
                error = exc.error
            results.append(_result(full_name, error, bool(created) if mode == "upsert" else None))
        return "".join(results)

    @staticmethod
    def _by_name(
        operation: ET.Element, handlers: dict[str, Callable[[str], Any]]
    ) -> tuple[str, list[str], Callable[[str], Any]]:
        """The type, the full names and the handler of a read/delete call, limits checked."""
        kind = text_of(operation, "type") or ""
        names = [n.text or "" for n in children(operation, "fullNames")]
        if len(names) > MAX_COMPONENTS:
            raise SoapFault(
                "EXCEEDED_ID_LIMIT",
                "record limit reached. cannot submit more than 10 records in this operation",
            )
        handler = handlers.get(kind)
        if handler is None:
            raise SoapFault("INVALID_TYPE", f"The sandbox does not serve metadata type {kind}")
        return kind, names, handler

    def _read(self, operation: ET.Element) -> str:
        kind, names, reader = self._by_name(
            operation,
            {"CustomField": self.types.read_field, "PermissionSet": self.types.read_permission_set},
        )
        records = []
        with self.data.state.store.lock:
            for name in names:
                found = reader(name)
                # A name that matches nothing still gets a record, without a fullName.
                inner = dict_xml(found) if found is not None else ""
                records.append(f'<records xsi:type="{kind}">{inner}</records>')
        return f"<result>{''.join(records)}</result>"

    def _delete(self, operation: ET.Element) -> str:
        _kind, names, deleter = self._by_name(
            operation,
            {
                "CustomField": self.types.delete_field,
                "PermissionSet": self.types.delete_permission_set,
            },
        )
        results = []
        for name in names:
            error = None
            try:
                deleter(name)
            except MetadataError as exc:
                error = exc.error
            results.append(_result(name, error))
        return "".join(results)

    def _list(self, operation: ET.Element) -> str:
        queries = children(operation, "queries")
        if len(queries) > MAX_QUERIES:
            raise SoapFault(
                "EXCEEDED_ID_LIMIT", "Too many queries: listMetadata takes at most 3 queries"
            )
        files: list[Component] = []
        with self.data.state.store.lock:
            for query in queries:
                kind = text_of(query, "type")
                if kind == "CustomField":
                    files += self.types.list_fields()
                elif kind == "PermissionSet":
                    files += self.types.list_permission_sets()
        return "".join(f"<result>{dict_xml(f)}</result>" for f in files)
