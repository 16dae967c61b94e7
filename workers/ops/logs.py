"""Log lines as text for people or as JSON for collectors (``SEGSYNC_LOG_FORMAT=json``).

JSON is one object per line: time, level, logger, message, the traceback whole in one
field, and what is known of the work at hand — the run id, the CRM, the Celery task,
record counts — from a context the runner and the tasks set. Every configured secret's
value is blanked out of every line, whichever code wrote it.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Literal

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
REDACTED = "[secret]"
_context: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "segsync_log_context", default=MappingProxyType({})
)
# Keys a caller may pass as ``extra=`` that belong in the JSON line.
_EXTRA_KEYS = ("run_id", "crm", "task", "task_id", "counts", "object_type", "exit_code")


class LogSettings(BaseSettings):
    """Read apart from the other settings: logging works even when those are wrong."""

    model_config = SettingsConfigDict(
        env_prefix="SEGSYNC_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    log_format: Literal["text", "json"] = "text"


@contextmanager
def log_context(**values: Any) -> Iterator[None]:
    """Every line logged in this block (this thread or task) carries ``values``."""
    token = _context.set({**_context.get(), **{k: v for k, v in values.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


def set_context(**values: Any) -> contextvars.Token[Mapping[str, Any]]:
    """:func:`log_context` for code that cannot hold a block (Celery's task signals)."""
    return _context.set({**_context.get(), **{k: v for k, v in values.items() if v is not None}})


def reset_context(token: contextvars.Token[Mapping[str, Any]]) -> None:
    """Undo :func:`set_context`."""
    _context.reset(token)


class JsonFormatter(logging.Formatter):
    """One JSON object per record."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(_context.get())
        for key in _EXTRA_KEYS:
            value = getattr(record, key, None)
            if value is not None:
                line[key] = value
        if record.exc_info:
            line["traceback"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = record.stack_info
        return json.dumps(line, default=str, ensure_ascii=False)


class Redacting(logging.Formatter):
    """Wraps a formatter and blanks every secret's value out of what it produced."""

    def __init__(self, inner: logging.Formatter, secrets: list[str]) -> None:
        super().__init__()
        self.inner = inner
        self.secrets = secrets

    def format(self, record: logging.LogRecord) -> str:
        text = self.inner.format(record)
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text


def configured_secrets() -> list[str]:
    """The values of every secret setting (none when the settings do not load)."""
    from workers.settings import Settings

    try:
        settings = Settings()
    except Exception:  # the command that needs them says what is wrong
        return []
    return [
        v.get_secret_value()
        for _, v in settings
        if isinstance(v, SecretStr) and len(v.get_secret_value()) >= 4
    ]


def json_logs() -> bool:
    """Whether log lines are JSON (the CLI then reports errors as log lines too)."""
    return _chosen == "json"


_chosen = "text"


def configure(level: int, fmt: str | None = None) -> None:
    """Route every log record to stderr in the configured format (replaces handlers)."""
    global _chosen
    chosen = _chosen = fmt or LogSettings().log_format
    inner: logging.Formatter = (
        JsonFormatter() if chosen == "json" else logging.Formatter(TEXT_FORMAT)
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(Redacting(inner, configured_secrets()))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Python's warnings are text on stderr unless they are log records too.
    logging.captureWarnings(chosen == "json")
