"""The CLI's text for people: the demo's story, sync summaries and the run history.

Everything here reads the JSON-ready dicts the commands also print with ``--json``, so
the text and the machine output cannot disagree. Counts agree with their nouns
(``1 record``, ``2 records``), an empty segment reads ``(none)``, every segment of a
model is listed, and each term is explained where it first appears.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Mapping
from typing import Any

EMPTY = "(none)"  # a segment or field with no value: the CRM field stays empty
WIDTH = 100
CRM_NAMES = {"hubspot": "HubSpot", "salesforce": "Salesforce"}
LAG_SETTINGS = {
    "hubspot": "SEGSYNC_HUBSPOT_SEARCH_LAG_SECONDS",
    "salesforce": "SEGSYNC_SALESFORCE_LAG_SECONDS",
}


def plural(count: int, noun: str, many: str | None = None) -> str:
    """``1 record``, ``2 records``, ``3 companies`` (thousands separated)."""
    return f"{count:,} {noun if count == 1 else many or _plural(noun)}"


def plural_of(noun: str) -> str:
    """``contacts`` for ``contact``, ``companies`` for ``company``."""
    return _plural(noun)


def _plural(noun: str) -> str:
    if noun.endswith("y") and noun[-2:-1] not in ("a", "e", "i", "o", "u"):
        return noun[:-1] + "ies"
    if noun.endswith(("s", "x", "ch", "sh")):
        return noun + "es"
    return noun + "s"


def per_type(counts: Mapping[str, int]) -> str:
    """``2,000 contacts, 1 company, 0 deals``."""
    return ", ".join(plural(int(n), t) for t, n in counts.items())


def segment_name(value: Any) -> str:
    """A segment value as the playbook names it; no value reads ``(none)``, never ``None``."""
    return EMPTY if value is None or value == "" else str(value)


def crm_name(crm: str) -> str:
    """``HubSpot`` for ``hubspot``."""
    return CRM_NAMES.get(crm, crm)


def prose(text: str, indent: int = 2, width: int = WIDTH) -> list[str]:
    """A sentence of a summary, wrapped at ``width`` with its continuation indented."""
    return textwrap.wrap(
        text,
        width,
        initial_indent=" " * indent,
        subsequent_indent=" " * (indent + 4),
        break_long_words=False,
        break_on_hyphens=False,
    )


def wrap(
    prefix: str, items: Iterable[str], sep: str = ", ", indent: int = 6, width: int = WIDTH
) -> list[str]:
    """``prefix`` then the items, wrapped between items (never inside one)."""
    items = list(items)
    lines = [prefix.rstrip()]
    for i, item in enumerate(items):
        cell = item + (sep.rstrip() if i < len(items) - 1 else "")
        if len(lines[-1]) + 1 + len(cell) > width and lines[-1].strip() != prefix.strip():
            lines.append(" " * indent + cell)
        else:
            lines[-1] += " " + cell
    return lines


def separator(names: Iterable[str]) -> str:
    """``, `` between items, ``; `` when a name holds a comma (descriptive cluster names)."""
    return "; " if any("," in name for name in names) else ", "


def segment_lines(prefix: str, rows: Iterable[Mapping[str, Any]], indent: int = 6) -> list[str]:
    """``prefix`` and ``name count`` for every segment of a model, largest first as given."""
    rows = list(rows)
    names = [segment_name(r["segment"]) for r in rows]
    cells = [f"{name} {r['count']:,}" for name, r in zip(names, rows, strict=True)]
    return wrap(prefix, cells, separator(names), indent)


def move_lines(prefix: str, moves: Mapping[str, int], indent: int = 6) -> list[str]:
    """``prefix`` and ``old -> new (count)`` for every move, most records first."""
    ordered = sorted(moves.items(), key=lambda kv: (-kv[1], kv[0]))
    cells = [f"{move} ({n:,})" for move, n in ordered]
    return wrap(prefix, cells, separator(moves), indent)


def _legend(term: str, text: str, width: int = WIDTH) -> list[str]:
    """One explained term, wrapped under its explanation."""
    words = text.split()
    head = f"  {term:<11}"
    lines = [head]
    for word in words:
        if len(lines[-1]) + len(word) + 1 > width and lines[-1].strip() != term:
            lines.append(" " * len(head) + word)
        else:
            lines[-1] += ("" if lines[-1].endswith(" ") else " ") + word
    return lines


# --------------------------------------------------------------------------- demo


def format_demo(result: dict[str, Any], seed: int, mode: str) -> str:
    """The demo's story: what was pulled, the segments, what each sync read and wrote."""
    created = result["schema_changes"]
    lines = [
        f"sandbox CRM at {result['sandbox_url']} (seed {seed}, {mode}), "
        f"playbook {result['playbook']}, state {result['database']}",
        f"schema apply: {plural(created, 'property or group', 'properties and groups')} created",
        f"{'object type':<12} {'seeded':>8} {'pulled':>8}",
    ]
    for object_type, row in result["objects"].items():
        lines.append(f"{object_type:<12} {row['seeded']:>8} {row['pulled']:>8}")
    empty = any(
        r["segment"] in (None, "")
        for models in result["segments"].values()
        for rows in models.values()
        for r in rows
    )
    note = f"; {EMPTY}: no value, the field is left empty" if empty else ""
    lines.append(f"segments after the full sync (records in each{note}):")
    for label, models in result["segments"].items():
        for model, rows in models.items():
            lines += segment_lines(f"  {label}/{model}:", rows)
    lines += [
        f"{'':<30}{' records ':-^46}  {' fields ':-^18}",
        f"{'sync':<30}{'changed':>8}{'own writes':>11}{'read':>8}{'compared':>10}{'written':>9}"
        f"  {'written':>8}{'unchanged':>10}{'API calls':>11}",
    ]
    names = {
        "full": "full sync",
        "incremental": f"incremental after {plural(result['mutated'], 'change')}",
        "again": "incremental again",
    }
    for key, run in result["runs"].items():
        changed, own = "-", "-"
        if run.get("changed") is not None:
            echoes = run.get("changed_by_segsync") or 0
            changed, own = f"{run['changed'] - echoes:,}", f"{echoes:,}"
        lines.append(
            f"{names[key]:<30}{changed:>8}{own:>11}{run['pulled']:>8,}{run['compared']:>10,}"
            f"{run['records_written']:>9,}  {run['fields_written']:>8,}"
            f"{run['fields_unchanged']:>10,}{run['api_calls']:>11,}"
        )
    lines += _legend(
        "changed",
        "records changed in the CRM since the previous sync by people or other tools "
        "(- on a full sync, which reads everything)",
    )
    lines += _legend(
        "own writes",
        "records the CRM lists as changed whose change touched nothing segsync reads "
        "(mostly segsync's own writes): read into the mirror, not re-segmented",
    )
    lines += _legend(
        "read",
        "records pulled: an incremental sync reads only what changed; the mirror holds the rest",
    )
    lines += _legend(
        "compared",
        "records whose segments were compared with what segsync last wrote: on an "
        "incremental sync, the changed ones and the records they roll up into",
    )
    lines += _legend(
        "written",
        "records and fields sent to the CRM; unchanged: fields already holding the "
        "computed value, so not sent",
    )
    lines += _legend("API calls", "requests made to the CRM")
    moves = result["runs"]["incremental"]["transitions"]
    if moves:
        lines.append("what the changes moved (records):")
        for model, counts in moves.items():
            lines += move_lines(f"  {model}:", counts)
    lines.append(f"time: {result['seconds']:.1f} s")
    return "\n".join(lines)


# --------------------------------------------------------------------------- syncs


def brief(counts: dict[str, Any]) -> str:
    """One line for a sync the workers ran (``counts`` as recorded with the run)."""
    parts = _run_parts(counts)
    tasks = counts.get("write_tasks")
    if tasks is not None:
        parts = [
            f"{p} in {plural(int(tasks), 'write task')}" if p.endswith(" written") else p
            for p in parts
        ]
    seconds = counts.get("seconds")
    tail = f", {float(seconds):.1f} s" if seconds is not None else ""
    return f"run #{counts['run_id']} {counts.get('mode', 'sync')}: " + ", ".join(parts) + tail


def format_report(report: dict[str, Any]) -> str:
    """The human summary of a sync (dry runs list transitions and a sample)."""
    crm = crm_name(report["crm"])
    lines = [
        f"{report['crm']} {report['mode']} sync{' (dry run)' if report['dry_run'] else ''}: "
        f"{report['seconds']:.1f} s, {plural(report['api_calls'], f'{crm} API call')}",
    ]
    changed = report.get("records_changed")
    if changed is not None:
        if not any(changed.values()):
            lines += prose(f"changed in {crm} since the last sync: none, so nothing was read")
            lag = report.get("change_lag_seconds")
            if lag:
                setting = LAG_SETTINGS.get(report["crm"], "the lag setting")
                lines += prose(
                    f"{crm} lists changes up to {lag:g} s late: changes younger than that "
                    f"are read by the next sync ({setting})"
                )
            return "\n".join(lines)
        echoes = report.get("records_changed_by_segsync") or {}
        others = {t: n - echoes.get(t, 0) for t, n in changed.items()}
        line = f"changed in {crm} since the last sync: {per_type(others)}"
        own = sum(echoes.values())
        if own:
            line += (
                f"; and {plural(own, 'record')} whose change touched nothing segsync reads "
                "(mostly segsync's own writes)"
            )
        lines += prose(line)
        why = "only what changed; the mirror holds the rest"
    elif report["mode"] == "mirror":
        why = "nothing: the whole mirror was re-segmented with fresh population statistics"
    else:
        why = "a full sync reads and compares every record"
    lines += prose(f"read: {per_type(report['records_pulled'])}: {why}")
    compared = report.get("records_compared") or {}
    if compared and changed is not None:
        lines += prose(
            f"compared with what segsync last wrote: {per_type(compared)} "
            "(the changed records and those they roll up into)"
        )
    unchanged = plural(report["fields_unchanged"], "field value")
    if report["dry_run"]:
        lines += prose(
            f"would write: {plural(report['records_to_write'], 'record')} (dry run: "
            f"nothing written); {unchanged} already up to date"
        )
    else:
        rejected = report["rejected"]
        dead = report["dead_lettered"]
        rejects = f"{rejected:,} rejected"
        if rejected or dead:
            rejects += f" ({dead:,} dead-lettered: see `segsync deadletter list`)"
        lines += prose(
            f"written: {plural(report['records_written'], 'record')} / "
            f"{plural(report['fields_written'], 'field')}, {rejects}; "
            f"{unchanged} already up to date, not sent"
        )
    if report["lifecycle_backward_skipped"]:
        lines += prose(
            "lifecycle stages not moved backward (the model is forward-only): "
            f"{plural(report['lifecycle_backward_skipped'], 'record')}"
        )
    if report["fields_changed"]:
        verb = "changing" if report["dry_run"] else "written"
        lines.append(f"  fields {verb} (records):")
        lines += [f"    {f:<32} {n:>8,}" for f, n in report["fields_changed"].items()]
    if report["transitions"]:
        lines.append("  segment moves (records):")
        for name, moves in report["transitions"].items():
            lines += move_lines(f"    {name}:", moves, indent=8)
    if report["sample"]:
        lines.append("  sample:")
        for item in report["sample"]:
            lines.append(f"    {item['object_type']} {item['record_id']}")
            for f, change in item["changes"].items():
                lines.append(f"      {f}: {change['old'] or EMPTY} -> {change['new'] or EMPTY}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- run history


def format_run(
    run_id: int,
    crm: str,
    kind: str,
    status: str,
    started: str,
    seconds: float | None,
    counts: Mapping[str, Any],
    error: str | None,
) -> str:
    """One line of ``segsync runs``: when, how long, and what the run read and wrote."""
    head = f"#{run_id} {crm} {kind} {status} {started}"
    if seconds is not None:
        head += f" ({seconds:.1f} s)"
    if kind.startswith("pull-"):
        parts = [f"read {per_type(counts)}"] if counts else []
    else:
        parts = _run_parts(counts)
    text = head + (": " + ", ".join(parts) if parts else "")
    return text + (f"; error: {error}" if error else "")


def _run_parts(counts: Mapping[str, Any]) -> list[str]:
    """What a sync run read and wrote, from its recorded counts.

    Runs recorded in-process and by the workers name their counts differently (``written``
    and ``records_written``), and older runs lack the newer counts.
    """

    def total(*keys: str) -> int | None:
        for key in keys:
            value = counts.get(key)
            if isinstance(value, dict):
                return sum(int(v) for v in value.values())
            if isinstance(value, int | float):
                return int(value)
        return None

    parts: list[str] = []
    changed = total("records_changed", "changed")
    echoes = total("records_changed_by_segsync", "changed_by_segsync") or 0
    pulled = total("records_pulled", "pulled")
    compared = total("records_compared", "compared")
    written = total("records_written", "written")
    fields = total("fields_written")
    if changed is not None:
        own = f" (+{echoes:,} by segsync's own writes)" if echoes else ""
        parts.append(f"{plural(changed - echoes, 'record')} changed{own}")
    if pulled is not None:
        read = f"{pulled:,}" if changed is not None else plural(pulled, "record")
        parts.append(f"{read} read")
    if compared is not None and changed:
        parts.append(f"{compared:,} compared")
    if written is not None:
        cell = f"{plural(written, 'record')}"
        if fields is not None:
            cell += f" / {plural(fields, 'field')}"
        parts.append(cell + " written")
    rejected = total("rejected")
    if rejected is not None:
        parts.append(f"{rejected:,} rejected")
    calls = total("api_calls")
    if calls is not None:
        parts.append(plural(calls, "API call"))
    return parts


def format_run_whole(run: Mapping[str, Any]) -> str:
    """``segsync runs show``: one run's status, error, counts, and per model its segment
    sizes with the moves it wrote."""
    counts: Mapping[str, Any] = run["counts"] or {}
    lines = [f"run #{run['id']}: {crm_name(run['crm'])} {run['kind']}, {run['status']}"]
    took = "" if run["seconds"] is None else f", took {run['seconds']:,.1f} s"
    lines.append(f"  started {run['started_at']}{took}")
    if run["error"]:
        lines.append(f"  error: {run['error']}")
    parts = [f"read {per_type(counts)}"] if run["kind"].startswith("pull-") else _run_parts(counts)
    if parts:
        lines.append("  " + ", ".join(parts))
    sizes: Mapping[str, Any] = counts.get("segment_sizes") or {}
    moves: Mapping[str, Any] = counts.get("segment_moves") or {}
    if not sizes and not moves:
        lines.append("  no segments recorded (a failed run, or one that moved nothing)")
        return "\n".join(lines)
    if sizes:
        lines.append("  segments (records in each) and the moves the run wrote:")
    else:
        lines.append(
            "  the moves the run wrote (segment sizes are counted by full and nightly runs):"
        )
    for object_type in dict.fromkeys([*sizes, *moves]):
        models = {**dict.fromkeys(moves.get(object_type, {})), **sizes.get(object_type, {})}
        for model in models:
            lines.append(f"    {_plural(object_type)} · {model}")
            held = sizes.get(object_type, {}).get(model) or {}
            for segment, n in sorted(held.items(), key=lambda kv: (-kv[1], kv[0])):
                lines.append(f"      {segment:<40}{n:>12,}")
            moved = moves.get(object_type, {}).get(model) or {}
            lines += move_lines("      moved:", moved, indent=8) if moved else []
    return "\n".join(lines)
