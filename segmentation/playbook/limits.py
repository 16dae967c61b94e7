"""Bounds on what a playbook may be, so that a wrong or hostile file is refused early.

Real playbooks are a few KB with a few dozen rules. Without bounds a 50 MB file took
204 s and 5.9 GB to reject, and a YAML alias bomb (a few lines whose aliases repeat
each other into millions of values) 52 s and 2.2 GB. Each bound is far above any real
playbook and is checked before the work it protects: the size before the file is
read, nesting and alias expansion while the YAML is composed (before any value is
built), the rule count before anything is compiled.
"""

from __future__ import annotations

MAX_PLAYBOOK_BYTES = 1024 * 1024
"""Largest playbook file (UTF-8 bytes): 1 MiB, a few hundred times a real playbook."""

MAX_YAML_VALUES = 100_000
"""Most YAML values (scalars, lists, mappings) a playbook may hold once aliases are
expanded; the shipped playbooks hold about 600."""

MAX_NESTING = 64
"""Deepest nesting of YAML lists and mappings (the shipped playbooks reach 11)."""

MAX_RULES = 1_000
"""Most rules in one playbook, all models together (the shipped playbooks have 39)."""

MAX_SEGMENT_VALUE_LENGTH = 255
"""Longest segment value: Salesforce picklist values hold 255 characters (HubSpot more)."""

MAX_SEGMENT_VALUES = 1_000
"""Most distinct values one model may assign: a Salesforce restricted picklist holds
1,000 (HubSpot 5,000)."""


def size_text(size: int) -> str:
    """A byte count for people: ``52.4 MB``, ``3.1 KB``, ``12 bytes``."""
    if size >= 1_000_000:
        return f"{size / 1_000_000:.1f} MB"
    if size >= 1_000:
        return f"{size / 1_000:.1f} KB"
    return f"{size} bytes"
