"""Dead letters re-plan: why a letter is open (permanent, deferred, transient), the
fingerprints a permanent one waits on, and how a closed one ended.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("kind", "inputs_fingerprint", "playbook_fingerprint", "resolution")


def upgrade() -> None:
    """Add the columns; letters written before them count as transient (retried as ever)."""
    with op.batch_alter_table("dead_letters") as batch:
        batch.add_column(sa.Column("kind", sa.String(16), nullable=True))
        batch.add_column(sa.Column("inputs_fingerprint", sa.String(64), nullable=True))
        batch.add_column(sa.Column("playbook_fingerprint", sa.String(64), nullable=True))
        batch.add_column(sa.Column("resolution", sa.String(16), nullable=True))


def downgrade() -> None:
    """Drop the columns."""
    with op.batch_alter_table("dead_letters") as batch:
        for name in reversed(COLUMNS):
            batch.drop_column(name)
