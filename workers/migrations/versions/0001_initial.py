"""Initial state schema: cursors, runs, written values, dead letters, event inbox.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Types are spelled out here instead of imported from ``workers.state`` so this
revision keeps describing the schema it created even after the models move on.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
# SQLite only auto-increments an "INTEGER PRIMARY KEY".
_BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create every table of the state store."""
    op.create_table(
        "sync_cursors",
        sa.Column("crm", sa.String(32), nullable=False),
        sa.Column("object_type", sa.String(32), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_id", sa.String(255), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("crm", "object_type", name="pk_sync_cursors"),
    )

    op.create_table(
        "runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("crm", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("counts", _JSON, nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
    )
    op.create_index("ix_runs_started_at", "runs", ["started_at"])

    op.create_table(
        "written_values",
        sa.Column("crm", sa.String(32), nullable=False),
        sa.Column("object_type", sa.String(32), nullable=False),
        sa.Column("record_id", sa.String(64), nullable=False),
        sa.Column("field", sa.String(255), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("previous_value", sa.Text(), nullable=True),
        sa.Column("written_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
        # The key doubles as the index for "all fields of these ids" lookups.
        sa.PrimaryKeyConstraint(
            "crm", "object_type", "record_id", "field", name="pk_written_values"
        ),
    )

    op.create_table(
        "dead_letters",
        sa.Column("id", _BIGID, autoincrement=True, nullable=False),
        sa.Column("crm", sa.String(32), nullable=False),
        sa.Column("object_type", sa.String(32), nullable=False),
        sa.Column("record_id", sa.String(64), nullable=False),
        sa.Column("fields", _JSON, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("code", sa.String(64), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("first_failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_dead_letters"),
    )
    # One open letter per record; the upsert in add_dead_letters targets this index.
    op.create_index(
        "uq_dead_letters_open_record",
        "dead_letters",
        ["crm", "object_type", "record_id"],
        unique=True,
        sqlite_where=sa.text("resolved_at IS NULL"),
        postgresql_where=sa.text("resolved_at IS NULL"),
    )

    op.create_table(
        "event_inbox",
        sa.Column("id", _BIGID, autoincrement=True, nullable=False),
        sa.Column("crm", sa.String(32), nullable=False),
        sa.Column("event_key", sa.String(255), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", _JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_event_inbox"),
        sa.UniqueConstraint("crm", "event_key", name="uq_event_inbox_crm_event_key"),
    )
    op.create_index("ix_event_inbox_status_id", "event_inbox", ["status", "id"])


def downgrade() -> None:
    """Drop every table of the state store."""
    op.drop_index("ix_event_inbox_status_id", table_name="event_inbox")
    op.drop_table("event_inbox")
    op.drop_index("uq_dead_letters_open_record", table_name="dead_letters")
    op.drop_table("dead_letters")
    op.drop_table("written_values")
    op.drop_index("ix_runs_started_at", table_name="runs")
    op.drop_table("runs")
    op.drop_table("sync_cursors")
