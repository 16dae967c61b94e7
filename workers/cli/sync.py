"""CLI commands of the sync: sync, schema apply, deadletter list|retry, worker, beat."""

from __future__ import annotations

import json
from typing import Any, cast

import click

from connectors.base import CrmName
from workers.cli.common import AS_JSON, CRM, connect, load_settings
from workers.cli.errors import EXIT_REJECTED, EXIT_USAGE, CliError, fail

LOGLEVEL = click.option(
    "--loglevel",
    default="INFO",
    show_default=True,
    help="Celery's log level: DEBUG, INFO, WARNING, ERROR or CRITICAL.",
)


def _settings() -> Any:
    return load_settings()


def _rejected(crm: str, rejected: int, deferred: int = 0) -> None:
    """Exit 3 when the run completed but the CRM refused some rows, or rows of refused
    batches were left unisolated (deferred) within the call allowance."""
    if rejected or deferred:
        rows = rejected + deferred
        kept = f" ({deferred} deferred: not isolated within the call allowance)" if deferred else ""
        raise fail(
            f"{rows} row{'s' if rows != 1 else ''} rejected by {crm} and dead-lettered{kept}: "
            f"`segsync deadletter list --crm {crm}` shows why",
            EXIT_REJECTED,
        )


@click.command("sync")
@CRM
@click.option("--full", is_flag=True, help="Re-read and re-segment everything (else incremental).")
@click.option(
    "--from-mirror",
    is_flag=True,
    help="Re-segment everything from the mirror, reading nothing from the CRM (nightly).",
)
@click.option("--dry-run", is_flag=True, help="Compute and show what would change; write nothing.")
@click.option("--playbook", "playbook_spec", help="Playbook name or path (default: settings).")
@click.option("--local", is_flag=True, help="Run in this process even when Redis is configured.")
@click.option("--timeout", type=float, default=3600, show_default=True, help="Seconds to wait.")
@AS_JSON
def sync_command(
    crm: str,
    full: bool,
    from_mirror: bool,
    dry_run: bool,
    playbook_spec: str | None,
    local: bool,
    timeout: float,
    as_json: bool,
) -> None:
    """Pull, segment and write back the fields that changed.

    With SEGSYNC_REDIS_URL set, the run goes to the Celery workers and this waits for
    it; without, every step runs in this process. Dry runs always run here.
    """
    from connectors.base import BudgetExhaustedError
    from workers.cli.text import brief, format_report
    from workers.ops.logs import json_logs
    from workers.ops.progress import on_terminal
    from workers.sync.plan import load_playbook
    from workers.sync.runner import run_sync

    settings = _settings()
    if settings.redis_url and not dry_run and not local:
        if playbook_spec:
            raise click.UsageError("--playbook applies to in-process runs; workers use settings")
        counts = _dispatch(settings, crm, full, timeout, from_mirror)
        if json_logs():
            click.echo(json.dumps(counts, default=str))
        else:
            click.echo(json.dumps(counts, indent=2, default=str) if as_json else brief(counts))
        _rejected(crm, int(counts.get("rejected") or 0), int(counts.get("deferred") or 0))
        return
    book = load_playbook(playbook_spec or settings.playbook)
    connector = connect(settings, crm)
    try:
        with on_terminal(not as_json and not json_logs()):
            report = run_sync(
                settings,
                cast(CrmName, crm),
                book,
                full=full,
                dry_run=dry_run,
                connector=connector,
                from_mirror=from_mirror,
            )
    except BudgetExhaustedError as exc:
        raise fail(
            f"{crm} sync stopped: {exc}; what was written is kept, the rest is written "
            "by the next sync once the budget window resets"
        ) from None
    # The profiles, grid and bands are kept with the run (`segsync runs show ID --json`,
    # the console): a full run's summary stays a summary.
    shown = {k: v for k, v in report.as_dict().items() if k != "segment_insights"}
    if json_logs():  # every line of every stream is JSON: the summary is one line
        click.echo(json.dumps(shown, default=str))
    elif as_json:
        click.echo(json.dumps(shown, indent=2, default=str))
    else:
        click.echo(format_report(shown))
    _rejected(crm, report.rejected, report.deferred)


def _dispatch(
    settings: Any, crm: str, full: bool, timeout: float, from_mirror: bool = False
) -> dict[str, Any]:
    """Queue a sync for the workers and wait until its run is recorded as finished."""
    import time

    import redis

    from workers.state import StateStore
    from workers.tasks import sync_task

    # Celery reconnects to a missing broker for 20 s and then reports a RuntimeError;
    # one ping names the URL at once (workers.cli.errors maps the ConnectionError).
    with redis.Redis.from_url(settings.redis_url, socket_connect_timeout=5) as client:
        client.ping()
    started = sync_task.delay(crm, full, from_mirror=from_mirror).get(timeout=timeout)
    if "skipped" in started:
        raise fail(f"{crm} sync not started: {started['skipped']}")
    deadline = time.monotonic() + timeout
    with StateStore(settings.database_url) as store:
        while time.monotonic() < deadline:
            run = store.get_run(int(started["run_id"]))
            if run is not None and run.status != "running":
                if run.status != "succeeded":
                    raise fail(f"run #{run.id} {run.status}: {run.error}")
                return {"run_id": run.id, **run.counts}
            time.sleep(0.5)
    raise fail(f"run #{started['run_id']} still running after {timeout:.0f} s")


@click.group("schema")
def schema() -> None:
    """segsync's fields in the CRM."""


@schema.command("apply")
@CRM
@click.option("--playbook", "playbook_spec", help="Playbook name or path (default: settings).")
def schema_apply(crm: str, playbook_spec: str | None) -> None:
    """Create the fields segsync writes (idempotent; options are only ever added)."""
    from workers.fieldmap import load_field_map
    from workers.ops.logs import json_logs
    from workers.ops.progress import on_terminal
    from workers.sync.crm_schema import apply_schema
    from workers.sync.outputs import written_object_types
    from workers.sync.plan import load_playbook

    settings = _settings()
    book = load_playbook(playbook_spec or settings.playbook)
    connector = connect(settings, crm)
    types = written_object_types(load_field_map(crm).object_types())
    with on_terminal(not json_logs()):
        changes = apply_schema(connector, book, types)
    done = [c for c in changes if c.action != "unchanged"]
    for c in done:
        click.echo(f"{c.object_type} {c.name}: {c.action}{' ' + c.detail if c.detail else ''}")
    click.echo(f"{len(done)} changes, {len(changes) - len(done)} fields already in place")


@click.group("deadletter")
def deadletter() -> None:
    """Writes the CRM rejected: list them, replay them."""


@deadletter.command("list")
@CRM
@click.option("--all", "include_resolved", is_flag=True, help="Include resolved letters.")
@AS_JSON
def deadletter_list(crm: str, include_resolved: bool, as_json: bool) -> None:
    """Open dead letters with the CRM's reason."""
    from workers.state import StateStore

    settings = _settings()
    with StateStore(settings.database_url) as store:
        store.migrate()
        letters = store.list_dead_letters(crm, include_resolved)
    if as_json:
        rows = [
            {
                "id": d.id,
                "object_type": d.object_type,
                "record_id": d.record_id,
                "fields": d.fields,
                "reason": d.reason,
                "code": d.code,
                "attempts": d.attempts,
                "resolved": d.resolved,
            }
            for d in letters
        ]
        click.echo(json.dumps(rows, indent=2))
        return
    for d in letters:
        click.echo(
            f"#{d.id} {d.object_type} {d.record_id} [{d.code or '-'}] x{d.attempts}: {d.reason}"
        )
    click.echo(f"{len(letters)} dead letters")


@deadletter.command("retry")
@CRM
@click.option(
    "--force",
    is_flag=True,
    help="Send permanent rejections again even if the record and playbook are unchanged.",
)
@AS_JSON
def deadletter_retry(crm: str, force: bool, as_json: bool) -> None:
    """Re-plan open dead letters from the records' current data and write the current diff.

    A letter whose values are no longer wanted is closed as superseded, one whose record
    is gone as gone; a permanent rejection waits for its record or the playbook to change.
    """
    from workers.sync.runner import retry_dead_letters

    settings = _settings()
    connector = connect(settings, crm)
    summary = retry_dead_letters(settings, connector, force=force)
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    else:
        click.echo(
            f"retried {summary['retried']}: {summary['landed']} landed, "
            f"{summary['superseded']} superseded, {summary['gone']} gone, "
            f"{summary['skipped_permanent']} permanent and unchanged (not sent), "
            f"{summary['still_failing']} still failing"
        )
    _rejected(crm, summary["still_failing"])


@click.command("worker")
@click.option(
    "--queues",
    default="pull,segment,write,events",
    show_default=True,
    help="Comma-separated queues this worker takes tasks from.",
)
@click.option(
    "--concurrency", type=int, default=1, show_default=True, help="Tasks run at the same time."
)
@click.option(
    "--metrics-port",
    type=int,
    default=None,
    help="Serve Prometheus /metrics on this port, 0 for none [default: SEGSYNC_METRICS_PORT].",
)
@LOGLEVEL
def worker(queues: str, concurrency: int, loglevel: str, metrics_port: int | None) -> None:
    """Start a Celery worker (needs SEGSYNC_REDIS_URL), with /metrics for all its processes."""
    import os
    import socket

    from workers.ops.metrics_setup import prepare_multiprocess

    settings = _settings()
    port = settings.metrics_port if metrics_port is None else metrics_port
    if port:
        # Before anything imports prometheus-client: the pool processes inherit it.
        folder = settings.data_path / "metrics" / f"{socket.gethostname()}-{os.getpid()}"
        prepare_multiprocess(folder)
        from workers.ops.metrics import serve

        serve(settings, settings.metrics_host, port)
    from workers.celery_app import make_app

    app = make_app(settings)
    app.worker_main(
        [
            *_quiet(),
            "worker",
            f"--queues={queues}",
            f"--concurrency={concurrency}",
            f"--loglevel={loglevel}",
        ]
    )


def _quiet() -> list[str]:
    """Celery's banners go to stdout as text: with JSON logs, none."""
    from workers.ops.logs import json_logs

    return ["--quiet"] if json_logs() else []


@click.command("beat")
@LOGLEVEL
def beat(loglevel: str) -> None:
    """Start Celery beat with the schedule from settings (run exactly one)."""
    from workers.celery_app import make_app

    settings = _settings()
    settings.data_path.mkdir(parents=True, exist_ok=True)  # beat's schedule file lives there
    app = make_app(settings)
    app.start([*_quiet(), "beat", f"--loglevel={loglevel}"])


@click.group("webhooks")
def webhooks() -> None:
    """The change-event receiver."""


@webhooks.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", type=int, default=8080, show_default=True, help="Port to listen on (0: any free)."
)
@click.option(
    "--forwarded-allow-ips",
    default=None,
    metavar="ADDRESSES",
    help="Proxies (IPs or CIDRs, comma-separated; * any) whose X-Forwarded-Proto/-Host/-For "
    "are believed [default: SEGSYNC_WEBHOOK_FORWARDED_ALLOW_IPS, else none].",
)
def webhooks_serve(host: str, port: int, forwarded_allow_ips: str | None) -> None:
    """Receive HubSpot webhooks (POST /webhooks/hubspot) and Salesforce outbound messages
    (POST /webhooks/salesforce); health at GET /healthz."""
    from workers.cli.common import listen
    from workers.receiver.addresses import AddressSet
    from workers.receiver.app import create_app
    from workers.receiver.server import fitted_connection_limit, serve

    settings = _settings()
    if forwarded_allow_ips is not None:
        try:
            AddressSet.parse(forwarded_allow_ips)
        except ValueError as exc:
            raise fail(f"--forwarded-allow-ips: {exc}", EXIT_USAGE) from None
        settings = settings.model_copy(update={"webhook_forwarded_allow_ips": forwarded_allow_ips})
    try:
        max_connections = fitted_connection_limit(settings.webhook_max_connections)
    except ValueError as exc:
        raise fail(str(exc), EXIT_USAGE) from None
    app = create_app(settings)
    sock = listen(host, port)
    bound_host, bound_port = sock.getsockname()[:2]
    base = f"http://{bound_host}:{bound_port}"
    click.echo(
        f"webhook receiver listening on {base}: POST {base}/webhooks/hubspot, "
        f"POST {base}/webhooks/salesforce, GET {base}/healthz; Ctrl-C stops"
    )
    serve(
        app,
        sock,
        max_connections=max_connections,
        header_timeout=settings.webhook_header_timeout_seconds,
    )


@click.group("mirror")
def mirror() -> None:
    """The minimised copy of the CRM that runs segment from."""


@mirror.command("status")
@AS_JSON
def mirror_status(as_json: bool) -> None:
    """Records mirrored per CRM and object type, and the bytes they hold."""
    from workers.state import StateStore

    with StateStore(_settings().database_url) as store:
        store.migrate()
        sizes = store.mirror.sizes()
    rows = [
        {"crm": c, "object_type": t, "records": n, "bytes": b, "bytes_per_record": b // max(n, 1)}
        for c, t, n, b in sizes
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("the mirror is empty: the next sync reads the CRM in full")
    for row in rows:
        click.echo(
            f"{row['crm']} {row['object_type']}: {row['records']:,} records, "
            f"{row['bytes']:,} bytes ({row['bytes_per_record']} per record)"
        )


@mirror.command("purge")
@click.option("--crm", type=click.Choice(["hubspot", "salesforce"]), help="Only this CRM.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def mirror_purge(crm: str | None, yes: bool) -> None:
    """Delete the mirrored records; the next sync reads the CRM in full again."""
    from workers.state import StateStore
    from workers.sync.mirror_pull import MIRROR_STATE
    from workers.sync.plan import STATISTICS_STATE

    which = crm or "every CRM"
    try:
        confirmed = yes or click.confirm(f"Delete the mirror of {which}?")
    except click.Abort:  # no terminal to answer: say how to do it unattended
        confirmed = False
    if not confirmed:
        raise click.UsageError("the mirror was kept; pass --yes to purge it without a prompt")
    with StateStore(_settings().database_url) as store:
        store.migrate()
        removed = store.mirror.purge(crm)
        for name in ("hubspot", "salesforce") if crm is None else (crm,):
            # Without its mirror, a CRM's next run must read everything again.
            store.save_model_state(name, MIRROR_STATE, None)
            store.save_model_state(name, STATISTICS_STATE, None)
    click.echo(f"removed {removed:,} mirrored records of {which}; the next sync reads in full")


@click.group("events")
def events() -> None:
    """Change events: inbox status, processing, the fallback poll."""


@events.command("status")
@CRM
@AS_JSON
def events_status(crm: str, as_json: bool) -> None:
    """Inbox depth, lag, in-flight, backing-off and dead events (with reasons), counters."""
    from workers.events.processor import status
    from workers.state import StateStore

    with StateStore(_settings().database_url) as store:
        store.migrate()
        report = status(store, crm)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    lag = "-" if report["lag_seconds"] is None else f"{report['lag_seconds']:.1f} s"
    click.echo(f"{crm}: inbox {report['inbox_depth']} waiting, oldest {lag}")
    if report["paused_until"]:
        click.echo(f"  paused until {report['paused_until']}: {report['pause_reason']}")
    for name, value in report.items():
        if name in ("crm", "inbox_depth", "lag_seconds", "paused_until", "pause_reason"):
            continue
        if name == "dead_reasons":
            for reason, count in value.items():
                click.echo(f"    dead {count:>6}: {reason}")
            continue
        click.echo(f"  {name:<34} {value:>10}")
    if report["dead"]:
        click.echo(f"  `segsync events retry --crm {crm}` puts the dead events back in line")


@events.command("process")
@CRM
@AS_JSON
def events_process(crm: str, as_json: bool) -> None:
    """Drain the due events in this process (what the workers do on each nudge)."""
    from workers.events.inbox import InboxPolicy
    from workers.events.processor import Processor
    from workers.state import StateStore
    from workers.sync.plan import load_playbook

    settings = _settings()
    book = load_playbook(settings.playbook)
    connector = connect(settings, crm)
    with StateStore(settings.database_url) as store:
        store.migrate()
        processor = Processor(
            connector,
            store,
            book,
            batch_size=settings.events_batch_size,
            policy=InboxPolicy.from_settings(settings),
        )
        totals: dict[str, Any] = {
            "rounds": 0,
            "events": 0,
            "failed": 0,
            "records_written": 0,
            "api_calls": 0,
            "paused": None,
        }
        reports = processor.drain()
        if reports is None:
            raise CliError(
                f"another process is processing {crm}'s events now (a worker?); "
                "they are in its hands"
            )
        for report in reports:
            totals["rounds"] += 1
            totals["events"] += report.events
            totals["failed"] += report.failed
            totals["records_written"] += report.records_written
            totals["api_calls"] += report.api_calls
            totals["paused"] = report.paused
    if as_json:
        click.echo(json.dumps(totals))
        return
    click.echo(
        f"{totals['events']} events, {totals['records_written']} records written"
        + (f", {totals['failed']} failed (retried with backoff)" if totals["failed"] else "")
    )
    if totals["paused"]:
        raise fail(f"{crm} event processing is paused: {totals['paused']}")


@events.command("retry")
@click.option(
    "--crm",
    type=click.Choice(["hubspot", "salesforce"]),
    default=None,
    help="Only this CRM's dead events (default: every CRM's).",
)
@AS_JSON
def events_retry(crm: str | None, as_json: bool) -> None:
    """Put dead events (failed for SEGSYNC_EVENTS_DEAD_AFTER_SECONDS) back in line."""
    from workers.events.inbox import Inbox
    from workers.state import StateStore

    with StateStore(_settings().database_url) as store:
        store.migrate()
        revived = Inbox(store).retry_dead(crm)
    if as_json:
        click.echo(json.dumps({"crm": crm, "revived": revived}))
    else:
        click.echo(
            f"{revived} dead event{'s' if revived != 1 else ''} back in line; "
            "the next round (a nudge, the poll, `segsync events process`) takes them"
        )


@events.command("poll")
@CRM
def events_poll(crm: str) -> None:
    """Put changes since the last poll into the inbox (the fallback for missed events)."""
    from workers.events.processor import poll_changes
    from workers.state import StateStore

    settings = _settings()
    connector = connect(settings, crm)
    with StateStore(settings.database_url) as store:
        store.migrate()
        added = poll_changes(connector, store)
    click.echo(f"{added} changes added to the inbox")


COMMANDS = (sync_command, schema, deadletter, worker, beat, webhooks, events, mirror)
