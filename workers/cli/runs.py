"""``segsync runs``: the run history, as lines or JSON, and one run whole."""

from __future__ import annotations

import json
from typing import Any

import click

from workers.cli.common import load_settings
from workers.state import Run, StateStore

CRM_FILTER = click.option(
    "--crm",
    type=click.Choice(["hubspot", "salesforce"]),
    default=None,
    help="Only this CRM's runs (default: every CRM's).",
)
AS_JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def run_json(run: Run) -> dict[str, Any]:
    """One run as plain JSON types."""
    duration = run.duration
    return {
        "id": run.id,
        "crm": run.crm,
        "kind": run.kind,
        "status": str(run.status),
        "started_at": run.started_at.isoformat(),
        "finished_at": None if run.finished_at is None else run.finished_at.isoformat(),
        "seconds": None if duration is None else round(duration.total_seconds(), 3),
        "error": run.error,
        "counts": run.counts,
        "owner": run.owner,
    }


def _opened() -> StateStore:
    from workers.sync.runs import reap_dead_runs

    settings = load_settings()
    store = StateStore(settings.database_url)
    store.migrate()
    # A run whose process died says "running" until someone looks: this is a look.
    reap_dead_runs(store, settings.run_stale_seconds)
    return store


@click.group(invoke_without_command=True)
@CRM_FILTER
@click.option("--limit", type=int, default=20, show_default=True, help="How many runs to list.")
@AS_JSON
@click.pass_context
def runs(ctx: click.Context, crm: str | None, limit: int, as_json: bool) -> None:
    """Recent runs from the state store, newest first (`runs show RUN_ID`: one in full)."""
    from workers.cli.text import format_run

    if ctx.invoked_subcommand is not None:
        return
    if limit < 1:
        raise click.BadParameter("must be at least 1", param_hint="--limit")
    with _opened() as store:
        listed = store.list_runs(limit=limit, crm=crm)
    if as_json:
        click.echo(json.dumps([run_json(r) for r in listed], indent=2))
        return
    for run in listed:
        duration = run.duration
        line = format_run(
            run.id,
            run.crm,
            run.kind,
            str(run.status),
            f"{run.started_at:%Y-%m-%d %H:%M:%S}",
            None if duration is None else duration.total_seconds(),
            run.counts,
            run.error,
        )
        click.echo(line)


@runs.command("show")
@click.argument("run_id", type=int)
@AS_JSON
def show(run_id: int, as_json: bool) -> None:
    """RUN_ID (from `segsync runs`) whole: status, error, counts, and per model the
    segment sizes and the moves the run wrote."""
    from workers.cli.text import format_run_whole

    with _opened() as store:
        run = store.get_run(run_id)
    if run is None:
        raise click.ClickException(f"no run #{run_id} in the state store (see `segsync runs`)")
    if as_json:
        click.echo(json.dumps(run_json(run), indent=2))
        return
    click.echo(format_run_whole(run_json(run)))
