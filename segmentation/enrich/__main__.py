"""Release tooling: ``python -m segmentation.enrich`` rebuilds the shipped country table.

``make tables`` runs it (and ``make lock`` / ``make upgrade`` after refreshing the locks),
so the table is always built by the library versions the locks install.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from segmentation.enrich.geo import (
    COUNTRY_TABLE_FILE,
    build_country_table,
    installed_source_versions,
)


def main() -> None:
    """Write ``country_table.json.gz`` next to this module (deterministic bytes).

    The file records the babel and pycountry versions that built it, so a test can tell
    "built with other library versions" apart from "the build code changed".
    """
    built_with = installed_source_versions()
    table = build_country_table()
    document = {"built_with": built_with, "spellings": table}
    payload = json.dumps(document, ensure_ascii=False, sort_keys=True).encode("utf-8")
    target = Path(__file__).with_name(COUNTRY_TABLE_FILE)
    target.write_bytes(gzip.compress(payload, mtime=0))
    versions = ", ".join(f"{name} {version}" for name, version in built_with.items())
    print(f"wrote {len(table)} spellings to {target} (built with {versions})")


if __name__ == "__main__":
    main()
