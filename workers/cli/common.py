"""What every CLI command shares: settings loading and the common options."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, cast

import click

from connectors.base import Connector, CrmName
from workers.cli.errors import (
    EXIT_FAILURE,
    EXIT_USAGE,
    VERBOSE_KEY,
    fail,
    remember,
    settings_error_line,
)

if TYPE_CHECKING:
    from pydantic import ValidationError

    # Imported when settings are loaded: the connectors behind them take a quarter of a
    # second, which `--help`, `--version` and `segment` do not need.
    from workers.settings import Settings

CRM = click.option(
    "--crm",
    type=click.Choice(["hubspot", "salesforce"]),
    default="hubspot",
    show_default=True,
    help="Which CRM to work on.",
)
AS_JSON = click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary.")


def load_settings() -> Settings:
    """Settings from the environment, or one line per wrong variable (exit 2)."""
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    from workers.settings import Settings

    try:
        settings = Settings()
    except ValidationError as exc:
        raise fail("\n".join(validation_lines(exc)), EXIT_USAGE) from None
    except SettingsError as exc:  # a value pydantic-settings could not decode (not JSON)
        raise fail(settings_error_line(exc), EXIT_USAGE) from None
    remember(settings)
    return settings


def validation_lines(exc: ValidationError) -> list[str]:
    """``SEGSYNC_NAME: what is wrong`` per problem; input values are never shown (secrets)."""
    lines = []
    for error in exc.errors():
        loc = error["loc"]
        name = "SEGSYNC_" + str(loc[0]).upper() if loc else "settings"
        item = f" (item {loc[1]})" if len(loc) > 1 and isinstance(loc[1], int) else ""
        message = error["msg"].removeprefix("Value error, ")
        lines.append(f"{name}{item}: {message}")
    return lines


CRM_NAMES = {"hubspot": "HubSpot", "salesforce": "Salesforce"}
URL_VARIABLES = {
    "hubspot": "SEGSYNC_HUBSPOT_BASE_URL",
    "salesforce": "SEGSYNC_SALESFORCE_INSTANCE_URL (or SEGSYNC_SALESFORCE_DOMAIN)",
}


def connect(settings: Settings, crm: str) -> Connector:
    """The CRM's connector, after one quick authenticated call.

    A command someone is waiting for should name a wrong URL or token in about a second,
    not after the minutes of retries meant for outages in the middle of a run: the first
    call gets two tries (``Connector.check``); once the CRM has answered, the run keeps
    the full retry policy.
    """
    from connectors.base import TransientError
    from workers.sync.runner import build_connector

    try:
        with _quiet_retries():
            connector = build_connector(settings, cast(CrmName, crm))
            connector.check()
    except TransientError as exc:
        raise fail(
            f"{exc}; check {URL_VARIABLES[crm]} and that {CRM_NAMES[crm]} is up", EXIT_FAILURE
        ) from None
    return connector


class _DropRecords(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return False


@contextmanager
def _quiet_retries() -> Iterator[None]:
    """Hide the retry warning of the first call: its failure is reported as one line."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None and ctx.meta.get(VERBOSE_KEY):
        yield
        return
    logger, drop = logging.getLogger("connectors.retrying"), _DropRecords()
    logger.addFilter(drop)
    try:
        yield
    finally:
        logger.removeFilter(drop)


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``, or one line saying why not (exit 2)."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        return socket.create_server((host, port), family=family, backlog=2048)
    except OSError as exc:
        raise fail(
            f"cannot listen on {host}:{port}: {_reason(exc)}; choose another --host or --port",
            EXIT_USAGE,
        ) from None


def _reason(exc: OSError) -> str:
    # create_server appends "(while attempting to bind on address ...)" to strerror.
    return os.strerror(exc.errno) if exc.errno else str(exc)


def require_sandbox() -> None:
    """Stop with one line when the sandbox CRM's libraries are not installed (the image)."""
    import importlib.util

    missing = [m for m in ("faker", "werkzeug", "lark") if importlib.util.find_spec(m) is None]
    if missing:
        raise fail(
            f"the sandbox CRM is not installed here ({', '.join(missing)} missing): "
            "pip install 'segsync[sandbox]'",
            EXIT_USAGE,
        )
