"""``segsync console``: the admin's web console."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from workers.cli.common import load_settings
from workers.cli.errors import EXIT_USAGE, fail


@click.command("console")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=int, default=8090, show_default=True, help="Port to listen on.")
def console(host: str, port: int) -> None:
    """Serve the web console (segment sizes, runs, records, dead letters, playbook) behind
    the password SEGSYNC_CONSOLE_PASSWORD."""
    import uvicorn

    from workers.console.app import create_console
    from workers.state import StateStore

    settings = load_settings()
    if settings.console_password is None:
        raise fail(
            "SEGSYNC_CONSOLE_PASSWORD is not set: the console shows CRM data and is never "
            "open (at least 12 characters)",
            EXIT_USAGE,
        )
    store = StateStore(settings.database_url)
    store.migrate()
    click.echo(f"segsync console on http://{host}:{port}/ (Ctrl-C stops)")
    uvicorn.run(create_console(settings, store), host=host, port=port, log_level="warning")


@click.command("report")
@click.option("--output", "output_path", required=True, help="The HTML file to write.")
@click.option(
    "--crm",
    type=click.Choice(["hubspot", "salesforce"]),
    default=None,
    help="One CRM (default: every CRM in SEGSYNC_CRMS).",
)
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Only runs from this day on (YYYY-MM-DD, UTC).",
)
def report(output_path: str, crm: str | None, since: datetime | None) -> None:
    """Write the console's charts as one self-contained HTML file (no network needed)."""
    from pathlib import Path

    from workers.console.report import render_report
    from workers.state import StateStore

    settings = load_settings()
    crms = [crm] if crm else list(settings.crms)
    with StateStore(settings.database_url) as store:
        store.migrate()
        html = render_report(store, crms, since.replace(tzinfo=UTC) if since else None)
    try:
        Path(output_path).write_text(html, encoding="utf-8")
    except OSError as exc:
        raise fail(f"{output_path}: cannot write ({exc.strerror})", EXIT_USAGE) from None
    click.echo(f"wrote {output_path} ({len(html.encode()):,} bytes)")
