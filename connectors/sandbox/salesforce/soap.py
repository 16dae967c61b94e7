"""SOAP plumbing shared by the partner login and the Metadata API: envelopes in and out, faults.

Requests are parsed namespace-agnostically (clients prefix freely: ``urn:``, ``n1:``, zeep's
``ns0:``); responses are written the way Salesforce writes them, with a default namespace
so ``xsi:type`` values resolve for zeep.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

from werkzeug.wrappers import Response

from connectors.sandbox.salesforce.error_bodies import SfError

ENVELOPE_NS = "http://schemas.xmlsoap.org/soap/envelope/"
PARTNER_NS = "urn:partner.soap.sforce.com"
PARTNER_FAULT_NS = "urn:fault.partner.soap.sforce.com"
METADATA_NS = "http://soap.sforce.com/2006/04/metadata"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
XML_TYPE = "text/xml; charset=utf-8"


def local(tag: str) -> str:
    """``{ns}name`` -> ``name``."""
    return tag.rsplit("}", 1)[-1]


def child(element: ET.Element | None, name: str) -> ET.Element | None:
    """The first child with a local name."""
    if element is None:
        return None
    return next((c for c in element if local(c.tag) == name), None)


def children(element: ET.Element | None, name: str) -> list[ET.Element]:
    """Every child with a local name."""
    return [] if element is None else [c for c in element if local(c.tag) == name]


def text_of(element: ET.Element | None, name: str) -> str | None:
    """The text of the first child with a local name (None when absent)."""
    found = child(element, name)
    return None if found is None else (found.text or "")


def parse_envelope(data: bytes) -> tuple[ET.Element | None, ET.Element]:
    """The Header (if any) and the operation element of a SOAP 1.1 request."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise SoapFault("INVALID_XML", f"Invalid XML: {exc}", client=True) from None
    if local(root.tag) != "Envelope":
        raise SoapFault("INVALID_XML", "Expected a SOAP Envelope", client=True)
    body = child(root, "Body")
    operation = next(iter(body), None) if body is not None else None
    if operation is None:
        raise SoapFault("INVALID_XML", "The SOAP Body is empty", client=True)
    return child(root, "Header"), operation


def envelope(body: str, namespace: str) -> Response:
    """A 200 response whose Body holds ``body`` (default namespace ``namespace``)."""
    document = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{ENVELOPE_NS}" xmlns="{namespace}" '
        f'xmlns:xsi="{XSI_NS}"><soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>'
    )
    return Response(document.encode(), status=200, content_type=XML_TYPE)


class SoapFault(Exception):
    """Answer with a SOAP fault (HTTP 500): ``sf:CODE`` and ``CODE: message``."""

    def __init__(self, code: str, message: str, *, client: bool = False) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.client = client

    def response(self, fault_ns: str, detail: str = "UnexpectedErrorFault") -> Response:
        """The fault envelope, with the ``sf:exceptionCode``/``sf:exceptionMessage`` detail."""
        code, message = escape(self.code), escape(self.message)
        document = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f'<soapenv:Envelope xmlns:soapenv="{ENVELOPE_NS}" xmlns:sf="{fault_ns}" '
            f'xmlns:xsi="{XSI_NS}"><soapenv:Body><soapenv:Fault>'
            f"<faultcode>{'soapenv:Client' if self.client else 'sf:' + code}</faultcode>"
            f"<faultstring>{code}: {message}</faultstring>"
            f'<detail><sf:{detail} xsi:type="sf:{detail}">'
            f"<sf:exceptionCode>{code}</sf:exceptionCode>"
            f"<sf:exceptionMessage>{message}</sf:exceptionMessage>"
            f"</sf:{detail}></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>"
        )
        return Response(document.encode(), status=500, content_type=XML_TYPE)

    @classmethod
    def of(cls, error: SfError) -> SoapFault:
        """The SOAP form of a REST error."""
        return cls(error.code, error.message)


def xml_text(value: object) -> str:
    """Escaped element text (booleans as ``true``/``false``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return escape(str(value))
