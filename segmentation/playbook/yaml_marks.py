"""YAML to plain data while keeping every node's line and column.

``yaml.safe_load`` throws positions away, so the playbook is composed into a node
tree first and built into Python data here; :meth:`MarkedDocument.locate` then
maps a validation error's location (a path of keys and indexes) back to the node
it is about. Building the data ourselves also lets us report what PyYAML silently
accepts: duplicate keys (the last one would quietly win) and unconstructable
scalars such as ``2024-02-30``, and refuse documents too deep or whose aliases expand
too far (:mod:`~segmentation.playbook.limits`) before a single value is built.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from segmentation.playbook.limits import MAX_NESTING, MAX_YAML_VALUES


@dataclass(frozen=True, slots=True)
class Position:
    """A 1-based line and column."""

    line: int
    column: int


def position_of(node: yaml.Node) -> Position:
    """Where ``node`` starts (PyYAML marks are 0-based)."""
    return Position(node.start_mark.line + 1, node.start_mark.column + 1)


@dataclass(frozen=True, slots=True)
class YamlProblem:
    """A problem found while reading the YAML itself, before any validation.

    ``loc`` is the path of the mapping or list the problem is in, so that the
    message can name the rule and model.
    """

    position: Position
    message: str
    loc: tuple[str | int, ...] = ()


@dataclass(slots=True)
class MarkedDocument:
    """Plain Python data plus the node tree it came from."""

    data: Any
    root: yaml.Node | None
    problems: list[YamlProblem] = field(default_factory=list)

    def node_at(self, loc: Sequence[str | int], *, key: bool = False) -> yaml.Node | None:
        """The deepest node along ``loc``; with ``key``, the key node of its last step.

        A path that leaves the tree (a missing key, say) stops at the last node it
        reached, which is the mapping the missing key belongs in — the right place
        to point at.
        """
        node = self.root
        for depth, step in enumerate(loc):
            if node is None:
                return None
            last = depth == len(loc) - 1
            if isinstance(node, yaml.MappingNode):
                match = _find_pair(node, step)
                if match is None:
                    return node
                key_node, value_node = match
                node = key_node if key and last else value_node
            elif isinstance(node, yaml.SequenceNode) and isinstance(step, int):
                if not 0 <= step < len(node.value):
                    return node
                node = node.value[step]
            else:
                return node
        return node

    def locate(self, loc: Sequence[str | int], *, key: bool = False) -> Position:
        """The position of :meth:`node_at`, or 1:1 for an empty document."""
        node = self.node_at(loc, key=key)
        return position_of(node) if node is not None else Position(1, 1)


def _find_pair(node: yaml.MappingNode, step: str | int) -> tuple[yaml.Node, yaml.Node] | None:
    for key_node, value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == str(step):
            return key_node, value_node
    return None


class _Unreadable:
    """Stands in for a scalar YAML could not build; validation will reject it too."""

    def __repr__(self) -> str:
        return "<unreadable value>"


_UNREADABLE = _Unreadable()


class YamlLimitError(yaml.MarkedYAMLError):
    """A document over a limit: nested too deep, or aliases that expand too far."""


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, measuring what the document would expand to as it composes.

    An alias is one event but stands for its whole anchored subtree, and building data
    repeats that subtree at every use: ten nested levels of ten aliases are a few lines
    and ten billion values. Each composed node's expanded size and height are recorded,
    so an alias adds its anchor's to the running counts in O(1), and the document is
    refused at the alias that passes a limit, before anything is expanded. Merge keys
    (``<<: *defaults``) are aliases too and count the same way.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.values = 0
        self.sizes: dict[int, int] = {}
        self.heights: dict[int, int] = {}
        # Per open list or mapping, the expanded height of its tallest child so far.
        self.open: list[int] = [0]

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()
        depth = len(self.open) - 1
        if isinstance(event, yaml.AliasEvent):
            anchored = self.anchors.get(str(event.anchor))
            # An alias inside its own anchor has no size yet; the builder reports it.
            size = self.sizes.get(id(anchored), 1)
            height = self.heights.get(id(anchored), 1)
            self._count(size, event, alias=str(event.anchor))
            self._nest(depth + height, event, alias=str(event.anchor))
            self.open[-1] = max(self.open[-1], height)
            return super().compose_node(parent, index)
        self._nest(depth + 1, event)
        start = self.values
        self._count(1, event)
        self.open.append(0)
        try:
            node = super().compose_node(parent, index)
        finally:
            height = 1 + self.open.pop()
        self.sizes[id(node)] = self.values - start
        self.heights[id(node)] = height
        self.open[-1] = max(self.open[-1], height)
        return node

    def _count(self, size: int, event: yaml.Event, alias: str | None = None) -> None:
        self.values += size
        if self.values <= MAX_YAML_VALUES:
            return
        if alias is not None and size > 1:
            problem = (
                f"alias *{alias} repeats {size:,} values and takes the playbook past "
                f"{MAX_YAML_VALUES:,} values; refusing it (nested aliases multiply; "
                "the shipped playbooks hold about 600 values)"
            )
        else:
            problem = (
                f"more than {MAX_YAML_VALUES:,} values; refusing the playbook "
                "(the shipped ones hold about 600)"
            )
        raise YamlLimitError(problem=problem, problem_mark=_mark(event))

    def _nest(self, levels: int, event: yaml.Event, alias: str | None = None) -> None:
        if levels <= MAX_NESTING:
            return
        what = f"alias *{alias} nests" if alias is not None else "lists and mappings nest"
        raise YamlLimitError(
            problem=f"{what} more than {MAX_NESTING} levels deep; refusing the playbook "
            "(the shipped ones nest 11 levels)",
            problem_mark=_mark(event),
        )


def _mark(event: yaml.Event) -> yaml.error.Mark | None:
    mark = event.start_mark
    return mark if isinstance(mark, yaml.error.Mark) else None


def compose(text: str) -> MarkedDocument:
    """Read ``text`` into a :class:`MarkedDocument`.

    Raises :class:`yaml.MarkedYAMLError` for syntax errors and :class:`YamlLimitError`
    for a document over the limits (the caller turns its mark into a line and column);
    semantic YAML problems are collected in ``problems`` instead so that they are
    reported with everything else.
    """
    loader = _BoundedLoader(text)
    try:
        root = loader.get_single_node()
        builder = _Builder(loader)
        data = builder.build(root) if root is not None else None
        return MarkedDocument(data=data, root=root, problems=builder.problems)
    finally:
        loader.dispose()


class _Builder:
    """Node tree to Python data, collecting problems instead of stopping at the first."""

    def __init__(self, loader: yaml.SafeLoader) -> None:
        self.loader = loader
        self.problems: list[YamlProblem] = []
        self._active: set[int] = set()
        self._path: list[str | int] = []

    def problem(self, node: yaml.Node, message: str) -> None:
        self.problems.append(YamlProblem(position_of(node), message, tuple(self._path)))

    def build(self, node: yaml.Node) -> Any:
        if id(node) in self._active:
            # An alias inside its own anchor: the data would be infinite.
            self.problem(node, "recursive YAML alias")
            return None
        self._active.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node)
            if isinstance(node, yaml.SequenceNode):
                items = []
                for index, item in enumerate(node.value):
                    self._path.append(index)
                    items.append(self.build(item))
                    self._path.pop()
                return items
            return self._scalar(node)
        finally:
            self._active.discard(id(node))

    def _mapping(self, node: yaml.MappingNode) -> dict[str, Any]:
        # Resolve "<<: *anchor" merge keys the way safe_load would.
        self.loader.flatten_mapping(node)
        result: dict[str, Any] = {}
        first_seen: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self.problem(key_node, "a key must be a plain name, not a list or mapping")
                continue
            # Keys are taken as written: "on:" or "no:" stay names, never booleans.
            name = str(key_node.value)
            if name in first_seen:
                first = position_of(first_seen[name])
                self.problem(
                    key_node,
                    f"duplicate key '{name}' (first at line {first.line}, column {first.column})",
                )
                continue
            first_seen[name] = key_node
            self._path.append(name)
            result[name] = self.build(value_node)
            self._path.pop()
        return result

    def _scalar(self, node: yaml.Node) -> Any:
        try:
            return self.loader.construct_object(node, deep=True)
        except (yaml.constructor.ConstructorError, ValueError) as exc:
            # e.g. an unquoted 2024-02-30 matches YAML's timestamp pattern but is no date.
            detail = getattr(exc, "problem", None) or str(exc)
            self.problem(node, f"cannot read value {node.value!r}: {detail}")
            return _UNREADABLE
