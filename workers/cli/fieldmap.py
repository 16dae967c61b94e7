"""``segsync fieldmap``: the field map in use, and whether the CRM has what it maps."""

from __future__ import annotations

import json

import click

from workers.cli.common import AS_JSON, CRM, connect, load_settings
from workers.cli.errors import EXIT_USAGE, fail


@click.group("fieldmap")
def fieldmap() -> None:
    """The field map: canonical fields -> the CRM's properties (SEGSYNC_FIELD_MAP)."""


@fieldmap.command("show")
@CRM
@AS_JSON
def fieldmap_show(crm: str, as_json: bool) -> None:
    """Print the effective field map and where it comes from."""
    from workers.fieldmap import load_field_map

    field_map = load_field_map(crm)
    if as_json:
        body = {
            "crm": crm,
            "source": field_map.source,
            "custom": field_map.custom,
            "fields": {t: dict(m) for t, m in field_map.fields.items()},
        }
        click.echo(json.dumps(body, indent=2))
        return
    click.echo(f"{crm} field map: {field_map.source}")
    for object_type, mapping in field_map.fields.items():
        click.echo(f"  {object_type}:")
        width = max((len(name) for name in mapping), default=0)
        for canonical, native in mapping.items():
            click.echo(f"    {canonical:<{width}}  <- {native}")


@fieldmap.command("check")
@CRM
def fieldmap_check(crm: str) -> None:
    """Check that every mapped property exists in the CRM with a readable type."""
    from workers.fieldmap import load_field_map
    from workers.fieldmap_check import problems

    field_map = load_field_map(crm)
    connector = connect(load_settings(), crm)
    found = problems(connector, field_map)
    for problem in found:
        click.echo(problem, err=True)
    if found:
        raise fail(f"{len(found)} field map problem(s) in {field_map.source}", EXIT_USAGE)
    mapped = sum(len(m) for m in field_map.fields.values())
    click.echo(f"{crm} field map OK: {mapped} properties in {field_map.source}")
