"""The lock files under requirements/, read for the tests that hold them to pyproject.toml
and to the data tables shipped in the package."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import canonicalize_name

from tests.paths import ROOT

DEV_LOCK = ROOT / "requirements" / "dev.txt"
RUNTIME_LOCK = ROOT / "requirements" / "runtime.txt"
INSTALL_LOCK = "`make install` (or `pip install --require-hashes -r requirements/dev.txt`)"


@dataclass(frozen=True)
class Pin:
    """One locked distribution: exact version and the sha256 hashes pip will accept."""

    name: str
    version: str
    hashes: tuple[str, ...]


def read_lock(path: Path) -> dict[str, Pin]:
    """Canonical name -> pin, from a ``name==version --hash=...`` requirements file."""
    pins: dict[str, Pin] = {}
    logical = path.read_text(encoding="utf-8").replace("\\\n", " ")
    for number, line in enumerate(logical.splitlines(), start=1):
        tokens = line.split("#", 1)[0].split()
        if not tokens:
            continue
        name, sep, version = tokens[0].partition("==")
        if not sep:
            raise ValueError(f"{path.name}: line {number} pins no exact version: {tokens[0]!r}")
        hashes = tuple(t.removeprefix("--hash=") for t in tokens[1:] if t.startswith("--hash="))
        pins[canonicalize_name(name)] = Pin(canonicalize_name(name), version, hashes)
    return pins


def table_version_problem(
    table: str,
    built_with: Mapping[str, str],
    installed: Mapping[str, str],
    locked: Mapping[str, Pin],
) -> str | None:
    """One line naming the first library whose versions disagree, and the command to run.

    The installed version is held to the lock first (an environment that is not the locked
    one builds other tables), then the version that built ``table`` to the lock.
    """
    lock = DEV_LOCK.relative_to(ROOT)
    for name, version in installed.items():
        pin = locked.get(canonicalize_name(name))
        if pin is None:
            return f"{lock} does not lock {name}, which builds {table}: run `make lock`"
        if version != pin.version:
            return (
                f"{name} {version} is installed but {lock} locks {pin.version}: "
                f"install the locked versions with {INSTALL_LOCK}"
            )
        if built_with.get(name) != pin.version:
            built = f"{name} {built_with[name]}" if name in built_with else f"no {name} version"
            return f"{table} records {built} but {lock} locks {pin.version}: run `make tables`"
    return None
