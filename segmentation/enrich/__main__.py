"""Release tooling: ``python -m segmentation.enrich`` rebuilds the shipped country table."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from segmentation.enrich.geo import COUNTRY_TABLE_FILE, build_country_table


def main() -> None:
    """Write ``country_table.json.gz`` next to this module (deterministic bytes)."""
    table = build_country_table()
    payload = json.dumps(table, ensure_ascii=False, sort_keys=True).encode("utf-8")
    target = Path(__file__).with_name(COUNTRY_TABLE_FILE)
    target.write_bytes(gzip.compress(payload, mtime=0))
    print(f"wrote {len(table)} spellings to {target}")


if __name__ == "__main__":
    main()
