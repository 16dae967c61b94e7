"""The playbook: segmentation models declared in YAML, compiled to polars expressions.

A playbook file declares, per model, ordered rules (first match wins) and a
fallback value::

    version: 1
    name: b2b_saas
    models:
      firmographic:
        rules:
          - name: enterprise
            when: {field: employees, gte: 1000}
        fallback: smb

:func:`parse_playbook` validates text (errors carry file, line and column);
:func:`compile_model` turns a model into two polars expressions — the segment and
the reason — evaluated over the whole frame at once. Nothing here reads files
except :func:`load_playbook`, the one-line convenience for callers.
"""

from segmentation.playbook.compile import compile_condition, compile_model, compile_playbook
from segmentation.playbook.condition import Condition
from segmentation.playbook.dates import Duration
from segmentation.playbook.describe import describe_condition
from segmentation.playbook.errors import PlaybookError, PlaybookIssue
from segmentation.playbook.limits import MAX_PLAYBOOK_BYTES, MAX_RULES
from segmentation.playbook.model import (
    LIFECYCLE_ORDER,
    STANDARD_MODELS,
    FieldSpec,
    ModelOptions,
    Playbook,
    Rule,
    RuleModel,
)
from segmentation.playbook.operators import OPERATORS
from segmentation.playbook.parse import load_playbook, parse_playbook, read_playbook_file
from segmentation.playbook.render import PERSONAL_FIELDS
from segmentation.playbook.schema import playbook_json_schema

__all__ = [
    "LIFECYCLE_ORDER",
    "MAX_PLAYBOOK_BYTES",
    "MAX_RULES",
    "OPERATORS",
    "PERSONAL_FIELDS",
    "STANDARD_MODELS",
    "Condition",
    "Duration",
    "FieldSpec",
    "ModelOptions",
    "Playbook",
    "PlaybookError",
    "PlaybookIssue",
    "Rule",
    "RuleModel",
    "compile_condition",
    "compile_model",
    "compile_playbook",
    "describe_condition",
    "load_playbook",
    "parse_playbook",
    "playbook_json_schema",
    "read_playbook_file",
]
