"""What activation wants in the CRM: one list or campaign per segment of each marked model."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from segmentation.playbook import Playbook
from workers.state.activations import Activation
from workers.sync.outputs import segment_outputs

Kind = Literal["list", "campaign"]
SEPARATOR = " · "
# Salesforce's Campaign.Name holds 80 characters; HubSpot list names are kept as short.
MAX_NAME = 80
OBJECT_SUFFIX = {"contact": "", "company": f"{SEPARATOR}companies"}
ACTIONS = ("create", "adopt", "update", "rename", "delete", "stale", "keep")


class ActivationError(RuntimeError):
    """Activation cannot go on; the message names what to do."""


@dataclass(frozen=True, slots=True)
class Wanted:
    """One segment's list or campaign as the playbook asks for it."""

    kind: Kind
    model: str
    object_type: str  # contact or company; a campaign's people are contacts and leads
    segment: str
    name: str
    field: str  # the CRM's name of the model's segment field

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.model, self.object_type, self.segment)

    def kept_as(self, remote_id: str) -> Activation:
        """The state store's record of this segment's list or campaign."""
        return Activation(
            self.kind, self.model, self.object_type, self.segment, remote_id, self.name
        )


def activation_name(model: str, segment: str, object_type: str = "contact") -> str:
    """``segsync · <model> · <segment>`` (`` · companies`` for a company list)."""
    return f"segsync{SEPARATOR}{model}{SEPARATOR}{segment}{OBJECT_SUFFIX[object_type]}"


def wanted(playbook: Playbook, kind: Kind, field_name: Callable[[str], str]) -> list[Wanted]:
    """Every list (HubSpot) or campaign (Salesforce) the playbook marks, in playbook order.

    Lists are kept for contacts and, where the model segments them, companies; a
    campaign's members are people. A name too long for the CRM stops before any call.
    """
    flag = "lists" if kind == "list" else "campaigns"
    marked = {name for name, model in playbook.models.items() if flag in model.activate}
    objects = ("contact", "company") if kind == "list" else ("contact",)
    out: list[Wanted] = []
    for object_type in objects:
        engine_object: Literal["contact", "company"] = (
            "company" if object_type == "company" else "contact"
        )
        for output in segment_outputs(playbook, engine_object):
            if output.name not in marked:
                continue
            for segment in output.options:
                name = activation_name(output.name, segment, object_type)
                if len(name) > MAX_NAME:
                    raise ActivationError(
                        f"model {output.name}, segment {segment}: the {kind} name {name!r} is "
                        f"{len(name)} characters, more than the {MAX_NAME} the CRM keeps; "
                        "shorten the segment's value in the playbook"
                    )
                field = field_name(output.name)
                out.append(Wanted(kind, output.name, object_type, segment, name, field))
    return out


def renamed_segments(
    missing: list[Wanted], stale: list[tuple[str, str, str]]
) -> dict[tuple[str, str, str], tuple[str, str, str]]:
    """New key -> old key where a model (per object type) lost exactly one segment and
    gained exactly one: the playbook renamed it, so its list or campaign moves with it
    (the CRM workflows built on it keep working) rather than being replaced."""
    renamed = {}
    for w in missing:
        gone = [key for key in stale if key[:2] == w.key[:2]]
        new = [m for m in missing if m.key[:2] == w.key[:2]]
        if len(gone) == 1 and len(new) == 1:
            renamed[w.key] = gone[0]
    return renamed


@dataclass
class Step:
    """One thing done (or, in a dry run, to do) to one segment's list or campaign."""

    action: str  # create, adopt, update, rename, delete, stale, keep
    model: str
    object_type: str
    segment: str
    name: str
    remote_id: str | None = None
    detail: str = ""

    @classmethod
    def wanted(cls, action: str, w: Wanted, remote_id: str | None = None, detail: str = "") -> Step:
        """A step on a segment the playbook asks for."""
        return cls(action, w.model, w.object_type, w.segment, w.name, remote_id, detail)

    @classmethod
    def kept(cls, action: str, a: Activation, detail: str = "") -> Step:
        """A step on a list or campaign segsync keeps (a segment the playbook dropped)."""
        return cls(action, a.model, a.object_type, a.segment, a.name, a.remote_id, detail)

    def as_dict(self, id_key: str) -> dict[str, Any]:
        """JSON-ready, the CRM's id under ``list_id`` or ``campaign_id``."""
        return {
            "action": self.action,
            "model": self.model,
            "object_type": self.object_type,
            "segment": self.segment,
            "name": self.name,
            id_key: self.remote_id,
            "detail": self.detail,
        }


@dataclass
class Report:
    """What an activation did or would do: its steps and the API calls they took."""

    dry_run: bool
    steps: list[Step] = field(default_factory=list)
    calls: int = 0
    # The step actions that write to the CRM.
    WRITE_ACTIONS: ClassVar[tuple[str, ...]] = ("create", "update", "rename", "delete")

    def count(self, action: str) -> int:
        return sum(1 for s in self.steps if s.action == action)

    @property
    def writes(self) -> int:
        """Writes made (or planned)."""
        return sum(self.count(a) for a in self.WRITE_ACTIONS)

    def details(self) -> dict[str, Any]:
        """What this kind of activation reports beyond its steps."""
        return {}

    def summary(self, crm: str, kind: str, id_key: str) -> dict[str, Any]:
        """JSON-ready, each step's CRM id under ``id_key``."""
        return {
            "crm": crm,
            "kind": kind,
            "dry_run": self.dry_run,
            "steps": [s.as_dict(id_key) for s in self.steps],
            "counts": {a: self.count(a) for a in ACTIONS},
            **self.details(),
            "writes": self.writes,
            "api_calls": self.calls,
        }
