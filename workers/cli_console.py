"""``segsync console``: the admin's web console."""

from __future__ import annotations

import click

from workers.cli_common import load_settings
from workers.cli_errors import EXIT_USAGE, fail


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
