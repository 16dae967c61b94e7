"""Model state: fitted parameters a later run needs (cluster centroids, CLV fits).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23

Aggregates only (centroids, parameters), never per-record data.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    """Create the model_state table."""
    op.create_table(
        "model_state",
        sa.Column("crm", sa.String(32), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("value", _JSON, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("crm", "name", name="pk_model_state"),
    )


def downgrade() -> None:
    """Drop the model_state table."""
    op.drop_table("model_state")
