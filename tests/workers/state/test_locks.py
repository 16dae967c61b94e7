"""The lock files install what pyproject.toml asks for, and the image runs what CI tested."""

from __future__ import annotations

import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.locks import DEV_LOCK, ROOT, RUNTIME_LOCK, Pin, read_lock


def _requirements(*groups: str) -> list[Requirement]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    listed = {
        "runtime": pyproject["project"]["dependencies"],
        "dev": pyproject["project"]["optional-dependencies"]["dev"],
        "sandbox": pyproject["project"]["optional-dependencies"]["sandbox"],
        "build": pyproject["build-system"]["requires"],
    }
    return [Requirement(text) for group in groups for text in listed[group]]


def _unmet(requirements: list[Requirement], pins: dict[str, Pin]) -> list[str]:
    unmet = []
    for req in requirements:
        pin = pins.get(canonicalize_name(req.name))
        if pin is None:
            unmet.append(f"{req} (not locked)")
        elif not req.specifier.contains(pin.version, prereleases=True):
            unmet.append(f"{req} (locked {pin.version})")
    return unmet


def test_the_dev_lock_pins_every_requirement_inside_its_range() -> None:
    unmet = _unmet(_requirements("runtime", "dev", "sandbox", "build"), read_lock(DEV_LOCK))
    assert not unmet, f"requirements/dev.txt is out of date, run `make lock`: {unmet}"


def test_the_runtime_lock_pins_every_runtime_requirement_inside_its_range() -> None:
    unmet = _unmet(_requirements("runtime", "build"), read_lock(RUNTIME_LOCK))
    assert not unmet, f"requirements/runtime.txt is out of date, run `make lock`: {unmet}"


def test_the_image_installs_exactly_the_versions_the_tests_ran_with_all_hash_checked() -> None:
    dev, runtime = read_lock(DEV_LOCK), read_lock(RUNTIME_LOCK)
    differ = {
        name: (pin.version, dev[name].version if name in dev else None)
        for name, pin in runtime.items()
        if name not in dev or dev[name].version != pin.version
    }
    assert not differ, f"runtime.txt vs dev.txt versions differ, run `make lock`: {differ}"
    unhashed = [name for name, pin in (dev | runtime).items() if not pin.hashes]
    assert not unhashed, f"pip --require-hashes would refuse these pins: {unhashed}"
    # Dev tools and the sandbox CRM's libraries stay out of the image.
    assert {"pytest", "mypy", "ruff", "uv"}.isdisjoint(runtime)
    assert {"faker", "werkzeug", "lark"}.isdisjoint(runtime)
    assert {"babel", "pycountry", "polars", "setuptools", "pip"} <= set(runtime)
