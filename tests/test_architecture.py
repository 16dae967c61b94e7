"""The layers of docs/architecture.md, checked over every module's imports.

``segmentation`` does no I/O and imports neither ``connectors`` nor ``workers``;
``connectors`` does not import ``workers``; the real connectors do not import the
sandbox; no two modules import each other, however indirectly. Imports inside
functions count (a lazy import is still a dependency); those under ``TYPE_CHECKING``
do not (they never run). The house rules of the tree are checked here too: about 20
modules per folder at most, 600 lines per module except the named data tables.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

from tests.paths import ROOT

PACKAGES = ("connectors", "segmentation", "workers")

# (importer prefix, imported prefix, why not); a prefix matches itself and what is below.
FORBIDDEN = [
    ("segmentation", "connectors", "the engine does no I/O"),
    ("segmentation", "workers", "the engine does no I/O"),
    ("connectors", "workers", "connectors are used by the workers, never the reverse"),
    ("connectors.hubspot", "connectors.sandbox", "the real connectors never need the sandbox"),
    ("connectors.salesforce", "connectors.sandbox", "the real connectors never need the sandbox"),
]

MAX_MODULES_PER_FOLDER = 21  # "about 20"
MAX_LINES = 600
DATA_TABLES = {
    # Tables of values, not logic: splitting them would scatter one table over files.
    "connectors/sandbox/seed/pools.py": "the seed's value pools (names, titles, geography)",
    "connectors/sandbox/hubspot/defaults.py": "HubSpot's default properties and groups",
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    """Every module of the three packages, by dotted name."""
    return {
        module_name(path): path
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if "migrations" not in path.parts
    }


def _runtime_nodes(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Import statements that run: those under ``if TYPE_CHECKING:`` are left out."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(inner) for stmt in node.body for inner in ast.walk(stmt)}
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom) and id(node) not in skipped
    ]


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules ``path`` imports (``from a import b`` names module ``a.b``
    when there is one, else ``a``)."""
    out: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif node.module is not None and node.level == 0:
            names = [
                f"{node.module}.{alias.name}"
                if f"{node.module}.{alias.name}" in modules
                else node.module
                for alias in node.names
            ]
        else:
            names = []
        out |= {name for name in names if name.split(".")[0] in PACKAGES}
    return out


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {name: imports_of(path, modules) & modules.keys() for name, path in modules.items()}


def under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def forbidden_imports(graph: dict[str, set[str]]) -> list[str]:
    """One line per import that crosses a layer the wrong way."""
    shared = {
        name
        for name in graph
        if name.count(".") == 1 and name.startswith("connectors.") and name != "connectors.sandbox"
    }
    rules = FORBIDDEN + [
        (name, "connectors.sandbox", "shared by the real connectors") for name in shared
    ]
    return sorted(
        f"{importer} imports {imported}: {why}"
        for importer, imports in graph.items()
        for imported in imports
        for src, dst, why in rules
        if under(importer, src) and under(imported, dst)
    )


def import_cycle(graph: dict[str, set[str]]) -> list[str]:
    """A cycle of imports (modules in order, the first repeated last), or []."""
    # A package's __init__ importing its own submodules is how it re-exports; a
    # submodule does not depend on its package for that, so the edge back is left out.
    edges = {name: {dep for dep in deps if not under(name, dep)} for name, deps in graph.items()}
    try:
        graphlib.TopologicalSorter(edges).prepare()
    except graphlib.CycleError as exc:
        return list(exc.args[1])
    return []


def test_no_import_crosses_a_layer_the_wrong_way() -> None:
    assert forbidden_imports(import_graph()) == []


def test_no_import_cycle() -> None:
    cycle = import_cycle(import_graph())
    assert cycle == [], "import cycle: " + " -> ".join(cycle)


def test_the_check_sees_a_forbidden_import_and_a_cycle() -> None:
    """The check itself: a planted import is named, a planted cycle found."""
    graph = import_graph()
    graph["segmentation.engine"] = graph["segmentation.engine"] | {"workers.state"}
    assert forbidden_imports(graph) == [
        "segmentation.engine imports workers.state: the engine does no I/O"
    ]
    graph = import_graph()
    graph["connectors.base"] = graph["connectors.base"] | {"connectors.hubspot.connector"}
    cycle = import_cycle(graph)
    assert "connectors.base" in cycle and "connectors.hubspot.connector" in cycle


# benchmarks/ is left flat: each module is a command (`python -m benchmarks.<name>`) that
# issues, the README and people's notes name by its path.
@pytest.mark.parametrize("package", (*PACKAGES, "tests"))
def test_folders_stay_small(package: str) -> None:
    crowded = {
        str(folder.relative_to(ROOT)): count
        for folder in [ROOT / package, *(ROOT / package).rglob("*/")]
        if folder.is_dir() and (count := len(list(folder.glob("*.py")))) > MAX_MODULES_PER_FOLDER
    }
    assert crowded == {}


def test_modules_stay_readable() -> None:
    long = {
        str(path.relative_to(ROOT)): lines
        for folder in (*PACKAGES, "tests", "benchmarks")
        for path in (ROOT / folder).rglob("*.py")
        if (lines := len(path.read_text().splitlines())) > MAX_LINES
        and str(path.relative_to(ROOT)) not in DATA_TABLES
    }
    assert long == {}


def test_no_sandbox_module_is_named_like_a_real_connector_module() -> None:
    """A reader who opens ``bulk.py`` knows which side of the wire it is on."""
    connectors = ROOT / "connectors"
    sandbox = connectors / "sandbox"
    real = {
        path.name
        for path in connectors.rglob("*.py")
        if sandbox not in path.parents and path.name != "__init__.py"
    }
    clashes = sorted(
        str(path.relative_to(ROOT)) for path in sandbox.rglob("*.py") if path.name in real
    )
    assert clashes == []
