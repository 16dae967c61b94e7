"""The mirror says when segsync last wrote each record.

Adds ``mirror_records.written_at``: the latest time segsync wrote any field of the
record (``StateStore.record_written`` keeps it), indexed, and fills it in from the
written values already stored. With it a plan tells, from the mirror row alone, whether the
mirrored copy was read after segsync's last write (and so says what the CRM holds);
it used to ask the written values, a row per field per record, for every record of
the plan: on a nightly run over the whole mirror that was most of the time.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from workers.state.schema import UTCDateTime

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the column, then fill it from the written values (one statement)."""
    op.add_column("mirror_records", sa.Column("written_at", UTCDateTime(), nullable=True))
    op.create_index(
        "ix_mirror_records_crm_object_type_written_at",
        "mirror_records",
        ["crm", "object_type", "written_at"],
    )
    op.execute(
        "UPDATE mirror_records SET written_at = ("
        " SELECT max(w.written_at) FROM written_values w"
        " WHERE w.crm = mirror_records.crm AND w.object_type = mirror_records.object_type"
        " AND w.record_id = mirror_records.id)"
    )


def downgrade() -> None:
    """Drop the column (and its index)."""
    op.drop_index("ix_mirror_records_crm_object_type_written_at", table_name="mirror_records")
    with op.batch_alter_table("mirror_records") as batch:
        batch.drop_column("written_at")
