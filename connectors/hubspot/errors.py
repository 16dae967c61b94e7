"""HubSpot's error bodies, parsed defensively (every field is optional in its schema)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class HubSpotError:
    """The useful parts of a HubSpot error body (all optional in HubSpot's schema)."""

    status: int
    message: str
    category: str = ""
    policy: str = ""
    scopes: tuple[str, ...] = ()  # MISSING_SCOPES: the scopes the call needs

    @classmethod
    def parse(cls, status: int, body: object) -> HubSpotError:
        data: dict[str, Any] = {}
        if isinstance(body, bytes):
            body = body.decode("utf-8", "replace")
        if isinstance(body, str) and body:
            try:
                loaded = json.loads(body)
            except ValueError:
                loaded = None
            if isinstance(loaded, dict):
                data = loaded
        return cls(
            status=status,
            message=str(data.get("message") or f"HTTP {status}"),
            # OAuth errors carry their code in "status" (e.g. BAD_REFRESH_TOKEN).
            category=str(
                data.get("category")
                or data.get("errorType")
                or (data.get("status") if data.get("status") != "error" else "")
                or ""
            ),
            policy=str(data.get("policyName") or ""),
            scopes=_required_scopes(data),
        )


def _required_scopes(data: dict[str, Any]) -> tuple[str, ...]:
    """The scopes a MISSING_SCOPES answer lists in its errors' context."""
    found: list[str] = []
    for error in data.get("errors") or ():
        context = error.get("context") if isinstance(error, dict) else None
        if isinstance(context, dict):
            for key in ("requiredGranularScopes", "requiredScopes"):
                found += [str(s) for s in context.get(key) or () if isinstance(s, str)]
    return tuple(dict.fromkeys(found))
