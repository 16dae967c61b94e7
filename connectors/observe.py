"""Every response a CRM sends, for whoever listens (the workers' metrics).

The connectors do not know about metrics; they let listeners watch their HTTP sessions.
A listener that fails is ignored: observing a call never changes it.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from typing import Any

import requests

CallListener = Callable[[str, requests.Response], None]
_listeners: list[CallListener] = []


def listen(listener: CallListener) -> None:
    """Call ``listener(crm, response)`` for every response of every watched session."""
    if listener not in _listeners:
        _listeners.append(listener)


def watch(session: requests.Session, crm: str) -> requests.Session:
    """Report this session's responses (every attempt of a retried call) to the listeners."""

    def report(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        for listener in tuple(_listeners):
            with suppress(Exception):  # a listener must not change the call
                listener(crm, response)

    if getattr(session, "_segsync_watched", None) != crm:  # a session shared by connectors
        session.hooks["response"].append(report)
        session._segsync_watched = crm  # type: ignore[attr-defined]
    return session
