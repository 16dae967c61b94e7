"""Alerts: a notification when something needs an admin, and one when it is over.

Four conditions per CRM — the last run failed or stopped, a run's rejected rows above a
threshold, open dead letters above a threshold, the event inbox lagging — each with a
status kept in the state store. A notification goes out when a status changes (to
firing, or back to ok: the recovery), never once per run, and from exactly one process
however many see the change. Channels come from settings: Slack, a signed JSON
webhook, email over SMTP.
"""

from workers.alerts.alert import Alert
from workers.alerts.channels import channels_from
from workers.alerts.conditions import after_run, check_backlog

__all__ = ["Alert", "after_run", "channels_from", "check_backlog"]
