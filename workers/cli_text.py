"""The CLI's text for people: the demo's story and sync summaries."""

from __future__ import annotations

from typing import Any


def format_demo(result: dict[str, Any], seed: int, mode: str) -> str:
    """The demo's story: what was pulled, the segments, what each sync wrote."""
    lines = [
        f"sandbox CRM at {result['sandbox_url']} (seed {seed}, {mode}), "
        f"playbook {result['playbook']}, state {result['database']}",
        f"schema apply: {result['schema_changes']} properties/groups created",
        f"{'object type':<12} {'seeded':>8} {'pulled':>8}",
    ]
    for object_type, row in result["objects"].items():
        lines.append(f"{object_type:<12} {row['seeded']:>8} {row['pulled']:>8}")
    lines.append("segments (full sync):")
    for label, models in result["segments"].items():
        for model, rows in models.items():
            cells = ", ".join(f"{r['segment']} {r['count']}" for r in rows[:8])
            more = f", +{len(rows) - 8} more" if len(rows) > 8 else ""
            lines.append(f"  {label}/{model}: {cells}{more}")
    lines.append(f"{'sync':<34} {'records':>8} {'fields':>8} {'unchanged':>10} {'calls':>6}")
    names = {
        "full": "full sync",
        "incremental": f"incremental after {result['mutated']} changes",
        "again": "incremental again",
    }
    for key, run in result["runs"].items():
        lines.append(
            f"{names[key]:<34} {run['records_written']:>8} {run['fields_written']:>8} "
            f"{run['fields_unchanged']:>10} {run['api_calls']:>6}"
        )
    moves = result["runs"]["incremental"]["transitions"]
    if moves:
        lines.append("what the changes moved:")
        for model, counts in moves.items():
            top = sorted(counts.items(), key=lambda kv: -kv[1])[:4]
            lines.append(f"  {model}: " + "; ".join(f"{m} ({n})" for m, n in top))
    lines.append(f"time: {result['seconds']:.1f} s")
    return "\n".join(lines)


def brief(counts: dict[str, Any]) -> str:
    """One line for a run the workers did."""
    return (
        f"run #{counts['run_id']} {counts.get('mode')}: {counts.get('records_written', 0)} "
        f"records / {counts.get('fields_written', 0)} fields written in "
        f"{counts.get('write_tasks', 0)} write tasks, rejected {counts.get('rejected', 0)}, "
        f"{counts.get('seconds', 0)} s"
    )


def format_report(report: dict[str, Any]) -> str:
    """The human summary of a sync (dry runs list transitions and a sample)."""
    lines = [
        f"{report['crm']} {report['mode']} sync{' (dry run)' if report['dry_run'] else ''}: "
        f"{report['seconds']:.1f} s, {report['api_calls']} API calls",
        "  pulled: " + ", ".join(f"{k} {v}" for k, v in report["records_pulled"].items()),
        "  segmented: " + ", ".join(f"{k} {v}" for k, v in report["records_segmented"].items()),
        f"  records to write: {report['records_to_write']}, fields unchanged: "
        f"{report['fields_unchanged']}",
    ]
    if not report["dry_run"]:
        lines.append(
            f"  written: {report['records_written']} records / {report['fields_written']} fields,"
            f" rejected {report['rejected']} (dead-lettered {report['dead_lettered']})"
        )
    if report["lifecycle_backward_skipped"]:
        lines.append(f"  lifecycle moves backward skipped: {report['lifecycle_backward_skipped']}")
    if report["fields_changed"]:
        lines.append("  fields changing:")
        lines += [f"    {f:<32} {n:>8}" for f, n in report["fields_changed"].items()]
    if report["transitions"]:
        lines.append("  transitions:")
        for name, moves in report["transitions"].items():
            for move, n in sorted(moves.items(), key=lambda kv: -kv[1])[:10]:
                lines.append(f"    {name}: {move}: {n}")
    if report["sample"]:
        lines.append("  sample:")
        for item in report["sample"]:
            lines.append(f"    {item['object_type']} {item['record_id']}")
            for f, change in item["changes"].items():
                lines.append(
                    f"      {f}: {change['old'] or '(none)'} -> {change['new'] or '(none)'}"
                )
    return "\n".join(lines)
