"""Describe: ``GET sobjects/``, ``GET sobjects/{Type}/describe`` and the SOQL engine's schema view.

Only fields the integration user can see are described (field-level security), exactly
like a real org answers an API user.
"""

from __future__ import annotations

from typing import Any

from connectors.sandbox.salesforce.object_schema import (
    NUMBER_TYPES,
    SOAP_TYPES,
    TEXT_TYPES,
    FieldDef,
    ObjectDef,
)
from connectors.sandbox.salesforce.records import SalesforceData
from connectors.sandbox.salesforce.soql.engine import FieldInfo

# Child relationships by (child object, lookup field) -> relationship name on the parent.
CHILD_RELATIONSHIPS = {
    ("Contact", "AccountId"): "Contacts",
    ("Opportunity", "AccountId"): "Opportunities",
    ("Account", "ParentId"): "ChildAccounts",
    ("OpportunityContactRole", "OpportunityId"): "OpportunityContactRoles",
    ("OpportunityContactRole", "ContactId"): "OpportunityContactRoles",
    ("PermissionSetAssignment", "PermissionSetId"): "Assignments",
    ("PermissionSetAssignment", "AssigneeId"): "PermissionSetAssignments",
    ("FieldPermissions", "ParentId"): "FieldPerms",
}


def urls(obj: ObjectDef, version: str) -> dict[str, str]:
    """The ``urls`` block of an object."""
    base = f"/services/data/{version}/sobjects/{obj.name}"
    return {
        "compactLayouts": f"{base}/describe/compactLayouts",
        "rowTemplate": f"{base}/{{ID}}",
        "approvalLayouts": f"{base}/describe/approvalLayouts",
        "defaultValues": f"{base}/defaultValues?recordTypeId&fields",
        "describe": f"{base}/describe",
        "quickActions": f"{base}/quickActions",
        "layouts": f"{base}/describe/layouts",
        "sobject": base,
    }


def object_summary(obj: ObjectDef, version: str) -> dict[str, Any]:
    """An entry of the global describe (``GET sobjects/``)."""
    return {
        "activateable": False,
        "associateEntityType": None,
        "associateParentEntity": None,
        "createable": obj.createable,
        "custom": False,
        "customSetting": obj.custom_setting,
        "deepCloneable": False,
        "deletable": obj.deletable,
        "deprecatedAndHidden": False,
        "feedEnabled": obj.has_owner,
        "hasSubtypes": False,
        "isInterface": False,
        "isSubtype": False,
        "keyPrefix": obj.prefix,
        "label": obj.label,
        "labelPlural": obj.label_plural,
        "layoutable": obj.has_owner,
        "mergeable": obj.name in ("Account", "Contact", "Lead"),
        "mruEnabled": obj.has_owner,
        "name": obj.name,
        "queryable": True,
        "replicateable": True,
        "retrieveable": True,
        "searchable": obj.has_owner,
        "triggerable": obj.has_owner,
        "undeletable": obj.deletable,
        "updateable": obj.updateable,
        "urls": {
            k: v
            for k, v in urls(obj, version).items()
            if k in ("sobject", "describe", "rowTemplate")
        },
    }


def field_json(obj: ObjectDef, definition: FieldDef, data: SalesforceData) -> dict[str, Any]:
    """One entry of ``fields`` in an object's describe."""
    kind = definition.type
    text = kind in TEXT_TYPES or kind == "reference"
    editable = data.editable(obj, definition)
    return {
        "aggregatable": kind not in ("textarea",) or definition.length <= 255,
        "aiPredictionField": False,
        "autoNumber": False,
        "byteLength": definition.length * 3 if text else 0,
        "calculated": definition.calculated,
        "calculatedFormula": None,
        "cascadeDelete": False,
        "caseSensitive": definition.case_sensitive,
        "compoundFieldName": "Name"
        if definition.name in ("FirstName", "LastName") and obj.name in ("Contact", "Lead")
        else None,
        "controllerName": None,
        "createable": definition.createable and editable,
        "custom": definition.custom,
        "defaultValue": False if kind == "boolean" else None,
        "defaultValueFormula": None,
        "defaultedOnCreate": definition.default_on_create,
        "dependentPicklist": False,
        "deprecatedAndHidden": False,
        "digits": definition.digits,
        "displayLocationInDecimal": False,
        "encrypted": False,
        "externalId": definition.external_id,
        "extraTypeInfo": _extra_type(definition),
        "filterable": kind != "textarea" or definition.length <= 255,
        "filteredLookupInfo": None,
        "formulaTreatNullNumberAsZero": False,
        "groupable": kind not in NUMBER_TYPES and kind not in ("textarea", "datetime"),
        "highScaleNumber": False,
        "htmlFormatted": False,
        "idLookup": definition.id_lookup,
        "inlineHelpText": None,
        "label": definition.label,
        "length": definition.length if text else 0,
        "mask": None,
        "maskType": None,
        "name": definition.name,
        "nameField": definition.name_field,
        "namePointing": False,
        "nillable": definition.nillable,
        "permissionable": definition.custom or (definition.nillable and definition.updateable),
        "picklistValues": [p.to_json() for p in definition.picklist if p.active],
        "polymorphicForeignKey": False,
        "precision": definition.precision,
        "queryByDistance": False,
        "referenceTargetField": None,
        "referenceTo": list(definition.reference_to),
        "relationshipName": definition.relationship_name,
        "relationshipOrder": None,
        "restrictedDelete": False,
        "restrictedPicklist": definition.restricted,
        "scale": definition.scale,
        "searchPrefilterable": kind == "reference",
        "soapType": SOAP_TYPES.get(kind, "xsd:string"),
        "sortable": kind != "textarea" or definition.length <= 255,
        "type": kind,
        "unique": definition.unique,
        "updateable": definition.updateable and editable,
        "writeRequiresMasterRead": False,
    }


def _extra_type(definition: FieldDef) -> str | None:
    return "plaintextarea" if definition.type == "textarea" else None


def describe(obj: ObjectDef, data: SalesforceData, version: str) -> dict[str, Any]:
    """``GET sobjects/{Type}/describe``."""
    summary = object_summary(obj, version)
    children = []
    for child in data.objects.values():
        for definition in child.fields.values():
            if obj.name in definition.reference_to and data.visible(child, definition):
                children.append(
                    {
                        "cascadeDelete": child.name
                        in ("OpportunityContactRole", "FieldPermissions")
                        or (child.name == "PermissionSetAssignment"),
                        "childSObject": child.name,
                        "deprecatedAndHidden": False,
                        "field": definition.name,
                        "junctionIdListNames": [],
                        "junctionReferenceTo": [],
                        "relationshipName": CHILD_RELATIONSHIPS.get((child.name, definition.name)),
                        "restrictedDelete": False,
                    }
                )
    body = {
        **summary,
        "actionOverrides": [],
        "childRelationships": children,
        "compactLayoutable": obj.has_owner,
        "defaultImplementation": None,
        "extendedBy": None,
        "extendsInterfaces": None,
        "fields": [field_json(obj, f, data) for f in data.fields(obj)],
        "implementedBy": None,
        "implementsInterfaces": None,
        "listviewable": None,
        "lookupLayoutable": None,
        "namedLayoutInfos": [],
        "networkScopeFieldName": None,
        "recordTypeInfos": [
            {
                "active": True,
                "available": True,
                "defaultRecordTypeMapping": True,
                "developerName": "Master",
                "master": True,
                "name": "Master",
                "recordTypeId": "012000000000000AAA",
                "urls": {
                    "layout": f"/services/data/{version}/sobjects/{obj.name}/describe/layouts/"
                    "012000000000000AAA"
                },
            }
        ]
        if obj.has_owner
        else [],
        "searchLayoutable": obj.has_owner,
        "sobjectDescribeOption": "FULL",
        "supportedScopes": [{"label": "All " + obj.label_plural.lower(), "name": "everything"}],
        "urls": urls(obj, version),
    }
    return body


def global_describe(data: SalesforceData, version: str) -> dict[str, Any]:
    """``GET sobjects/``."""
    return {
        "encoding": "UTF-8",
        "maxBatchSize": 200,
        "sobjects": [object_summary(o, version) for o in data.objects.values()],
    }


class SoqlDescribe:
    """The schema as the SOQL engine sees it: visible objects, fields and relationships."""

    def __init__(self, data: SalesforceData) -> None:
        self.data = data

    def object_name(self, name: str) -> str | None:
        """Canonical object name, None when the org has no such object."""
        obj = self.data.obj(name)
        return None if obj is None else obj.name

    def field(self, object_name: str, name: str) -> FieldInfo | None:
        """A visible field, None when unknown or hidden by field-level security."""
        obj = self.data.obj(object_name)
        definition = None if obj is None else self.data.field(obj, name)
        if definition is None:
            return None
        return FieldInfo(
            definition.name,
            definition.type,
            definition.reference_to[0] if definition.reference_to else None,
            definition.relationship_name,
        )

    def relationship(self, object_name: str, name: str) -> str | None:
        """The parent object of a relationship name, None when there is none."""
        obj = self.data.obj(object_name)
        definition = None if obj is None else obj.relationship(name)
        if obj is None or definition is None or not self.data.visible(obj, definition):
            return None
        return definition.reference_to[0] if definition.reference_to else None
