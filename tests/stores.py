"""Throw-away state stores for tests: schemas in the shared PostgreSQL database."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

TABLES = {
    "sync_cursors",
    "runs",
    "written_values",
    "dead_letters",
    "event_inbox",
    "writes_in_flight",
    "event_pauses",
    "mirror_records",
    "activations",
    "campaign_members",
}


@dataclass
class PgSchemas:
    """Creates throw-away schemas in the shared database and drops them all at the end."""

    admin: Engine
    base_url: str
    prefix: str
    created: list[str]

    def new(self, suffix: str = "") -> tuple[str, str]:
        """A freshly created empty schema and a URL whose search_path points at it."""
        name = f"{self.prefix}{suffix}"
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{name}"')
        self.created.append(name)
        url = make_url(self.base_url).update_query_dict({"options": f"-csearch_path={name}"})
        return url.render_as_string(hide_password=False), name

    def drop(self, name: str) -> None:
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        self.created.remove(name)
