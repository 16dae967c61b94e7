"""Technographic model: the technology a company runs (stack categories, digital maturity).

``tech_categories``, ``tech_count`` and ``digital_maturity`` come from enrichment (and
reach contacts as ``company_*`` roll-ups); the model is its rules alone.
"""

from __future__ import annotations

from segmentation.models.base import COMPANY, CONTACT, ModelSpec

SPEC = ModelSpec("technographic", applies_to=(CONTACT, COMPANY))
