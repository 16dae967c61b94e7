"""``segsync activate``: the CRM lists or campaigns that hold each segment, shown and applied."""

from __future__ import annotations

import json
from typing import Any

import click

from workers.cli.common import AS_JSON, CRM, connect, load_settings
from workers.cli.errors import EXIT_USAGE, fail


@click.command("activate")
@CRM
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")
@click.option("--prune", is_flag=True, help="Delete the lists of segments the playbook dropped.")
@click.option("--playbook", "playbook_spec", help="Playbook name or file (default: settings).")
@AS_JSON
def activate(
    crm: str, dry_run: bool, prune: bool, playbook_spec: str | None, as_json: bool
) -> None:
    """One HubSpot active list, or one Salesforce campaign, per segment of each model the
    playbook marks with `activate:`; HubSpot keeps the lists' members itself."""
    from workers.activation.plan import ActivationError
    from workers.activation.run import activate as run_activation
    from workers.activation.run import marked
    from workers.state import StateStore
    from workers.sync.plan import load_playbook

    settings = load_settings()
    book = load_playbook(playbook_spec or settings.playbook)
    if not marked(book):
        raise fail(
            f"playbook {book.name} marks no model for activation: add `activate: [lists]` "
            "(HubSpot) or `activate: [campaigns]` (Salesforce) to a model",
            EXIT_USAGE,
        )
    connector = connect(settings, crm)
    with StateStore(settings.database_url) as store:
        store.migrate()
        try:
            report = run_activation(
                connector,
                store,
                book,
                dry_run=dry_run,
                prune=prune,
                status=settings.salesforce_campaign_member_status,
            )
        except ActivationError as exc:
            raise fail(f"{crm} activation stopped: {exc}") from None
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(describe(report))


def describe(report: dict[str, Any]) -> str:
    """The report for people: one line per change, then the counts."""
    verb = "would" if report["dry_run"] else "did"
    lines = []
    for step in report["steps"]:
        if step["action"] == "keep":
            continue
        remote = step.get("list_id") or step.get("campaign_id")
        where = f" ({report['kind'][:-1]} {remote})" if remote else ""
        detail = f": {step['detail']}" if step.get("detail") else ""
        lines.append(f"  {step['action']:<7} {step['name']}{where}{detail}")
    counts = ", ".join(f"{n} {a}" for a, n in report["counts"].items() if n)
    head = f"{report['crm']} {report['kind']}: {counts or 'nothing to do'}"
    if "members_added" in report:
        lines.append(
            f"  members: {report['members_added']} added, {report['members_removed']} removed"
        )
        lines += [f"  refused: {line}" for line in report["rejected"]]
    tail = f"{report['writes']} write(s) {verb} go out, {report['api_calls']} API call(s)"
    return "\n".join([head, *lines, tail])
