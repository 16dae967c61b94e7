"""One alert: a condition of one CRM that changed status, in words for people."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from pydantic import SecretStr

from workers.settings import Settings

FIRING, OK = "firing", "ok"
REDACTED = "[secret]"


@dataclass(frozen=True, slots=True)
class Alert:
    """``summary`` is one line (a subject, a Slack headline); ``details`` a few more."""

    crm: str
    condition: str  # run, rejections, dead_letters, inbox_lag
    status: str  # firing, or ok: the recovery
    summary: str
    details: str
    run_id: int | None = None

    def as_json(self) -> dict[str, Any]:
        """Plain JSON types (the generic webhook's body)."""
        return {"source": "segsync", **asdict(self)}


def redacted(alert: Alert, settings: Settings) -> Alert:
    """The alert with every configured secret's value blanked out of its text.

    Errors are written not to carry secrets; this is the belt to those braces, since an
    alert leaves the machine.
    """
    secrets = [
        value.get_secret_value()
        for _, value in settings
        if isinstance(value, SecretStr) and len(value.get_secret_value()) >= 4
    ]

    def clean(text: str) -> str:
        for secret in secrets:
            text = text.replace(secret, REDACTED)
        return text

    return Alert(
        alert.crm,
        alert.condition,
        alert.status,
        clean(alert.summary),
        clean(alert.details),
        alert.run_id,
    )
