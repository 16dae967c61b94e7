"""The shipped playbooks on the sandbox's seeded data: 3-8 segments per model, none under 2%."""

from __future__ import annotations

import pytest

from benchmarks.segment_sandbox import ANCHOR, check_tables, seeded
from segmentation.engine import available_fields, segment
from segmentation.playbook import STANDARD_MODELS, parse_playbook
from workers.offline import SHIPPED_PLAYBOOKS, load_shipped, playbook_source

SAMPLE = 5_000  # contacts; small enough to be quick, big enough for stable shares


@pytest.mark.parametrize(("name", "mode"), [("b2b_saas", "b2b"), ("b2c_retail", "b2c")])
def test_default_playbook_segments_the_sandbox_sensibly(name: str, mode: str) -> None:
    frames = seeded(mode, SAMPLE)
    result = segment(
        frames["contacts"],
        frames["companies"],
        frames.get("deals"),
        frames.get("orders"),
        playbook=load_shipped(name),
        now=ANCHOR,
    )
    tables = result.summary["segments"]["contacts"]
    assert set(tables) - {"rfm", "value_tier", "cluster"} == set(STANDARD_MODELS)
    assert check_tables(result.summary, "contacts") == []
    assert check_tables(result.summary, "companies") == []


@pytest.mark.parametrize("name", SHIPPED_PLAYBOOKS)
def test_shipped_playbooks_validate_against_the_known_fields(name: str) -> None:
    frames = seeded("b2b", 50)
    source, text = playbook_source(name)
    known = available_fields(frames["contacts"].schema, frames["companies"].schema)
    book = parse_playbook(text, source=source, known_fields=known)
    assert list(book.models) == list(STANDARD_MODELS)
    assert book.models["lifecycle"].options.forward_only
