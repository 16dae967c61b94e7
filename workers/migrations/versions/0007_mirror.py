"""The mirror: a minimised copy of the CRM's records (workers/state/mirror.py).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create mirror_records with its link indexes."""
    op.create_table(
        "mirror_records",
        sa.Column("crm", sa.String(32), nullable=False),
        sa.Column("object_type", sa.String(32), nullable=False),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("company_id", sa.String(64), nullable=True),
        sa.Column("contact_id", sa.String(64), nullable=True),
        sa.Column("inputs", sa.Text(), nullable=False),
        sa.Column("outputs", sa.Text(), nullable=False),
        sa.Column("read_mark", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("crm", "object_type", "id", name="pk_mirror_records"),
    )
    op.create_index(
        "ix_mirror_records_crm_object_type_company_id",
        "mirror_records",
        ["crm", "object_type", "company_id"],
    )
    op.create_index(
        "ix_mirror_records_crm_object_type_contact_id",
        "mirror_records",
        ["crm", "object_type", "contact_id"],
    )


def downgrade() -> None:
    """Drop the mirror."""
    op.drop_table("mirror_records")
