"""Where the repository and the tests' data are, for test modules at any depth."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
