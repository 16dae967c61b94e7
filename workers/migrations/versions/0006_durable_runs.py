"""Durable runs and writes: run owners with heartbeats, writes marked in flight.

``runs.owner`` (host:pid) and ``runs.heartbeat_at`` let the next run or ``segsync runs``
reap a run whose process died; ``writes_in_flight`` holds the batches sent to the CRM
but not yet confirmed, so the next run can read them back instead of sending them again.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    """Add the run owner and heartbeat; create writes_in_flight."""
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("owner", sa.String(255), nullable=True))
        batch.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "writes_in_flight",
        sa.Column("crm", sa.String(32), nullable=False),
        sa.Column("object_type", sa.String(32), nullable=False),
        sa.Column("record_id", sa.String(64), nullable=False),
        sa.Column("fields", _JSON, nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("crm", "object_type", "record_id", name="pk_writes_in_flight"),
    )


def downgrade() -> None:
    """Drop writes_in_flight and the run owner columns."""
    op.drop_table("writes_in_flight")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("heartbeat_at")
        batch.drop_column("owner")
