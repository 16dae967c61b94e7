"""workers.playbook_check: a playbook checked against what a CRM's field map yields."""

from __future__ import annotations

from typing import Any

import pytest

from segmentation.playbook import PlaybookError, parse_playbook
from workers.fieldmap import load_field_map
from workers.playbook_check import check_playbook, validate_against
from workers.sync.mirror_pull import pull_population

TYPO = """\
version: 1
name: typo
models:
  demographic:
    rules:
      - {name: leader, when: {field: seniorty, eq: vp}}
    fallback: other
"""


class Untouchable:
    """A connector and a state store in one that fails the test if a run uses it."""

    crm = "hubspot"

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the run called {name} before refusing the playbook")


def test_a_sync_refuses_a_bad_playbook_before_reading_anything() -> None:
    book = parse_playbook(TYPO, source="typo.yaml")
    with pytest.raises(PlaybookError) as caught:
        pull_population(Untouchable(), Untouchable(), book, full=True)
    assert str(caught.value) == (
        "typo.yaml:6:38: unknown field 'seniorty' in rule leader of model demographic"
        " — did you mean 'seniority'?"
    )


def test_check_and_run_agree_on_the_shipped_playbooks() -> None:
    for name in ("b2b_saas", "b2c_retail"):
        checked = check_playbook(name)
        assert checked.crms == ("hubspot", "salesforce")
        for crm in checked.crms:
            validate_against(checked.playbook, load_field_map(crm))
