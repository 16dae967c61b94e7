"""Alert states: the last notified status of each alert condition per CRM.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the alert_states table."""
    op.create_table(
        "alert_states",
        sa.Column("crm", sa.String(32), nullable=False),
        sa.Column("condition", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("crm", "condition", name="pk_alert_states"),
    )


def downgrade() -> None:
    """Drop the alert_states table."""
    op.drop_table("alert_states")
