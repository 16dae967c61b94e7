"""Event leases: a claimed event carries a lease that expires; dead events; CRM pauses.

Old ``enqueued`` rows (claimed by a worker that may be long gone) and old ``failed`` rows
(given up after five rounds) go back to ``pending``: both were events never processed.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Lease columns on event_inbox, its waiting-rows index, the event_pauses table."""
    with op.batch_alter_table("event_inbox") as batch:
        batch.add_column(sa.Column("due_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("lease_token", sa.String(32), nullable=True))
        batch.add_column(sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("last_error", sa.Text(), nullable=True))
    op.execute(
        "UPDATE event_inbox SET status = 'pending', processed_at = NULL "
        "WHERE status IN ('enqueued', 'failed')"
    )
    op.execute("UPDATE event_inbox SET due_at = received_at WHERE status = 'pending'")
    op.create_index("ix_event_inbox_crm_status_due_at", "event_inbox", ["crm", "status", "due_at"])
    op.create_table(
        "event_pauses",
        sa.Column("crm", sa.String(32), nullable=False),
        sa.Column("paused_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("crm", name="pk_event_pauses"),
    )


def downgrade() -> None:
    """Back to statuses: leased rows wait as enqueued, dead ones as failed."""
    op.drop_table("event_pauses")
    op.drop_index("ix_event_inbox_crm_status_due_at", table_name="event_inbox")
    op.execute("UPDATE event_inbox SET status = 'enqueued' WHERE status = 'leased'")
    op.execute("UPDATE event_inbox SET status = 'failed' WHERE status = 'dead'")
    with op.batch_alter_table("event_inbox") as batch:
        batch.drop_column("last_error")
        batch.drop_column("failing_since")
        batch.drop_column("lease_token")
        batch.drop_column("due_at")
