"""Multiprocess metrics, set up before prometheus-client is imported (it reads the
environment once, at import)."""

from __future__ import annotations

import os
from pathlib import Path

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare_multiprocess(folder: Path) -> None:
    """Every process of this worker writes its metrics under ``folder`` (emptied first:
    files of an earlier worker would be added up again)."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.db"):
        old.unlink()
    os.environ[MULTIPROC_ENV] = str(folder)
