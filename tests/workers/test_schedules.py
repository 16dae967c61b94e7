"""Cron schedules per CRM: beat follows them; a wrong one stops start-up, saying where."""

from __future__ import annotations

import pytest
from celery.schedules import crontab
from click.testing import CliRunner
from pydantic import ValidationError

from workers.celery_app import beat_schedule
from workers.cli.main import main
from workers.settings import Settings


def test_beat_follows_each_crms_cron_and_the_simple_settings_elsewhere() -> None:
    settings = Settings(
        crms=["hubspot", "salesforce"],
        sync_interval_minutes=20,
        full_sync_hour=4,
        schedules={
            "hubspot": {"incremental": "*/10 8-18 * * 1-5", "reconcile": "0 3 1 * *"},
            "salesforce": {"full": "30 1 * * *"},
        },
    )
    schedule = beat_schedule(settings)
    assert schedule["hubspot-incremental"]["schedule"] == crontab(
        minute="*/10", hour="8-18", day_of_week="1-5"
    )
    assert schedule["hubspot-weekly-reconcile"]["schedule"] == crontab(
        minute="0", hour="3", day_of_month="1"
    )
    assert schedule["hubspot-weekly-reconcile"]["kwargs"] == {"crm": "hubspot", "full": True}
    assert schedule["hubspot-nightly-resegment"]["schedule"] == crontab(minute=0, hour=4)
    assert schedule["salesforce-incremental"]["schedule"] == 20 * 60.0
    assert schedule["salesforce-nightly-resegment"]["schedule"] == crontab(minute="30", hour="1")
    assert schedule["salesforce-nightly-resegment"]["kwargs"] == {
        "crm": "salesforce",
        "from_mirror": True,
    }


@pytest.mark.parametrize(
    ("schedules", "message"),
    [
        ('{"hubspot": {"full": "0 25 * * *"}}', "hubspot.full: '0 25 * * *': hour '25'"),
        ('{"hubspot": {"incremental": "*/15 * * *"}}', "has 4 fields; cron needs 5"),
        ('{"salesforce": {"reconcile": "0 2 * * mon-xyz"}}', "day of week 'mon-xyz'"),
        ('{"hubspot": {"nightly": "0 2 * * *"}}', "SEGSYNC_SCHEDULES"),
        ('{"pipedrive": {"full": "0 2 * * *"}}', "SEGSYNC_SCHEDULES"),
    ],
)
def test_a_wrong_schedule_stops_start_up_with_one_line(
    schedules: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEGSYNC_SCHEDULES", schedules)
    with pytest.raises(ValidationError):
        Settings()
    result = CliRunner().invoke(main, ["beat"])
    assert result.exit_code == 2
    assert message in result.output and "SEGSYNC_SCHEDULES" in result.output
    assert "Traceback" not in result.output
