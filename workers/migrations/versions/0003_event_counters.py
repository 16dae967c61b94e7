"""Event counters: forged, stale, duplicate and echo counts the receiver and processor keep.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the event_counters table."""
    op.create_table(
        "event_counters",
        sa.Column("crm", sa.String(32), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("crm", "name", name="pk_event_counters"),
    )


def downgrade() -> None:
    """Drop the event_counters table."""
    op.drop_table("event_counters")
