"""``segsync activate``: the dry run shows the plan and writes nothing, the run applies it,
a playbook that marks no model gets one line (exit 2)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tests.harness import TOKEN, hubspot_harness
from workers.cli.main import main
from workers.offline import playbook_source

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("SEGSYNC_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SEGSYNC_DATABASE_URL", f"sqlite:///{tmp_path}/state.db")
    monkeypatch.setenv("SEGSYNC_HUBSPOT_TOKEN", TOKEN)


def segsync(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def test_dry_run_then_run_then_nothing_to_do(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _, text = playbook_source("b2b_saas")
    marked = text.replace("\n  geographic:\n", "\n  geographic:\n    activate: [lists]\n", 1)
    book = tmp_path / "book.yaml"
    book.write_text(marked)
    harness = hubspot_harness(contacts=40, companies=8, deals=8)
    try:
        monkeypatch.setenv("SEGSYNC_HUBSPOT_BASE_URL", harness.server.url)
        assert segsync("schema", "apply", "--playbook", str(book)).exit_code == 0
        preview = segsync("activate", "--dry-run", "--json", "--playbook", str(book))
        assert preview.exit_code == 0, preview.output
        planned = json.loads(preview.output)
        assert planned["dry_run"] and planned["counts"]["create"] == 10  # 5 values x 2 objects
        assert not harness.server.dialect.lists.state.lists  # type: ignore[attr-defined]
        done = segsync("activate", "--playbook", str(book))
        assert done.exit_code == 0, done.output
        assert "10 create" in done.output and "segsync · geographic · emea" in done.output
        again = segsync("activate", "--playbook", str(book))
        assert again.exit_code == 0 and "0 write(s) did go out" in again.output
        unmarked = segsync("activate")
        assert unmarked.exit_code == 2
        assert "marks no model for activation" in unmarked.output
    finally:
        harness.server.stop()
