"""Model state: fitted parameters (cluster centroids) a later run reuses."""

from __future__ import annotations

from typing import Any

from workers.state.base import StoreBase
from workers.state.schema import ModelStateRow


class ModelStateMixin(StoreBase):
    """Reading and saving a fitted model's stored value."""

    # ------------------------------------------------------------------ model state

    def get_model_state(self, crm: str, name: str) -> Any:
        """The stored value of a fitted model (None before the first fit)."""
        with self._read() as session:
            row = session.get(ModelStateRow, (crm, name))
            return None if row is None else row.value

    def save_model_state(self, crm: str, name: str, value: Any) -> None:
        """Replace a fitted model's stored value (JSON-serialisable)."""
        ins = self._insert(ModelStateRow)
        stmt = ins.on_conflict_do_update(
            index_elements=[ModelStateRow.crm, ModelStateRow.name],
            set_={"value": ins.excluded.value, "updated_at": ins.excluded.updated_at},
        )
        with self._write() as conn:
            row = {"crm": crm, "name": name, "value": value, "updated_at": self._now()}
            conn.execute(stmt, row)
