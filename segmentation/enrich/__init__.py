"""Enrichment: derived columns for contacts and companies, columnar and I/O-free.

``enrich_contacts`` and ``enrich_companies`` take canonical frames (design.md names,
any column optional, values possibly messy text) and return them with canonical typed
columns parsed and the columns of ``ENRICHED_CONTACT_COLUMNS`` /
``ENRICHED_COMPANY_COLUMNS`` added. ``parse_report`` lists the values that were present
but unreadable; ``VALUE_SETS`` gives the closed vocabularies of the categorical columns.
"""

from __future__ import annotations

from segmentation.enrich.columns import (
    ENRICHED_COMPANY_COLUMNS,
    ENRICHED_CONTACT_COLUMNS,
    VALUE_SETS,
)
from segmentation.enrich.parse import CANONICAL_KINDS, coerce_canonical, parse_report
from segmentation.enrich.pipeline import enrich_companies, enrich_contacts

__all__ = [
    "CANONICAL_KINDS",
    "ENRICHED_COMPANY_COLUMNS",
    "ENRICHED_CONTACT_COLUMNS",
    "VALUE_SETS",
    "coerce_canonical",
    "enrich_companies",
    "enrich_contacts",
    "parse_report",
]
