"""What every CLI command shares: settings loading and the common options."""

from __future__ import annotations

import click
from pydantic import ValidationError

from workers.settings import Settings

CRM = click.option(
    "--crm", type=click.Choice(["hubspot", "salesforce"]), default="hubspot", show_default=True
)
AS_JSON = click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary.")


def load_settings() -> Settings:
    """Settings from the environment, or a readable list of what is wrong (exit 2)."""
    try:
        return Settings()
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            name = "SEGSYNC_" + "_".join(str(p) for p in error["loc"]).upper()
            lines.append(f"  {name}: {error['msg']}")
        raise click.ClickException("invalid configuration:\n" + "\n".join(lines)) from None
