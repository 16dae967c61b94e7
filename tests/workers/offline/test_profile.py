"""`segsync segment --profile`: profiles, validation and holdouts on sandbox-shaped data."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
from click.testing import CliRunner

from benchmarks.segment_sandbox import ANCHOR, seeded
from workers.cli.main import main


def test_profile_file_has_every_model_with_sizes_revenue_clv_and_validation(
    tmp_path: Path,
) -> None:
    frames = seeded("b2c", 3_000)
    paths = {}
    for label, frame in frames.items():
        paths[label] = tmp_path / f"{label}.parquet"
        frame.write_parquet(paths[label])
    output, profile = tmp_path / "out.parquet", tmp_path / "profile.json"
    args = [
        "segment",
        "--input",
        str(paths["contacts"]),
        "--companies",
        str(paths["companies"]),
        "--orders",
        str(paths["orders"]),
        "--output",
        str(output),
        "--playbook",
        "b2c_retail",
        "--profile",
        str(profile),
        "--now",
        ANCHOR.strftime("%Y-%m-%dT%H:%M:%S"),
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    report = json.loads(profile.read_text())
    models = report["contacts"]["models"]
    assert {"lifecycle", "behavioral", "rfm", "value_tier"} <= set(models)
    for name, model in models.items():
        shares = sum(s["share"] for s in model["segments"])
        assert abs(shares - 1) < 1e-6, name
        for segment in model["segments"]:
            assert set(segment["validation"]) == {
                "measurable",
                "substantial",
                "accessible",
                "differentiable",
                "actionable",
            }
    tiers = models["value_tier"]["segments"]
    assert any(s["clv_mean"] is not None and s["clv_mean"] > 0 for s in tiers)
    written = pl.read_parquet(output)
    held = written["segment_holdout"].mean()
    assert held is not None and 0.03 < float(held) < 0.07  # 5% per lifecycle stage


def test_b2b_profiles_reach_companies_through_contacts_and_use_filled_revenue() -> None:
    from segmentation.engine import segment
    from segmentation.report import build_profiles
    from workers.offline import load_shipped

    frames = seeded("b2b", 3_000)
    book = load_shipped("b2b_saas")
    result = segment(
        frames["contacts"], frames["companies"], frames["deals"], None, playbook=book, now=ANCHOR
    )
    profiles = build_profiles(result, book)
    # Contacts carry no orders in B2B: revenue comes from the first filled column, so
    # revenue shares exist and add up to one.
    firmo = profiles["contacts"]["models"]["firmographic"]["segments"]
    assert abs(sum(s["revenue_share"] for s in firmo) - 1) < 1e-6
    # Companies have no email; one with contacts is reachable through them.
    assert result.companies is not None
    with_contacts = float((result.companies["contact_count"] > 0).mean())  # type: ignore[arg-type]
    behavioral = profiles["companies"]["models"]["behavioral"]["segments"]
    reach = sum(s["validation"]["accessible"]["value"] * s["count"] for s in behavioral)
    assert abs(reach / result.companies.height - with_contacts) < 1e-9
    assert with_contacts > 0.5
