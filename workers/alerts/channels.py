"""Where alerts go: a Slack incoming webhook, a signed JSON webhook, email over SMTP.

A channel that fails is logged by its name and the error's type only (a Slack webhook
URL is its credential, and HTTP errors repeat URLs) and never fails the run it reports.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import smtplib
import ssl
import time
from collections.abc import Callable
from email.message import EmailMessage
from typing import Protocol

import requests
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from workers.alerts.alert import FIRING, Alert
from workers.settings import Settings

log = logging.getLogger(__name__)
TIMEOUT = (5.0, 10.0)
SIGNATURE_HEADER = "X-Segsync-Signature"


class Channel(Protocol):
    """Sends one alert; raises on failure (the caller retries and logs)."""

    name: str

    def send(self, alert: Alert) -> None: ...


class _Refused(Exception):
    """The receiver answered with a server error: worth another try."""


def _post(url: str, body: bytes, headers: dict[str, str]) -> None:
    answer = requests.post(url, data=body, headers=headers, timeout=TIMEOUT)
    if answer.status_code >= 500 or answer.status_code == 429:
        raise _Refused(f"HTTP {answer.status_code}")
    if answer.status_code >= 400:
        raise RuntimeError(f"HTTP {answer.status_code}")


class SlackChannel:
    """A Slack incoming webhook: ``{"text": ...}``."""

    name = "slack"

    def __init__(self, url: str) -> None:
        self._url = url

    def send(self, alert: Alert) -> None:
        icon = ":rotating_light:" if alert.status == FIRING else ":white_check_mark:"
        text = f"{icon} *{alert.summary}*\n{alert.details}"
        _post(self._url, json.dumps({"text": text}).encode(), {"Content-Type": "application/json"})


class WebhookChannel:
    """Any HTTP endpoint: the alert as JSON, signed like Stripe's webhooks."""

    name = "webhook"

    def __init__(self, url: str, secret: bytes) -> None:
        self._url = url
        self._secret = secret

    def send(self, alert: Alert) -> None:
        body = json.dumps(alert.as_json(), sort_keys=True).encode()
        stamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(self._secret, stamp, body),
        }
        _post(self._url, body, headers)


def sign(secret: bytes, stamp: str, body: bytes) -> str:
    """``t=<stamp>,v1=<hex HMAC-SHA256 of "<stamp>.<body>">``: what a receiver recomputes."""
    digest = hmac.new(secret, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"


class EmailChannel:
    """Email over SMTP, upgraded with STARTTLS unless told not to."""

    name = "email"

    def __init__(self, settings: Settings) -> None:
        assert settings.alert_smtp_host is not None
        self._settings = settings

    def send(self, alert: Alert) -> None:
        s = self._settings
        message = EmailMessage()
        message["Subject"] = alert.summary
        message["From"] = s.alert_email_from
        message["To"] = ", ".join(s.alert_email_to)
        message.set_content(f"{alert.details}\n\n-- segsync ({alert.crm}, {alert.condition})\n")
        with smtplib.SMTP(str(s.alert_smtp_host), s.alert_smtp_port, timeout=TIMEOUT[1]) as smtp:
            if s.alert_smtp_starttls:
                # Verified: smtplib's default context checks no certificate at all.
                smtp.starttls(context=ssl.create_default_context(cafile=s.alert_smtp_ca_file))
            if s.alert_smtp_username and s.alert_smtp_password is not None:
                smtp.login(s.alert_smtp_username, s.alert_smtp_password.get_secret_value())
            smtp.send_message(message)


def channels_from(settings: Settings) -> list[Channel]:
    """The channels the settings configure (none: alerts are only logged)."""
    channels: list[Channel] = []
    if settings.alert_slack_webhook_url is not None:
        channels.append(SlackChannel(settings.alert_slack_webhook_url.get_secret_value()))
    if settings.alert_webhook_url and settings.alert_webhook_secret is not None:
        secret = settings.alert_webhook_secret.get_secret_value().encode()
        channels.append(WebhookChannel(settings.alert_webhook_url, secret))
    if settings.alert_smtp_host:
        channels.append(EmailChannel(settings))
    return channels


def deliver(channels: list[Channel], alert: Alert, attempts: int = 3) -> list[str]:
    """Send to every channel, a few tries each; the names of those that took it."""
    sent = []
    for channel in channels:
        retrying = Retrying(
            retry=retry_if_exception_type((_Refused, OSError)),  # requests' and smtplib's errors
            stop=stop_after_attempt(attempts),
            wait=wait_exponential(multiplier=0.5, max=4),
            reraise=True,
        )
        send: Callable[[Alert], None] = channel.send
        try:
            retrying(send, alert)
        except Exception as exc:  # an alert channel down must not fail the run
            log.warning(
                "alert %s/%s not sent to %s: %s",
                alert.crm,
                alert.condition,
                channel.name,
                type(exc).__name__,
            )
        else:
            sent.append(channel.name)
    return sent
