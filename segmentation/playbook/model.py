"""The playbook document: rule-based models, declared fields, statistical sections.

These pydantic models are the single source of the file format — the parser
validates against them and :func:`~segmentation.playbook.schema.playbook_json_schema`
exports them for editors. Cross-references (unique rule names, rule values inside
a stage ``order``, unique output fields) are checked by the parser, which can point
at the exact line.
"""

from __future__ import annotations

from typing import Any, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator
from pydantic.json_schema import SkipJsonSchema

from segmentation.playbook.condition import Condition
from segmentation.playbook.yaml_marks import Position

STANDARD_MODELS = (
    "demographic",
    "firmographic",
    "geographic",
    "behavioral",
    "psychographic",
    "needs_based",
    "technographic",
    "lifecycle",
)
LIFECYCLE_ORDER = ("subscriber", "lead", "mql", "sql", "opportunity", "customer", "evangelist")
IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_]*$"
MODEL_NAME = r"^[a-z][a-z0-9_]*$"

FieldType = Literal[
    "string", "integer", "number", "boolean", "date", "datetime", "list[string]", "list[integer]"
]
_POLARS_TYPES: dict[str, pl.DataType] = {
    "string": pl.String(),
    "integer": pl.Int64(),
    "number": pl.Float64(),
    "boolean": pl.Boolean(),
    "date": pl.Date(),
    "datetime": pl.Datetime("us", "UTC"),
    "list[string]": pl.List(pl.String()),
    "list[integer]": pl.List(pl.Int64()),
}


class _Closed(BaseModel):
    # Unknown keys are errors so that a typo ("fallbak") never silently does nothing.
    model_config = ConfigDict(extra="forbid", validate_by_name=True, validate_by_alias=True)


class _Open(BaseModel):
    # Sections another issue defines in full: typed where known, open for the rest.
    model_config = ConfigDict(extra="allow", validate_by_name=True, validate_by_alias=True)

    enabled: bool = Field(True, description="Whether the engine computes this section.")
    description: str | None = Field(None, description="What this section is for.")


class Rule(_Closed):
    """One named rule: when ``when`` holds (and no earlier rule did), the record gets ``value``."""

    name: str = Field(
        description="Unique within the model; names the rule in playbook errors.",
        min_length=1,
    )
    value: str | None = Field(
        None, description="The segment value this rule assigns; defaults to the rule's name."
    )
    when: Condition = Field(description="The condition a record must meet.")
    description: str | None = Field(None, description="Why this rule exists, for people.")
    min_share: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Smallest acceptable share of records with this value (0-1), for validation.",
    )

    _position: Position | None = PrivateAttr(default=None)

    @property
    def segment(self) -> str:
        """The value assigned when this rule matches."""
        return self.value if self.value is not None else self.name

    @property
    def position(self) -> Position | None:
        """Where the rule starts in the YAML, when it was parsed from text."""
        return self._position


class ModelOptions(BaseModel):
    """A rule model's options, resolved (lifecycle defaults applied)."""

    model_config = ConfigDict(frozen=True)

    forward_only: bool
    order: tuple[str, ...] | None
    min_share: float | None


class RuleModel(_Closed):
    """A segmentation model: ordered rules (first match wins) and a fallback value."""

    # The key under 'models'; not written inside the model itself, hence not in the schema.
    name: SkipJsonSchema[str] = Field("", exclude=True)
    description: str | None = Field(None, description="What this model segments by.")
    output: str | None = Field(
        None, pattern=IDENTIFIER, description="Output field name; default segment_<model>."
    )
    rules: list[Rule] = Field(min_length=1, description="Tried in order; the first match wins.")
    fallback: str | None = Field(
        description="Value when no rule matches; null leaves the segment empty.",
    )
    forward_only: bool | None = Field(
        None,
        description="Stage gates: a record never moves back along 'order' "
        "(default true for the lifecycle model, false otherwise).",
    )
    order: list[str] | None = Field(
        None,
        min_length=2,
        description="Stage order, earliest first; every rule value and the fallback must be in it. "
        "The lifecycle model defaults to " + ", ".join(LIFECYCLE_ORDER) + ".",
    )
    min_share: float | None = Field(
        None, ge=0, le=1, description="Smallest acceptable share of records per segment (0-1)."
    )
    applies_to: list[Literal["contact", "company"]] | None = Field(
        None,
        min_length=1,
        description="Object types this model segments (default: what the model suits, e.g. "
        "demographic runs on contacts only).",
    )
    activate: list[Literal["lists", "campaigns"]] = Field(
        default_factory=list,
        description="Where `segsync activate` puts each segment for marketers: 'lists' keeps "
        "one HubSpot active list per segment, 'campaigns' one Salesforce campaign per segment "
        "with its members (default: neither).",
    )

    _position: Position | None = PrivateAttr(default=None)

    @property
    def position(self) -> Position | None:
        """Where the model's name (its key under ``models``) is, when parsed from text."""
        return self._position

    @property
    def resolved_output(self) -> str:
        """The output column: ``output`` or ``segment_<name>``."""
        return self.output or f"segment_{self.name}"

    @property
    def reason_output(self) -> str:
        """The reason column: ``reason_<name>``."""
        return f"reason_{self.name}"

    @property
    def options(self) -> ModelOptions:
        """``forward_only``/``order``/``min_share`` with the lifecycle defaults applied."""
        is_lifecycle = self.name == "lifecycle"
        forward = self.forward_only if self.forward_only is not None else is_lifecycle
        default = LIFECYCLE_ORDER if is_lifecycle and forward else None
        order = tuple(self.order) if self.order else default
        return ModelOptions(forward_only=forward, order=order, min_share=self.min_share)

    def values(self) -> list[str]:
        """Every value this model can assign, rules first, fallback last, without repeats."""
        seen = dict.fromkeys(rule.segment for rule in self.rules)
        if self.fallback is not None:
            seen.setdefault(self.fallback)
        return list(seen)

    def fields_used(self) -> set[str]:
        """Every field this model's rules test."""
        found: set[str] = set()
        for rule in self.rules:
            found |= rule.when.fields_used()
        return found


class FieldSpec(_Closed):
    """A field the playbook reads that is not canonical or enriched (a custom CRM field)."""

    type: FieldType = Field(description="The field's type; inputs are cast to it.")
    description: str | None = None
    personal: bool = Field(
        False, description="Personal data: its values never appear in reason strings."
    )

    @property
    def dtype(self) -> pl.DataType:
        """The polars type this field is cast to."""
        return _POLARS_TYPES[self.type]


class RfmCell(_Closed):
    """A named range of the R x F grid (scores inclusive)."""

    name: str = Field(pattern=IDENTIFIER)
    recency: tuple[int, int] = Field(description="[lowest, highest] R score.")
    frequency: tuple[int, int] = Field(description="[lowest, highest] F score.")


class RfmSection(_Open):
    """Recency/frequency/monetary scoring over a window, scores 1..bins."""

    window_days: int | None = Field(365, ge=1, description="Look-back window; null = all.")
    bins: int = Field(5, ge=2, le=10, description="Score levels (quintiles by default).")
    segments: list[RfmCell] | None = Field(
        None, description="Named R x F cells, first match wins; default: the 11-segment map."
    )


class ClvSection(_Open):
    """Predictive customer lifetime value (BG/NBD + Gamma-Gamma)."""

    months: int = Field(12, ge=1, le=120, description="Prediction horizon in months.")
    monthly_discount_rate: float = Field(0.01, ge=0, le=1)


class ValueTier(_Closed):
    """Records worth at least ``minimum`` (tiers are tested highest first)."""

    name: str = Field(pattern=IDENTIFIER)
    minimum: float = Field(ge=0)


class ValueTiersSection(_Open):
    """Value-based tiers: by won revenue (ACV) for companies, by predicted CLV quantile."""

    tiers: list[ValueTier] | None = Field(
        None, description="ACV tiers; default enterprise >= 50k, mid_market >= 10k, smb > 0."
    )
    fallback: str = Field("long_tail", description="Tier for records below every tier.")
    clv_labels: list[str] | None = Field(
        None, min_length=2, description="CLV quantile tier names, lowest first."
    )


class ClusteringSection(_Open):
    """Data-driven clusters, 3-8 of them (configured by the statistical-models issue)."""


class HoldoutSection(_Open):
    """A control group kept out of segment writes (configured by the statistical-models issue)."""


class Playbook(_Closed):
    """A whole playbook file."""

    model_config = ConfigDict(title="segsync playbook")

    version: Literal[1] = Field(description="Playbook format version; this segsync reads 1.")
    name: str = Field(min_length=1, description="Short name of this playbook, e.g. b2b_saas.")
    description: str | None = Field(None, description="What this playbook is for.")
    fields: dict[str, FieldSpec] = Field(
        default_factory=dict,
        description="Extra input or derived fields the rules use, by name, with their type "
        "(a type name alone is shorthand for {type: ...}).",
    )
    models: dict[str, RuleModel] = Field(
        description="Rule-based models by name (demographic, firmographic, geographic, behavioral, "
        "psychographic, needs_based, technographic, lifecycle, or your own), in file order."
    )
    rfm: RfmSection | None = Field(None, description="RFM (recency, frequency, monetary) scoring.")
    clv: ClvSection | None = Field(None, description="Predictive customer lifetime value.")
    value_tiers: ValueTiersSection | None = Field(None, description="Value-based tiers.")
    clustering: ClusteringSection | None = Field(None, description="Data-driven clusters (3-8).")
    holdout: HoldoutSection | None = Field(
        None, description="A control group whose segments are not written."
    )

    _source: str = PrivateAttr(default="<playbook>")

    @field_validator("fields", mode="before")
    @classmethod
    def _field_shorthand(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: {"type": v} if isinstance(v, str) else v for k, v in value.items()}
        return value

    @field_validator("models", mode="after")
    @classmethod
    def _name_models(cls, value: dict[str, RuleModel]) -> dict[str, RuleModel]:
        for name, model in value.items():
            model.name = name
            # Once the name is known, 'output' holds the resolved column name.
            model.output = model.resolved_output
        return value

    @property
    def source(self) -> str:
        """The file name this playbook was parsed from."""
        return self._source

    def fields_used(self, model_name: str | None = None) -> set[str]:
        """Every field the rules reference — of one model, or of all models."""
        if model_name is not None:
            return self.models[model_name].fields_used()
        found: set[str] = set()
        for model in self.models.values():
            found |= model.fields_used()
        return found

    def personal_fields(self) -> set[str]:
        """Declared fields marked ``personal: true``."""
        return {name for name, spec in self.fields.items() if spec.personal}
