"""Geographic model: region, sub-region, country, time zone.

Everything it needs (``country_code``, ``region``, ``sub_region``, ``time_zone``) is
enrichment, so the model is its rules alone.
"""

from __future__ import annotations

from segmentation.models.base import COMPANY, CONTACT, ModelSpec

SPEC = ModelSpec("geographic", applies_to=(CONTACT, COMPANY))
