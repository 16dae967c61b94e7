"""The inbox says which record each event is about, so a deletion can remove its events.

Adds ``event_inbox.record`` (``"<object_type>:<id>"``, see workers/state/changes.py)
with an index on ``(crm, record)``, and fills it in for the events already stored,
whatever their status: a done event keeps its payload (a property's value), and a
privacy deletion must find it too. The fill reads the payloads page by page in id
order with the same function the store uses for new events; on a large inbox it takes
a while once (about a minute per million events).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from workers.state.changes import RECORD_KEY_LENGTH, event_record
from workers.state.schema import BigId, JsonType

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PAGE = 5000


def upgrade() -> None:
    """Add the column and its index, then name the record of every stored event."""
    op.add_column("event_inbox", sa.Column("record", sa.String(RECORD_KEY_LENGTH), nullable=True))
    op.create_index("ix_event_inbox_crm_record", "event_inbox", ["crm", "record"])
    _backfill(op.get_bind())


def _backfill(conn: sa.Connection) -> None:
    inbox = sa.table(
        "event_inbox",
        sa.column("id", BigId),
        sa.column("crm", sa.String()),
        sa.column("payload", JsonType),
        sa.column("record", sa.String()),
    )
    page = (
        sa.select(inbox.c.id, inbox.c.crm, inbox.c.payload)
        .where(inbox.c.id > sa.bindparam("after"))
        .order_by(inbox.c.id)
        .limit(_PAGE)
    )
    name = (
        sa.update(inbox)
        .where(inbox.c.id == sa.bindparam("b_id"))
        .values(record=sa.bindparam("b_record"))
    )
    after = 0
    while rows := conn.execute(page, {"after": after}).all():
        after = rows[-1].id
        named = [
            {"b_id": row.id, "b_record": record}
            for row in rows
            if (record := event_record(row.crm, row.payload)) is not None
        ]
        if named:
            conn.execute(name, named)


def downgrade() -> None:
    """Drop the column (and its index)."""
    op.drop_index("ix_event_inbox_crm_record", table_name="event_inbox")
    with op.batch_alter_table("event_inbox") as batch:
        batch.drop_column("record")
