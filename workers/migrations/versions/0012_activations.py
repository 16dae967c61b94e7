"""Activations: the lists and campaigns segsync keeps per segment, and campaign members.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the activations and campaign_members tables."""
    op.create_table(
        "activations",
        sa.Column("crm", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("object_type", sa.String(16), nullable=False),
        sa.Column("segment", sa.String(255), nullable=False),
        sa.Column("remote_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "crm", "kind", "model", "object_type", "segment", name="pk_activations"
        ),
    )
    op.create_table(
        "campaign_members",
        sa.Column("crm", sa.String(32), nullable=False),
        sa.Column("campaign_id", sa.String(64), nullable=False),
        sa.Column("object_type", sa.String(16), nullable=False),
        sa.Column("record_id", sa.String(64), nullable=False),
        sa.Column("member_id", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint(
            "crm", "campaign_id", "object_type", "record_id", name="pk_campaign_members"
        ),
    )


def downgrade() -> None:
    """Drop both tables."""
    op.drop_table("campaign_members")
    op.drop_table("activations")
