"""The ``segsync`` command line."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import click

from workers.cli.common import CRM, listen, load_settings
from workers.cli.errors import EXIT_USAGE, VERBOSE_KEY, SegsyncGroup

log = logging.getLogger("segsync")
F = TypeVar("F", bound=Callable[..., Any])


@click.group(cls=SegsyncGroup)
@click.version_option(package_name="segsync", prog_name="segsync", message="%(prog)s %(version)s")
@click.option(
    "-v",
    "--verbose",
    count=True,
    help="More log output (-vv for debug); with an error, also its traceback for bug reports.",
)
@click.pass_context
def main(ctx: click.Context, verbose: int) -> None:
    """segsync: segmentation sync for HubSpot and Salesforce.

    Exit codes: 0 success; 1 failure (CRM, state store or Redis unreachable, a bug);
    2 usage or configuration error (flags, settings, credentials, playbook, input files);
    3 completed, but the CRM rejected some rows (see `segsync deadletter list`).
    """
    ctx.meta[VERBOSE_KEY] = verbose
    from pydantic import ValidationError

    from workers.ops.logs import configure

    level = logging.WARNING - 10 * min(verbose, 2)
    try:
        configure(level)
    except ValidationError:
        raise click.UsageError("SEGSYNC_LOG_FORMAT must be text or json") from None


@main.command()
@CRM
def check(crm: str) -> None:
    """Validate the configuration and make one cheap authenticated call.

    Every finding is one line; the exit code is the worst finding's: 2 when settings,
    credentials or fields need fixing, 1 when the CRM or the state store failed.
    """
    from workers.cli.checks import CHECKS
    from workers.cli.errors import EXIT_FAILURE, describe
    from workers.state import StateStore

    settings = load_settings()
    codes = []
    try:
        with StateStore(settings.database_url) as store:
            store.migrate()
            click.echo(f"state store: OK ({store!r})")
    except Exception as exc:
        error = describe(exc, settings)
        codes.append(error.exit_code)
        click.echo(f"state store: FAILED: {error.message}", err=True)
    for finding in CHECKS[crm](settings):
        click.echo(finding.line, err=not finding.ok)
        if not finding.ok:
            codes.append(finding.exit_code or EXIT_FAILURE)
    if codes:
        # Configuration first: an unreachable CRM is often a wrong URL in the settings.
        sys.exit(EXIT_USAGE if EXIT_USAGE in codes else EXIT_FAILURE)


@main.command()
def migrate() -> None:
    """Bring the state store's schema to this version (every command also does so first;
    deployments run this once before starting workers)."""
    from workers.state import StateStore

    settings = load_settings()
    with StateStore(settings.database_url) as store:
        before = store.current_revision()
        store.migrate()
        after = store.current_revision()
    click.echo(f"state store at revision {after}" + ("" if before == after else f" (was {before})"))


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option(
    "--check",
    "parts",
    multiple=True,
    type=click.Choice(["store", "workers", "beat", "inbox", "runs"]),
    help="Only these parts (repeatable): a container's healthcheck asks about its own.",
)
def health(as_json: bool, parts: tuple[str, ...]) -> None:
    """Whether the deployment is doing its job: state store, workers, beat, inbox lag,
    last run per CRM. Exit 1 when any check fails (for healthchecks and cron)."""
    from workers.ops.health import as_json as health_json
    from workers.ops.health import health as checks_of

    checks = checks_of(load_settings())
    if parts:  # the store's check stays: without it the others say nothing
        checks = [c for c in checks if c.part in parts or c.part == "store"]
    if as_json:
        click.echo(json.dumps(health_json(checks), indent=2))
    else:
        for check in checks:
            click.echo(f"{'OK  ' if check.ok else 'FAIL'} {check.name}: {check.detail}")
    if not all(check.ok for check in checks):
        sys.exit(1)


def _seed_options(command: F) -> F:
    """The sandbox's seeding options, shared by ``sandbox serve`` and ``demo``."""
    options = (
        click.option(
            "--seed", type=int, default=42, show_default=True, help="Seed: same seed, same data."
        ),
        click.option(
            "--contacts", type=int, default=2000, show_default=True, help="Contacts to seed."
        ),
        click.option(
            "--companies", type=int, default=300, show_default=True, help="Companies to seed."
        ),
        click.option(
            "--deals",
            type=int,
            default=800,
            show_default=True,
            help="Deals to seed (in b2c mode: orders, as deals linked to contacts).",
        ),
        click.option(
            "--mode",
            type=click.Choice(["b2b", "b2c"]),
            default="b2b",
            show_default=True,
            help="b2b: people at companies buying through deals; b2c: consumers and orders.",
        ),
    )
    for option in reversed(options):
        command = option(command)
    return command


@main.group()
def sandbox() -> None:
    """The local sandbox CRM (HubSpot or Salesforce dialect)."""


@sandbox.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", type=int, default=8765, show_default=True, help="Port to listen on (0: any free)."
)
@click.option(
    "--dialect",
    type=click.Choice(["hubspot", "salesforce"]),
    default="hubspot",
    show_default=True,
    help="Which CRM's API the sandbox speaks.",
)
@_seed_options
@click.option("--rate-limit", type=int, default=100, show_default=True, help="Requests per 10 s.")
@click.option(
    "--search-rate-per-second",
    type=int,
    default=5,
    show_default=True,
    help="HubSpot search requests per second.",
)
@click.option(
    "--daily-limit",
    type=int,
    default=250_000,
    show_default=True,
    help="API calls per day (Salesforce: rolling 24 h).",
)
@click.option(
    "--faults",
    default="0",
    show_default=True,
    help='Share of requests to fault ("0.1"), or "429=0.04,5xx=0.03,drop=0.03,reject=0.01".',
)
@click.option("--token", default="sandbox-token", show_default=True, help="Bearer token accepted.")
@click.option(
    "--webhook-url",
    default=None,
    help="Send every change there (HubSpot webhooks / Salesforce outbound messages).",
)
@click.option(
    "--webhook-secret",
    default="sandbox-app-secret",
    show_default=True,
    help="App secret the HubSpot webhook signatures are made with.",
)
def sandbox_serve(**options: Any) -> None:
    """Serve the sandbox CRM until interrupted."""
    from workers.cli.common import require_sandbox

    require_sandbox()
    from connectors.sandbox import FaultConfig, SandboxConfig, SandboxServer

    try:
        faults = FaultConfig.parse(options.pop("faults"))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--faults") from None
    token = options.pop("token")
    try:
        config = SandboxConfig(faults=faults, tokens=(token,), **options)
    except ValueError as exc:  # e.g. a --webhook-url that is not http(s)
        raise click.UsageError(str(exc)) from None
    if config.port:
        # Before seeding, which takes a while, and before werkzeug, which exits on a port
        # in use with a message of its own.
        listen(config.host, config.port).close()
    server = SandboxServer(config)
    click.echo(
        f"seeding {config.contacts} contacts, {config.companies} companies, {config.deals} deals…"
    )
    server.start()
    click.echo(
        f"sandbox ({config.dialect}) listening on {server.url}; token {token!r}; Ctrl-C stops"
    )
    if config.webhook_url:
        click.echo(f"change events go to {config.webhook_url}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


@main.group()
def playbook() -> None:
    """Playbooks: segments declared in YAML (schema for editors, validation)."""


@playbook.command("schema")
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write the schema to FILE.")
def playbook_schema(output: str | None) -> None:
    """Print the playbook JSON Schema (draft 2020-12) for editors."""
    from pathlib import Path

    from segmentation.playbook import playbook_json_schema

    text = json.dumps(playbook_json_schema(), indent=2) + "\n"
    if output is None:
        click.echo(text, nl=False)
        return
    Path(output).write_text(text, encoding="utf-8")
    click.echo(f"wrote {output}", err=True)


@playbook.command("check")
@click.argument("playbook_spec", metavar="PLAYBOOK")
@click.option(
    "--crm",
    type=click.Choice(["hubspot", "salesforce"]),
    help="Check against this CRM's field map only (default: HubSpot's and Salesforce's).",
)
@click.option(
    "--field-map",
    "field_map",
    type=click.Path(dir_okay=False),
    help="A field map file (canonical name -> CRM property, per object type) to check "
    "against instead of the CRM's default; needs --crm.",
)
def playbook_check(playbook_spec: str, crm: str | None, field_map: str | None) -> None:
    """Validate PLAYBOOK (a file, or a shipped one: b2b_saas, b2c_retail) as a run would.

    Field names are checked against what a run has (the canonical fields, the CRM's
    field map, what enrichment and the models derive, the playbook's own 'fields'),
    with "did you mean"; then literals against the fields' types, segment values as CRM
    options, and the CRM field names 'schema apply' would create. Every problem is
    printed as FILE:LINE:COL: message; exit 2 if there is any.
    """
    from pathlib import Path

    from segmentation.playbook import PlaybookError
    from workers.playbook_check import CRMS, FieldMapError, check_playbook

    if field_map is not None and crm is None:
        raise click.UsageError("--field-map needs --crm: a field map belongs to one CRM")
    crms = tuple(c for c in CRMS if crm in (None, c))
    try:
        checked = check_playbook(
            playbook_spec, crms, field_map=Path(field_map) if field_map else None
        )
    except PlaybookError as exc:
        for issue in exc.errors:
            click.echo(str(issue), err=True)
        count = len(exc.errors)
        click.echo(f"{count} problem{'s' if count != 1 else ''} in {exc.path}", err=True)
        sys.exit(2)
    except FieldMapError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    models = len(checked.playbook.models)
    rules = sum(len(model.rules) for model in checked.playbook.models.values())
    against = " and ".join(checked.crms)
    click.echo(
        f"{checked.source}: OK ({models} model{'s' if models != 1 else ''}, "
        f"{rules} rule{'s' if rules != 1 else ''}; checked against the {against} field "
        f"map{'s' if len(checked.crms) != 1 else ''})"
    )


@main.command()
@_seed_options
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary.")
def demo(seed: int, contacts: int, companies: int, deals: int, mode: str, as_json: bool) -> None:
    """The whole flow on the embedded default: sandbox CRM, SQLite state, in-process."""
    from workers.cli.common import require_sandbox
    from workers.cli.text import format_demo

    require_sandbox()
    from workers.cli.demo import run_demo

    settings = load_settings()
    result = run_demo(
        settings,
        seed=seed,
        contacts=contacts,
        companies=companies,
        deals=deals,
        mode="b2c" if mode == "b2c" else "b2b",
    )
    if as_json:
        click.echo(json.dumps(result, indent=2, sort_keys=True, default=str))
        return
    click.echo(format_demo(result, seed, mode))
    if not result["complete"]:
        raise click.ClickException("some seeded records were not pulled")


@main.command("segment")
@click.option("--input", "input_path", required=True, help="Contacts file (.csv or .parquet).")
@click.option("--output", "output_path", required=True, help="Where to write (.csv or .parquet).")
@click.option("--companies", "companies_path", help="Companies file (contacts carry company_id).")
@click.option("--deals", "deals_path", help="Deals file (company_id, optionally contact_id).")
@click.option("--orders", "orders_path", help="Orders file (contact_id, order_date, amount).")
@click.option(
    "--playbook",
    default="b2b_saas",
    show_default=True,
    help="Playbook file, or a shipped one: b2b_saas, b2c_retail.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary.")
@click.option(
    "--profile",
    "profile_path",
    help="Also write each model's segment profiles and validation as JSON to this file.",
)
@click.option(
    "--now",
    type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S%z"]),
    help="Evaluate relative dates as of this time (default: now, UTC).",
)
def segment_command(
    input_path: str,
    output_path: str,
    companies_path: str | None,
    deals_path: str | None,
    orders_path: str | None,
    playbook: str,
    as_json: bool,
    profile_path: str | None,
    now: datetime | None,
) -> None:
    """Segment CSV/Parquet exports offline: every input column plus enrichment and segments.

    Values that cannot be read (a date that is not one, a number with junk) are reported
    with their file and row and do not stop the run; a playbook with errors stops it before
    anything is written (exit 2).
    """
    from workers.offline import format_report, run_offline

    # Playbook and input errors become one line each and exit 2 (workers.cli.errors).
    report = run_offline(
        input_path,
        output_path,
        companies_path=companies_path,
        deals_path=deals_path,
        orders_path=orders_path,
        playbook=playbook,
        now=now,
        profile_path=profile_path,
    )
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2, default=str))
        return
    for bad in report.bad_values[:20]:
        click.echo(f"bad value: {bad}", err=True)
    if report.bad_value_count > 20:
        click.echo(f"... and {report.bad_value_count - 20} more bad values", err=True)
    click.echo(format_report(report))


def _register() -> None:
    from workers.cli.activate import activate
    from workers.cli.console import console, report
    from workers.cli.fieldmap import fieldmap
    from workers.cli.runs import runs
    from workers.cli.sync import COMMANDS

    for command in (*COMMANDS, runs, fieldmap, console, report, activate):
        main.add_command(command)


_register()

if __name__ == "__main__":
    main()
