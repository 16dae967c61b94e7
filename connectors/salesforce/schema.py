"""segsync's custom fields in Salesforce: Metadata API fields plus field-level security.

A field created through the Metadata API is invisible to everyone until field-level
security grants it, so every apply also upserts the ``Segsync_Integration`` permission
set (read + edit on each segsync field) and assigns it to the integration user.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from zeep.exceptions import Fault, TransportError

from connectors.base import (
    AuthError,
    BudgetExhaustedError,
    ConnectorError,
    FieldSpec,
    ObjectType,
    RateLimitedError,
    RejectedError,
    SchemaChange,
    TransientError,
)
from connectors.retrying import RetryPolicy, call_with_retries, is_retryable
from connectors.salesforce.errors import RETRYABLE_RECORD_CODES

PERMISSION_SET = "Segsync_Integration"
KEPT_AS_TEXT = "text field takes every value; delete it and apply again for a picklist"
METADATA_BATCH = 10  # components per Metadata API call
_NAME = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


def field_api_name(name: str) -> str:
    """``value_tier`` -> ``Segsync_Value_Tier__c`` (Salesforce allows 40 chars before __c)."""
    if not _NAME.match(name):
        raise ValueError(f"segsync field name {name!r} must be snake_case letters and digits")
    api = "Segsync_" + "_".join(part.capitalize() for part in name.split("_"))
    if len(api) > 40:
        raise ValueError(f"Salesforce field name {api}__c is longer than 40 characters")
    return f"{api}__c"


class MetadataSchema:
    """Creates fields and grants access through simple-salesforce's ``mdapi`` (zeep)."""

    def __init__(
        self,
        mdapi: Any,
        rest: Callable[..., Any],
        user_id: Callable[[], str],
        retry: RetryPolicy | None = None,
    ) -> None:
        self._md = mdapi
        self._rest = rest
        self._user_id = user_id
        self._retry = retry or RetryPolicy()

    def apply(
        self, object_type: ObjectType, sobject: str, specs: Sequence[FieldSpec]
    ) -> list[SchemaChange]:
        """Create or extend each field, then grant segsync's permission set on all of them."""
        names = [f"{sobject}.{field_api_name(s.name)}" for s in specs]
        existing = self._read("CustomField", names)
        to_create, to_update, changes = [], [], []
        for spec, full_name in zip(specs, names, strict=True):
            current = existing.get(full_name)
            wanted = self._field(spec, full_name)
            if current is None:
                to_create.append(wanted)
                changes.append(SchemaChange(object_type, full_name, "created"))
                continue
            if str(getattr(current, "type", "")) == "Text" and spec.type == "enumeration":
                # An earlier segsync wrote this segment as text: the field takes every
                # option's value, and a type change would be the user's call.
                changes.append(SchemaChange(object_type, full_name, "kept_as_text", KEPT_AS_TEXT))
                continue
            if str(getattr(current, "type", "")) != _TYPES[spec.type][0]:
                raise RejectedError(
                    f"Salesforce field {full_name} exists with type {current.type}; segsync "
                    f"needs {_TYPES[spec.type][0]}. Delete or rename it, then run "
                    "`segsync schema apply` again.",
                    category="SCHEMA_CONFLICT",
                )
            known = _picklist_values(current)
            new = [v for v in spec.options if v not in known] if spec.type == "enumeration" else []
            if new:
                # Existing values stay: records may hold them.
                wanted = self._field(spec, full_name, keep=known)
                to_update.append(wanted)
                changes.append(
                    SchemaChange(object_type, full_name, "options_added", ", ".join(new))
                )
            else:
                changes.append(SchemaChange(object_type, full_name, "unchanged"))
        for start in range(0, len(to_create), METADATA_BATCH):
            self._call(
                "create",
                self._md.CustomField.create,
                to_create[start : start + METADATA_BATCH],
                after_lost_answer=self._md.CustomField.upsert,
            )
        for start in range(0, len(to_update), METADATA_BATCH):
            self._call(
                "update", self._md.CustomField.update, to_update[start : start + METADATA_BATCH]
            )
        self._grant(names)
        return changes

    # -- pieces -------------------------------------------------------------------------

    def _field(self, spec: FieldSpec, full_name: str, keep: Sequence[str] = ()) -> Any:
        md = self._md
        sf_type, extra = _TYPES[spec.type]
        options: dict[str, Any] = {
            "fullName": full_name,
            "label": spec.label[:40],
            "type": md.FieldType(sf_type),
            "description": spec.description or None,
            **extra,
        }
        if spec.type == "enumeration":
            values = list(dict.fromkeys([*keep, *spec.options]))
            options["valueSet"] = md.ValueSet(
                restricted=True,
                valueSetDefinition=md.ValueSetValuesDefinition(
                    sorted=False,
                    value=[md.CustomValue(fullName=v, label=v, default=False) for v in values],
                ),
            )
        return md.CustomField(**options)

    def _grant(self, names: Sequence[str]) -> None:
        current = self._read("PermissionSet", [PERMISSION_SET]).get(PERMISSION_SET)
        granted = {str(p.field): p for p in (getattr(current, "fieldPermissions", None) or [])}
        for name in names:
            granted[name] = self._md.PermissionSetFieldPermissions(
                field=name, readable=True, editable=True
            )
        permission_set = self._md.PermissionSet(
            fullName=PERMISSION_SET,
            label="segsync integration",
            description="Read and edit access to the fields segsync writes.",
            fieldPermissions=list(granted.values()),
        )
        self._call("upsert", self._md.PermissionSet.upsert, [permission_set])
        self._assign()

    def _assign(self) -> None:
        user = self._user_id()
        found = self._rest(
            "GET",
            "query/",
            params={"q": f"SELECT Id FROM PermissionSet WHERE Name = '{PERMISSION_SET}'"},
        )
        records = found.get("records") or []
        if not records:
            raise RejectedError(f"permission set {PERMISSION_SET} was not found after upsert")
        set_id = records[0]["Id"]
        assigned = self._rest(
            "GET",
            "query/",
            params={
                "q": "SELECT Id FROM PermissionSetAssignment "
                f"WHERE AssigneeId = '{user}' AND PermissionSetId = '{set_id}'"
            },
        )
        if assigned.get("records"):
            return
        try:
            self._rest(
                "POST",
                "sobjects/PermissionSetAssignment/",
                json={"AssigneeId": user, "PermissionSetId": set_id},
            )
        except RejectedError as exc:
            if exc.category != "DUPLICATE_VALUE":  # assigned meanwhile: that's what we want
                raise

    def _read(self, kind: str, names: Sequence[str]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        reader = getattr(self._md, kind).read
        for start in range(0, len(names), METADATA_BATCH):
            answer = self._call("read", reader, list(names[start : start + METADATA_BATCH]))
            for item in answer if isinstance(answer, list) else [answer]:
                if item is not None and getattr(item, "fullName", None):
                    found[str(item.fullName)] = item
        return found

    def _call(
        self,
        what: str,
        fn: Callable[[Any], Any],
        argument: Any,
        *,
        after_lost_answer: Callable[[Any], Any] | None = None,
    ) -> Any:
        """One Metadata API call under the connector's retry policy.

        ``after_lost_answer`` replaces ``fn`` once an attempt failed without a usable
        answer: a create that landed before its connection dropped must not come back as
        a duplicate, so the retry upserts the same components instead.
        """
        lost = False

        def attempt() -> Any:
            nonlocal lost
            call = after_lost_answer if lost and after_lost_answer is not None else fn
            try:
                return call(argument)
            except Exception as exc:
                error = metadata_error(what, exc)
                lost = lost or is_retryable(error)
                if error is exc:
                    raise
                raise error from None

        return call_with_retries(self._retry, attempt)


# Fault codes after which the same call can succeed (SOAP faults all come as HTTP 500,
# so the code, not the status, says whether to try again).
TRANSIENT_FAULTS = RETRYABLE_RECORD_CODES | {"UNKNOWN_EXCEPTION"}


def metadata_error(what: str, exc: Exception) -> Exception:
    """The connector error for a failed Metadata API call (``exc`` itself when it is one)."""
    if isinstance(exc, ConnectorError):
        return exc
    if isinstance(exc, Fault):
        code = str(exc.code or "").rsplit(":", 1)[-1]
        message = str(exc.message or "").strip()
        if not code or code in ("Server", "Client"):
            code = message.split(":", 1)[0].strip()
        text = f"Salesforce Metadata API {what} failed: {message}"
        if code == "INSUFFICIENT_ACCESS":
            return AuthError(NO_METADATA_ACCESS.format(what=what))
        if code == "INVALID_SESSION_ID":
            return AuthError(f"{text} (the session expired)")
        if code == "REQUEST_LIMIT_EXCEEDED" and "TotalRequests" not in message:
            return RateLimitedError(text, policy=code)
        if code == "REQUEST_LIMIT_EXCEEDED":
            return BudgetExhaustedError(
                f"{text} — the org's daily API allocation is used up", policy=code
            )
        if code in TRANSIENT_FAULTS:
            return TransientError(text)
        return RejectedError(text, category=code)
    if isinstance(exc, TransportError):
        text = f"Salesforce Metadata API {what} failed: HTTP {exc.status_code}"
        if exc.status_code >= 500 or exc.status_code == 429:
            return TransientError(text)
        return RejectedError(text, status=exc.status_code)
    if type(exc).__module__.startswith("requests"):
        return TransientError(f"Salesforce Metadata API {what}: no answer ({type(exc).__name__})")
    # simple-salesforce raises a plain Exception listing each component's (statusCode, message)
    text = " ".join(str(exc).split())
    if "INSUFFICIENT_ACCESS" in text or "insufficient access" in text.lower():
        return AuthError(NO_METADATA_ACCESS.format(what=what))
    return RejectedError(f"Salesforce Metadata API {what} failed: {text}")


NO_METADATA_ACCESS = (
    "Salesforce Metadata API {what} refused: the integration user lacks the "
    "'Customize Application' and 'Modify Metadata' permissions needed to create "
    "segsync's fields. Ask an admin to grant them, or to run `segsync schema "
    "apply` once with an admin user."
)


_TYPES: dict[str, tuple[str, dict[str, Any]]] = {
    "string": ("Text", {"length": 255}),
    "number": ("Number", {"precision": 18, "scale": 2}),
    "enumeration": ("Picklist", {}),
    "datetime": ("DateTime", {}),
    "date": ("Date", {}),
    "bool": ("Checkbox", {"defaultValue": "false"}),
}


def _picklist_values(field: Any) -> list[str]:
    value_set = getattr(field, "valueSet", None)
    definition = getattr(value_set, "valueSetDefinition", None) if value_set else None
    return [str(v.fullName) for v in (getattr(definition, "value", None) or [])]
