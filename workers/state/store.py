"""The state store: :class:`StateStore`, assembled from one mixin per concept.

Each mixin (``runs``, ``written``, ``deadletters``, ``models``, ``inbox``, ``locks``,
``alerts``, ``activations``) adds the methods of one part of the state on top of
:class:`~workers.state.base.StoreBase`, which owns the engine, the transactions and the
schema.
"""

from __future__ import annotations

from functools import cached_property

from workers.state.activations import ActivationsMixin
from workers.state.alerts import AlertsMixin
from workers.state.base import StoreBase
from workers.state.deadletters import DeadLettersMixin
from workers.state.inbox import InboxMixin
from workers.state.locks import LocksMixin
from workers.state.mirror import Mirror
from workers.state.models import ModelStateMixin
from workers.state.runs import RunsMixin
from workers.state.written import WrittenMixin


class StateStore(
    RunsMixin,
    WrittenMixin,
    DeadLettersMixin,
    ModelStateMixin,
    InboxMixin,
    LocksMixin,
    AlertsMixin,
    ActivationsMixin,
    StoreBase,
):
    """segsync's relational state, on SQLite or PostgreSQL.

    Every method runs in its own short transaction and commits before returning, so
    callers can rely on "returned means stored" (the inbox depends on that). Call
    :meth:`migrate` once at start-up before using the other methods.
    """

    @cached_property
    def mirror(self) -> Mirror:
        """The minimised copy of the CRM (``workers/state/mirror.py``)."""
        return Mirror(self)
