"""``segsync playbook check``: everything a run would refuse in a playbook, before any run.

A run segments the frames a CRM's field map yields; this builds the same frames with
no records, per CRM, and hands them to the engine's own validation
(:func:`segmentation.engine.validate_playbook`), which prepares and compiles exactly as
:func:`~segmentation.engine.segment` does. So the fields a rule may name (canonical,
mapped, enriched, derived, declared), the types its literals must fit, and the models
that run on each object type are the run's, and check and run cannot disagree.
On top of that come the CRM fields ``schema apply`` would create, whose names each CRM
limits. Segmentation stays I/O-free: the field maps are read here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from connectors.base import CrmName
from segmentation.engine import rule_schemas, validate_playbook
from segmentation.playbook import Playbook, PlaybookError, PlaybookIssue, parse_playbook
from workers.fieldmap import FieldMap, load_field_map
from workers.offline import playbook_source
from workers.sync.frames import EngineFrames, FrameCollector, Mode, playbook_mode
from workers.sync.outputs import field_specs, written_object_types

CRMS: tuple[CrmName, ...] = ("hubspot", "salesforce")
# HubSpot property internal names hold 100 characters (knowledge base, property editor).
HUBSPOT_NAME_LIMIT = 100


class FieldMapError(ValueError):
    """A field map that cannot be read or used; names the file or the CRM's default."""


@dataclass(frozen=True, slots=True)
class Checked:
    """A playbook that passed: where it came from and what it was checked against."""

    playbook: Playbook
    source: str
    crms: tuple[CrmName, ...]


def load_field_maps(crms: Sequence[CrmName], path: Path | None = None) -> dict[CrmName, FieldMap]:
    """The field map of each CRM (``path`` instead of the default, for a single CRM).

    Raises :class:`FieldMapError` for a map that cannot be read or that a run could not
    use (e.g. one that maps a column segsync fills itself).
    """
    if path is not None and len(crms) != 1:
        raise FieldMapError("a field map file belongs to one CRM: name it with --crm")
    maps: dict[CrmName, FieldMap] = {}
    for crm in crms:
        where = str(path) if path is not None else f"default {crm} field map"
        try:
            maps[crm] = load_field_map(crm, path)
            FrameCollector(maps[crm])  # refuses what a run's collector would refuse
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise FieldMapError(f"{where}: cannot read field map: {reason}") from None
        except Exception as exc:  # malformed YAML or content: one line, not a traceback
            text = str(exc).replace("\n", " ")
            raise FieldMapError(text if text.startswith(where) else f"{where}: {text}") from None
    return maps


def check_playbook(
    spec: str,
    crms: Sequence[CrmName] = CRMS,
    *,
    field_map: Path | None = None,
    now: datetime | None = None,
) -> Checked:
    """Validate the playbook ``spec`` (a path or a shipped name) as runs on ``crms`` would.

    Raises :class:`PlaybookError` with every problem, each at its file, line and column;
    a problem that only some of the CRMs would meet says which. Raises
    :class:`FieldMapError` when a field map cannot be used.
    """
    now = now or datetime.now(UTC)
    source, text = playbook_source(spec)  # an oversized file is refused unread
    maps = load_field_maps(crms, field_map)
    empty = {
        (crm, mode): FrameCollector(fmap).frames(mode)
        for crm, fmap in maps.items()
        for mode in ("b2b", "b2c")
    }

    def known() -> set[str]:
        # Any field a run on any of these CRMs could have: parse-time "unknown field"
        # then never refuses what compiling against one CRM's frames would accept.
        # Called by the parser once the YAML is within the limits (an alias bomb is
        # refused before this costs anything).
        names: set[str] = set()
        for frames in empty.values():
            schemas = rule_schemas(
                frames.contacts, frames.companies, frames.deals, frames.orders, now=now
            )
            for schema in schemas.values():
                names |= set(schema)
        return names

    book = parse_playbook(text, source=source, known_fields=known)
    mode: Mode = playbook_mode(book)
    found: dict[PlaybookIssue, list[CrmName]] = {}
    named: list[PlaybookIssue] = []
    for crm, fmap in maps.items():
        try:
            validate_against(book, fmap, now=now, frames=empty[crm, mode])
        except PlaybookError as exc:
            for issue in exc.errors:
                found.setdefault(issue, []).append(crm)
        named += _crm_field_names(book, crm, fmap)
    if found or named:
        issues = [_for_crms(issue, hit, len(maps)) for issue, hit in found.items()]
        raise PlaybookError(issues + named)
    return Checked(book, source, tuple(maps))


def validate_against(
    book: Playbook,
    fmap: FieldMap,
    *,
    now: datetime | None = None,
    frames: EngineFrames | None = None,
) -> None:
    """Raise :class:`PlaybookError` if ``book`` would not compile on what ``fmap`` pulls.

    Cheap (no records): runs call it before they read anything, so a typo in a field
    name stops a sync in a second rather than after a pull of the whole CRM.
    """
    frames = frames or FrameCollector(fmap).frames(playbook_mode(book))
    validate_playbook(
        frames.contacts,
        frames.companies,
        frames.deals,
        frames.orders,
        playbook=book,
        now=now or datetime.now(UTC),
    )


def _crm_field_names(book: Playbook, crm: CrmName, fmap: FieldMap) -> Iterator[PlaybookIssue]:
    """Models whose fields ``schema apply`` would create under names the CRM refuses.

    A model's fields are named after it (``segsync_<model>``, ``..._entered_at``, ...);
    one problem per model, about its first refused field.
    """
    names: dict[str, None] = {}
    for object_type in written_object_types(fmap.object_types()):
        names.update(dict.fromkeys(spec.name for spec in field_specs(book, object_type)))
    reported: set[str | None] = set()
    for name in names:
        refused = _refused_name(name, crm)
        model = _model_of(name, book.models)
        if refused is None or model in reported:
            continue
        reported.add(model)
        problem, hint = refused
        position = book.models[model].position if model is not None else None
        where = f" in model {model}" if model is not None else ""
        yield PlaybookIssue(
            book.source,
            position.line if position else None,
            position.column if position else None,
            f"{problem}: 'segsync schema apply --crm {crm}' would refuse it{where} — {hint}",
        )


def _refused_name(name: str, crm: CrmName) -> tuple[str, str] | None:
    """(why, what to do) when ``crm`` would refuse segsync field ``name``, else None."""
    # The connectors' own naming; imported here because runs import this module for
    # validate_against and need not load both CRM clients for it.
    from connectors.hubspot.connector import PROPERTY_PREFIX
    from connectors.salesforce.schema import field_api_name

    if crm == "salesforce":
        try:
            field_api_name(name)
        except ValueError as exc:
            if "longer than" in str(exc):
                return str(exc), "shorten the model name"
            return (
                f"Salesforce cannot name a field after {name!r}",
                "Salesforce field names take single underscores between letters and digits",
            )
        return None
    native = f"{PROPERTY_PREFIX}{name}"
    if len(native) > HUBSPOT_NAME_LIMIT:
        return (
            f"HubSpot property name {native} is longer than {HUBSPOT_NAME_LIMIT} characters",
            "shorten the model name",
        )
    return None


def _model_of(field: str, models: Iterable[str]) -> str | None:
    """The model a segsync field is named after (the longest name it starts with)."""
    matches = [m for m in models if field == m or field.startswith(m + "_")]
    return max(matches, key=len) if matches else None


def _for_crms(issue: PlaybookIssue, crms: list[CrmName], checked: int) -> PlaybookIssue:
    """``issue``, saying which CRMs it is about when it is not about all of those checked."""
    if len(crms) == checked:
        return issue
    # Before the hint: "... in rule x of model y (with the hubspot field map) — did you mean"
    head, dash, hint = issue.message.partition(" — ")
    message = f"{head} (with the {' and '.join(crms)} field map){dash}{hint}"
    return PlaybookIssue(issue.path, issue.line, issue.column, message)
