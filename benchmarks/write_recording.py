"""Benchmark: the state-store cost of recording writes (issue 12, #11).

Writes are recorded per confirmed CRM batch (100 records on HubSpot) and marked in
flight before each batch is sent, instead of recorded once per 500-record chunk. This
measures only the store's side: a connector stand-in confirms every write at once, so
the time is what ``apply_writes`` spends in the state store for 5,000 records x 20
fields, sent as ``write_all`` sends them (500-record chunks). Run by hand:

    .venv/bin/python benchmarks/write_recording.py --database-url sqlite:////tmp/bench.db
    .venv/bin/python benchmarks/write_recording.py \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/<scratch database>

The database's written_values, dead_letters and writes_in_flight rows of crm 'bench'
are deleted first; use a scratch database.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence

import sqlalchemy as sa

from connectors.base import FieldWrite, WriteResult, WriteStatus
from workers.state import StateStore
from workers.sync.writeback import apply_writes

CHUNK = 500  # workers.sync.runner.WRITE_CHUNK


class ConfirmAll:
    """Accepts every write at once: no network, only the store's work is timed."""

    crm = "bench"
    write_batch_size = 100

    def write(self, writes: Sequence[FieldWrite]) -> list[WriteResult]:
        return [WriteResult(w.object_type, w.record_id, WriteStatus.OK) for w in writes]


def _clear(store: StateStore) -> None:
    present = set(sa.inspect(store.engine).get_table_names())
    with store.engine.begin() as conn:
        for table in ("written_values", "dead_letters", "writes_in_flight"):
            if table in present:  # an older schema has no writes_in_flight
                conn.execute(sa.text(f"DELETE FROM {table} WHERE crm = 'bench'"))


def run(database_url: str, records: int, fields: int, repeats: int) -> None:
    with StateStore(database_url) as store:
        store.migrate()
        timings = []
        for repeat in range(repeats):
            _clear(store)
            writes = [
                FieldWrite(
                    "contact",
                    str(100_000 + i),
                    {f"segsync_field_{n}": f"value-{repeat}-{i}-{n}" for n in range(fields)},
                )
                for i in range(records)
            ]
            started = time.perf_counter()
            for start in range(0, len(writes), CHUNK):
                apply_writes(ConfirmAll(), store, writes[start : start + CHUNK], derived=())  # type: ignore[arg-type]
            timings.append(time.perf_counter() - started)
        _clear(store)
    print(
        f"{store.dialect}: recording {records:,} records x {fields} fields: "
        f"median {statistics.median(timings):.2f} s over {repeats} runs "
        f"(min {min(timings):.2f}, max {max(timings):.2f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--records", type=int, default=5_000)
    parser.add_argument("--fields", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    run(args.database_url, args.records, args.fields, args.repeats)


if __name__ == "__main__":
    main()
