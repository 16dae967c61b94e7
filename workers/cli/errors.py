"""One line per known failure, with the exit code every command uses for it.

Every ``segsync`` command runs under :class:`SegsyncGroup`, which turns the failures
people cause or meet (settings, credentials, an unreachable CRM or state store, input
files, playbooks) into one line naming what to fix, and anything else into one line
asking for a bug report. ``segsync -v ...`` prints the traceback as well.

Exit codes (README "Exit codes"):

- 0 success
- 1 failure: a run or a service failed (CRM unreachable or erroring, state store or Redis
  unreachable, a bug)
- 2 usage or configuration error: bad flags or settings, missing or refused credentials,
  playbook errors, unreadable or invalid input files, unwritable output
- 3 completed, but the CRM rejected some rows (they are dead-lettered)
"""

from __future__ import annotations

import logging
import re
import sys
import traceback
from typing import Any

import click

from connectors.base import (
    AuthError,
    BudgetExhaustedError,
    ConnectorError,
)

EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_REJECTED = 3

VERBOSE_KEY = "segsync.verbose"
SETTINGS_KEY = "segsync.settings"
DATABASE_VARIABLE = "SEGSYNC_DATABASE_URL"
REDIS_VARIABLE = "SEGSYNC_REDIS_URL"


class CliError(click.ClickException):
    """A failure already phrased for people (exit 1); click prints it as one line."""

    exit_code = EXIT_FAILURE


class ConfigError(CliError):
    """Usage or configuration to fix: flags, settings, credentials, files (exit 2)."""

    exit_code = EXIT_USAGE


class RejectedRows(CliError):
    """The command completed, but the CRM rejected some rows (exit 3)."""

    exit_code = EXIT_REJECTED


_BY_CODE: dict[int, type[CliError]] = {
    EXIT_FAILURE: CliError,
    EXIT_USAGE: ConfigError,
    EXIT_REJECTED: RejectedRows,
}


def fail(message: str, exit_code: int = EXIT_FAILURE) -> CliError:
    """The exception that prints ``message`` and exits with ``exit_code``."""
    return _BY_CODE[exit_code](message)


class SegsyncGroup(click.Group):
    """The root command: known failures become one line and a documented exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        from workers.ops.logs import json_logs

        try:
            return self._invoke(ctx)
        except click.ClickException as exc:
            if not json_logs():
                raise
            # Collectors read every line as JSON: the error is one more log record.
            logging.getLogger("segsync").error(
                exc.format_message(), extra={"exit_code": exc.exit_code}
            )
            raise click.exceptions.Exit(exc.exit_code) from None

    def _invoke(self, ctx: click.Context) -> Any:
        from workers.ops.logs import json_logs

        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            error = describe(exc, ctx.meta.get(SETTINGS_KEY))
            if ctx.meta.get(VERBOSE_KEY):
                if json_logs():
                    logging.getLogger("segsync").error("unexpected error", exc_info=exc)
                else:
                    traceback.print_exception(exc, file=sys.stderr)
            raise error from None


def remember(settings: Any) -> None:
    """Keep the loaded settings so that failures can name the state store's URL."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.meta[SETTINGS_KEY] = settings


def first_line(text: str) -> str:
    """The first non-empty line of ``text``, stripped (library messages run long)."""
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def _loaded(module: str, name: str) -> type[BaseException] | tuple[()]:
    """An exception class if its module was imported, else nothing to match.

    An exception of a class whose module was never imported cannot exist; looking only
    at loaded modules keeps the error path from importing the engine or Alembic (half a
    second) to report a missing file.
    """
    found = getattr(sys.modules.get(module), name, None)
    return found if isinstance(found, type) and issubclass(found, BaseException) else ()


def describe(exc: BaseException, settings: Any = None) -> CliError:
    """The one line and exit code for ``exc``; unknown exceptions are reported as bugs."""
    playbook_error = _loaded("segmentation.playbook.errors", "PlaybookError")
    if playbook_error and isinstance(exc, playbook_error):
        count = len(getattr(exc, "errors", ())) or 1
        problems = f"{count} playbook problem{'s' if count != 1 else ''}; nothing written"
        return fail(f"{exc}\n{problems}", EXIT_USAGE)
    settings_error = _loaded("pydantic_settings", "SettingsError")
    if settings_error and isinstance(exc, settings_error):
        return fail(settings_error_line(exc), EXIT_USAGE)
    usage = (
        _loaded("workers.offline", "OfflineError"),
        _loaded("workers.sync.crm_schema", "SchemaMissingError"),
        _loaded("workers.fieldmap", "FieldMapError"),
    )
    if isinstance(exc, tuple(cls for cls in usage if cls)):
        return fail(str(exc), EXIT_USAGE)
    if isinstance(exc, ConnectorError):
        return connector_error(exc)
    database = database_error(exc, settings)
    if database is not None:
        return database
    redis = redis_error(exc, settings)
    if redis is not None:
        return redis
    if isinstance(exc, OSError) and exc.filename is not None:
        return fail(f"{exc.filename}: {exc.strerror or exc}", EXIT_USAGE)
    return fail(
        f"unexpected {type(exc).__name__}: {first_line(str(exc))} — a bug; run again with "
        "`segsync -v ...` and report the traceback",
        EXIT_FAILURE,
    )


def connector_error(exc: ConnectorError) -> CliError:
    """Refused or missing credentials are configuration (2); the rest are failures (1)."""
    if isinstance(exc, AuthError):
        return fail(str(exc), EXIT_USAGE)
    if isinstance(exc, BudgetExhaustedError):
        return fail(
            f"{exc}; nothing more is sent until the daily budget window resets", EXIT_FAILURE
        )
    return fail(str(exc), EXIT_FAILURE)


_SETTINGS_FIELD = re.compile(r'field "(?P<field>\w+)" from source "(?P<source>\w+)"')


def settings_error_line(exc: BaseException) -> str:
    """pydantic-settings could not decode a variable (a list that is not JSON, say)."""
    from workers.settings import Settings

    match = _SETTINGS_FIELD.search(str(exc))
    if match is None:
        return f"invalid configuration: {first_line(str(exc))}"
    name = match.group("field")
    variable = f"SEGSYNC_{name.upper()}"
    where = " (in .env)" if match.group("source").startswith("DotEnv") else ""
    field = Settings.model_fields.get(name)
    if field is not None and isinstance(field.default, list | dict):
        import json

        return (
            f"{variable}{where}: not JSON; write it as JSON, e.g. "
            f"{variable}='{json.dumps(field.default)}'"
        )
    return f"{variable}{where}: cannot read the value"


def database_error(exc: BaseException, settings: Any) -> CliError | None:
    """SQLAlchemy failures: a URL it cannot use (2) or a server it cannot reach (1)."""
    if isinstance(exc, OSError) and exc.filename is not None:
        return _sqlite_folder_error(exc, settings)
    if "sqlalchemy" not in sys.modules:
        return None
    from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

    if isinstance(exc, ArgumentError | NoSuchModuleError):
        return fail(f"{DATABASE_VARIABLE}: {first_line(str(exc))}", EXIT_USAGE)
    if not isinstance(exc, DBAPIError):
        return None
    reason = first_line(str(exc.orig)) if exc.orig is not None else first_line(str(exc))
    where = f"{DATABASE_VARIABLE}={_masked(settings)}" if settings is not None else ""
    if "unable to open database file" in reason:
        return fail(
            f"state store: cannot open the SQLite file ({where}): its folder is missing or "
            "not writable",
            EXIT_USAGE,
        )
    return fail(f"state store unreachable ({where}): {reason}", EXIT_FAILURE)


def _sqlite_folder_error(exc: OSError, settings: Any) -> CliError | None:
    """The SQLite file's folder could not be created (a file in the way, no permission)."""
    from pathlib import Path

    url = str(getattr(settings, "database_url", ""))
    if not url.startswith("sqlite:///"):
        return None
    database = Path(url.removeprefix("sqlite:///")).absolute()
    failed = Path(str(exc.filename)).absolute()
    if failed not in database.parents:
        return None
    return fail(
        f"state store: cannot create the folder {failed} for the SQLite file "
        f"({DATABASE_VARIABLE}={_masked(settings)}): {exc.strerror}",
        EXIT_USAGE,
    )


def redis_error(exc: BaseException, settings: Any) -> CliError | None:
    """The broker is down or the URL points nowhere: a failure (1) naming the variable."""
    broker = (
        _loaded("kombu.exceptions", "OperationalError"),
        _loaded("redis.exceptions", "ConnectionError"),
    )
    if not isinstance(exc, tuple(cls for cls in broker if cls)):
        return None
    url = getattr(settings, "redis_url", None)
    where = f"{REDIS_VARIABLE}={_mask_url(url)}" if url else REDIS_VARIABLE
    return fail(f"Redis unreachable ({where}): {first_line(str(exc))}", EXIT_FAILURE)


def _masked(settings: Any) -> str:
    return _mask_url(str(getattr(settings, "database_url", "")))


def _mask_url(url: str) -> str:
    """The URL with its password replaced by ***."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unparseable)"
