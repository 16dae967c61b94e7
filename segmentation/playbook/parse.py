"""Playbook text to a validated :class:`Playbook`, or :class:`PlaybookError` with every problem."""

from __future__ import annotations

import os
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from segmentation.playbook.condition import Condition
from segmentation.playbook.crossrefs import cross_check, too_many_rules
from segmentation.playbook.errors import PlaybookError, PlaybookIssue
from segmentation.playbook.limits import MAX_PLAYBOOK_BYTES, size_text
from segmentation.playbook.locations import Loc, compose_message, where_of
from segmentation.playbook.messages import translate
from segmentation.playbook.model import Playbook
from segmentation.playbook.yaml_marks import MarkedDocument, YamlLimitError, compose


def parse_playbook(
    text: str,
    *,
    source: str = "<playbook>",
    known_fields: Collection[str] | Callable[[], Collection[str]] | None = None,
) -> Playbook:
    """Validate playbook ``text``; ``source`` names it in errors.

    With ``known_fields`` (canonical + enriched field names), every field a rule
    tests must be one of them or declared under ``fields:``; without, field names
    are only checked when the playbook is compiled against a frame schema. It may be
    a function, called only once the text has passed the size limits: working out
    the known fields can cost more than refusing an oversized file.
    Raises :class:`PlaybookError` listing every problem with its line and column; a text
    over :data:`~segmentation.playbook.limits.MAX_PLAYBOOK_BYTES` is refused unread.
    """
    encoded = text.encode("utf-8")
    _refuse_oversized(encoded, source, len(encoded))
    try:
        document = compose(text)
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc, source) from None
    data = document.data
    issues = [
        PlaybookIssue(
            source,
            p.position.line,
            p.position.column,
            compose_message(p.message, where_of(p.loc, data)),
        )
        for p in document.problems
    ]
    # A value YAML could not read fails validation too; say it once, YAML's way.
    unreadable = {(p.position.line, p.position.column) for p in document.problems}
    if not isinstance(data, dict):
        position = document.locate(())
        issues.append(
            PlaybookIssue(
                source,
                position.line,
                position.column,
                "a playbook is a mapping with 'version', 'name' and 'models'",
            )
        )
        raise PlaybookError(issues)

    runaway = too_many_rules(data)
    if runaway is not None:
        loc, at_key, message = runaway
        position = document.locate(loc, key=at_key)
        raise PlaybookError([PlaybookIssue(source, position.line, position.column, message)])

    context: dict[str, Any] = {}
    if known_fields is not None:
        declared = data.get("fields")
        known = known_fields() if callable(known_fields) else known_fields
        context["known_fields"] = set(known) | (
            {str(k) for k in declared} if isinstance(declared, dict) else set()
        )
    playbook: Playbook | None = None
    try:
        playbook = Playbook.model_validate(data, context=context)
    except ValidationError as exc:
        issues += [
            issue
            for issue in translate(exc.errors(), document, source)
            if (issue.line, issue.column) not in unreadable
        ]
    for loc, at_key, message in cross_check(data):
        position = document.locate(loc, key=at_key)
        issues.append(PlaybookIssue(source, position.line, position.column, message))
    if issues or playbook is None:
        raise PlaybookError(issues)
    _attach_positions(playbook, document, source)
    return playbook


def load_playbook(path: str | Path, *, known_fields: Collection[str] | None = None) -> Playbook:
    """Read the playbook file at ``path`` (UTF-8) and :func:`parse_playbook` it."""
    try:
        text = read_playbook_file(path)
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise PlaybookError.single(f"cannot read playbook: {reason}", path=str(path)) from None
    return parse_playbook(text, source=str(path), known_fields=known_fields)


def read_playbook_file(path: str | Path) -> str:
    """The text of the playbook file at ``path`` (UTF-8), read only up to the size limit.

    Raises :class:`PlaybookError` for a file over
    :data:`~segmentation.playbook.limits.MAX_PLAYBOOK_BYTES` without reading the rest of
    it, and lets :class:`OSError` / :class:`UnicodeDecodeError` through for the caller
    to phrase.
    """
    with open(path, "rb") as file:
        head = file.read(MAX_PLAYBOOK_BYTES + 1)
        if len(head) > MAX_PLAYBOOK_BYTES:
            size = os.fstat(file.fileno()).st_size  # 0 for a pipe: size unknown
            _refuse_oversized(head, str(path), size if size > len(head) else None)
    return head.decode("utf-8")


def _refuse_oversized(data: bytes, source: str, size: int | None) -> None:
    """Refuse a playbook over the byte limit, pointing at the line where it passes it.

    ``size`` is the whole file's, when known (``data`` may be only its head).
    """
    if len(data) <= MAX_PLAYBOOK_BYTES:
        return
    # Cut mid-character at worst; columns count characters, as YAML's marks do.
    before = data[:MAX_PLAYBOOK_BYTES].decode("utf-8", errors="ignore")
    line = before.count("\n") + 1
    column = len(before) - (before.rfind("\n") + 1) + 1
    limit = f"{MAX_PLAYBOOK_BYTES // (1024 * 1024)} MiB"
    what = f"playbook is {size_text(size)}, over" if size else "playbook is over"
    raise PlaybookError.single(
        f"{what} the {limit} limit (it passes it here); refusing it — playbooks are a few "
        "KB: is this the right file?",
        path=source,
        line=line,
        column=column,
    )


def _syntax_error(exc: yaml.MarkedYAMLError, source: str) -> PlaybookError:
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or "cannot parse"
    if isinstance(exc, YamlLimitError):
        line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
        return PlaybookError([PlaybookIssue(source, line, column, problem)])
    message = f"YAML syntax error: {problem}"
    if exc.context and exc.context_mark and mark is not exc.context_mark:
        message += f" ({exc.context} at line {exc.context_mark.line + 1})"
    line = mark.line + 1 if mark else None
    column = mark.column + 1 if mark else None
    return PlaybookError([PlaybookIssue(source, line, column, message)])


def _attach_positions(playbook: Playbook, document: MarkedDocument, source: str) -> None:
    """Give rules and conditions their YAML positions, for errors raised at compile time."""
    playbook._source = source
    for name, model in playbook.models.items():
        model._position = document.locate(("models", name), key=True)
        for index, rule in enumerate(model.rules):
            rule_loc: Loc = ("models", name, "rules", index)
            rule._position = document.locate(rule_loc)
            _attach_condition(rule.when, (*rule_loc, "when"), document, source)


def _attach_condition(
    condition: Condition, loc: Loc, document: MarkedDocument, source: str
) -> None:
    condition._source = source
    condition._positions[""] = document.locate(loc)
    node = document.node_at(loc)
    if isinstance(node, yaml.MappingNode):
        for key_node, _ in node.value:
            key = str(key_node.value)
            condition._positions[key] = document.locate((*loc, key))
    if condition.all_ is not None:
        for index, child in enumerate(condition.all_):
            _attach_condition(child, (*loc, "all", index), document, source)
    if condition.any_ is not None:
        for index, child in enumerate(condition.any_):
            _attach_condition(child, (*loc, "any", index), document, source)
    if condition.not_ is not None:
        _attach_condition(condition.not_, (*loc, "not"), document, source)
