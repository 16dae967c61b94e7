"""The write-back diff, lifecycle planning and output fields, on small frames."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from connectors.salesforce.schema import field_api_name
from workers.sync.diff import diff_values, written_frame
from workers.sync.lifecycle import lifecycle_field, plan_lifecycle
from workers.sync.outputs import field_specs, is_companion, output_values
from workers.sync.plan import load_playbook

RUN_AT = datetime(2026, 11, 23, 8, 30, tzinfo=UTC)


def native(name: str) -> str:
    return f"segsync_{name}"


def _diff(values: dict[str, list[str | None]], written: dict[str, dict[str, str | None]]):  # type: ignore[no-untyped-def]
    return diff_values(
        "contact",
        pl.DataFrame(values),
        written_frame(written),
        native=native,
        tracked=["tier"],
        run_at=RUN_AT,
    )


def test_only_changed_fields_are_written_with_entered_at_previous_and_updated_at() -> None:
    diff = _diff(
        {
            "id": ["1", "2"],
            "tier": ["gold", "gold"],
            "tier_reason": ["r", "r"],
            "clv_12m": ["5", "7"],
        },
        {
            "1": {"segsync_tier": "gold", "segsync_tier_reason": "r", "segsync_clv_12m": "5"},
            "2": {"segsync_tier": "silver", "segsync_tier_reason": "old", "segsync_clv_12m": "7"},
        },
    )
    assert [w.record_id for w in diff.writes] == ["2"]
    assert diff.writes[0].fields == {
        "segsync_tier": "gold",
        "segsync_tier_reason": "r",
        "segsync_tier_entered_at": "2026-11-23T08:30:00Z",
        "segsync_tier_previous": "silver",
        "segsync_updated_at": "2026-11-23T08:30:00Z",
    }
    assert diff.transitions == {"tier": {"silver -> gold": 1}}
    assert diff.unchanged == 4 and diff.compared == 6


def test_a_reworded_reason_alone_is_not_worth_a_write() -> None:
    diff = _diff(
        {"id": ["1"], "tier": ["gold"], "tier_reason": ["new wording"]},
        {"1": {"segsync_tier": "gold", "segsync_tier_reason": "old wording"}},
    )
    assert diff.writes == []


def test_null_clears_what_was_written_but_never_clears_what_was_not() -> None:
    diff = _diff(
        {"id": ["1", "2"], "tier": [None, None], "clv_12m": [None, None]},
        {"1": {"segsync_tier": "gold", "segsync_clv_12m": "5"}},
    )
    assert [w.record_id for w in diff.writes] == ["1"]
    fields = diff.writes[0].fields
    assert fields["segsync_tier"] == "" and fields["segsync_clv_12m"] == ""
    assert fields["segsync_tier_previous"] == "gold"


def test_crm_owned_field_left_null_is_not_cleared() -> None:
    diff = diff_values(
        "contact",
        pl.DataFrame({"id": ["1", "2"], "lifecyclestage": [None, "customer"]}),
        written_frame({"1": {"lifecyclestage": "lead"}}),
        native=lambda n: n,
        tracked=[],
        run_at=RUN_AT,
        keep_when_null={"lifecyclestage"},
    )
    assert [(w.record_id, w.fields["lifecyclestage"]) for w in diff.writes] == [("2", "customer")]


def _stages(segments: list[str], current: list[str | None], allow: bool):  # type: ignore[no-untyped-def]
    frame = pl.DataFrame(
        {
            "id": [str(i) for i in range(len(segments))],
            "segment_lifecycle": segments,
            "lifecycle_stage": current,
        }
    )
    target = lifecycle_field("hubspot", "contact")
    assert target is not None
    return plan_lifecycle(frame, "hubspot", target, allow_backward=allow)


def test_lifecycle_moves_forward_only_unless_the_playbook_allows_backward() -> None:
    segments = ["customer", "lead", "mql", "sql", "lead"]
    current = ["lead", "customer", "marketingqualifiedlead", "other", None]
    plan = _stages(segments, current, allow=False)
    # forward move written; same stage skipped; unknown current stage left alone
    assert plan.values.rows() == [("0", "customer"), ("4", "lead")]
    assert plan.skipped_backward == 1 and plan.backward == []
    allowed = _stages(segments, current, allow=True)
    assert ("1", "lead") in allowed.values.rows() and allowed.backward == ["1"]
    assert allowed.skipped_backward == 0


def test_salesforce_lifecycle_goes_to_lead_status_only() -> None:
    assert lifecycle_field("salesforce", "contact") is None
    target = lifecycle_field("salesforce", "lead")
    assert target is not None and target.native == "Status"


@pytest.mark.parametrize("book", ["b2b_saas", "b2c_retail"])
def test_field_specs_cover_every_output_and_fit_salesforce_names(book: str) -> None:
    playbook = load_playbook(book)
    specs = {s.name: s for s in field_specs(playbook, "contact")}
    assert {"lifecycle", "lifecycle_reason", "lifecycle_entered_at", "lifecycle_previous"} <= set(
        specs
    )
    assert {"rfm", "value_tier", "clv_12m", "rfm_score", "updated_at"} <= set(specs)
    lifecycle = specs["lifecycle"]
    assert lifecycle.type == "enumeration" and "customer" in lifecycle.options
    for name in specs:
        assert len(field_api_name(name)) <= 40, name
    if book == "b2c_retail":
        assert "holdout" in specs and "cluster" in specs
        # Cluster values are stable ids, so the dropdown is complete before any run (k: 5).
        cluster = specs["cluster"]
        assert cluster.type == "enumeration"
        assert cluster.options == tuple(f"cluster_{i}" for i in range(1, 6))
    assert field_specs(playbook, "deal") == []


def test_a_chosen_k_gets_an_option_for_every_id_it_may_use() -> None:
    from segmentation.playbook import parse_playbook

    book = parse_playbook("version: 1\nname: c\nmodels: {}\nclustering: {numeric: [age, income]}\n")
    cluster = {s.name: s for s in field_specs(book, "contact")}["cluster"]
    assert cluster.options == tuple(f"cluster_{i}" for i in range(1, 9))


def test_a_reason_longer_than_salesforce_text_is_cut_and_marked() -> None:
    # A 300-character reason (many keywords, long text values) would be rejected by a
    # Salesforce Text(255) field and dead-letter the record's whole write.
    playbook = load_playbook("b2b_saas")
    frame = pl.DataFrame(
        {
            "id": [1, 2],
            "segment_needs_based": ["analytics_reporting", "data_quality"],
            "reason_needs_based": ["analytics_reporting: " + "x" * 300, "data_quality: short"],
        }
    )
    reasons = output_values(frame, playbook, "contact")["needs_based_reason"].to_list()
    assert len(reasons[0]) == 255 and reasons[0].endswith("…")
    assert reasons[0].startswith("analytics_reporting: xxx")
    assert reasons[1] == "data_quality: short"


def test_output_values_are_text_and_companions_are_recognised() -> None:
    playbook = load_playbook("b2b_saas")
    frame = pl.DataFrame(
        {
            "id": [1, 2],
            "segment_demographic": ["executive", None],
            "reason_demographic": ["matched", None],
            "clv_12m": [12.3456, None],
            "r_score": [5, 1],
            "f_score": [4, 1],
            "m_score": [3, 2],
        }
    )
    values = output_values(frame, playbook, "contact")
    assert values.rows() == [
        ("1", "executive", "matched", "12.35", "543"),
        ("2", None, None, None, "112"),
    ]
    assert is_companion("segsync_tier_entered_at") and is_companion("Segsync_Tier_Previous__c")
    assert is_companion("segsync_updated_at") and not is_companion("segsync_tier_reason")


def test_a_clv_the_model_could_not_compute_clears_the_field_instead_of_sending_nan() -> None:
    playbook = load_playbook("b2b_saas")
    frame = pl.DataFrame(
        {"id": [1, 2, 3, 4], "clv_12m": [float("nan"), float("inf"), 120.456, None]}
    )
    values = output_values(frame, playbook, "contact")["clv_12m"].to_list()
    assert values == [None, None, "120.46", None]
