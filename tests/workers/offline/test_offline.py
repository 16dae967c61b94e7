"""Offline mode end to end: ``segsync segment`` over CSV and Parquet exports."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner, Result

from workers.cli.main import main

NOW = "2025-06-01"

CONTACTS_CSV = """\
id,email,job_title,country,company_id,last_activity_at,email_opens,interests,use_case
c1,ann@acme.com,CEO,USA,a1,2025-05-25T10:00:00Z,12,fitness;travel,need better dashboards
c2,bob@gmail.com,Software Engineer,Deutschland,a2,yesterday-ish,3x,,lead_generation
c3,,VP Sales, united kingdom ,,2024-01-01,,books,
c4,dee@tiny.io,Head of Marketing,France,a2,05/20/2025,n/a,,
"""
COMPANIES_CSV = """\
id,name,domain,employees,annual_revenue,country,tech_stack
a1,Acme,acme.com,"12,000",$4.5M,US,Salesforce; Snowflake; Looker; AWS
a2,Tiny,tiny.io,about fifteen,n/a,DE,HubSpot
"""
DEALS_CSV = """\
id,company_id,contact_id,amount,is_won,is_closed,close_date
d1,a1,c1,"50,000",true,true,2025-04-01
d2,a2,c4,1200,false,false,someday
"""
ORDERS_CSV = """\
order_id,contact_id,order_date,amount
o1,c2,2025-05-30,19.99
o2,c2,2025-03-01,5
o3,c3,not a date,7.50
"""

MODELS = (
    "demographic",
    "firmographic",
    "geographic",
    "behavioral",
    "psychographic",
    "needs_based",
    "technographic",
    "lifecycle",
)


def write_inputs(directory: Path) -> dict[str, Path]:
    files = {
        "contacts": (directory / "contacts.csv", CONTACTS_CSV),
        "companies": (directory / "companies.csv", COMPANIES_CSV),
        "deals": (directory / "deals.csv", DEALS_CSV),
        "orders": (directory / "orders.csv", ORDERS_CSV),
    }
    for path, text in files.values():
        path.write_text(text, encoding="utf-8")
    return {label: path for label, (path, _) in files.items()}


def segsync(*args: str | Path) -> Result:
    return CliRunner().invoke(main, ["segment", *map(str, args), "--now", NOW])


def test_csv_in_csv_out_with_bad_rows_reported(tmp_path: Path) -> None:
    paths = write_inputs(tmp_path)
    output = tmp_path / "out" / "segmented.csv"
    output.parent.mkdir()
    result = segsync(
        "--input",
        paths["contacts"],
        "--companies",
        paths["companies"],
        "--deals",
        paths["deals"],
        "--output",
        output,
        "--json",
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["rows"] == {"contacts": 4, "companies": 2}
    # The rule-based models, plus RFM and value tiers because the deals allow them.
    assert set(summary["segments"]["contacts"]) == set(MODELS) | {"rfm", "value_tier"}
    for rows in summary["segments"]["contacts"].values():
        assert sum(r["count"] for r in rows) == 4
    # 1-based data rows, per file.
    assert summary["bad_rows"] == {
        "contacts.csv": [2],
        "companies.csv": [2],
        "deals.csv": [2],
    }
    assert {(b["file"], b["row"], b["column"], b["value"]) for b in summary["bad_values"]} == {
        ("contacts.csv", 2, "last_activity_at", "yesterday-ish"),
        ("contacts.csv", 2, "email_opens", "3x"),
        ("companies.csv", 2, "employees", "about fifteen"),
        ("deals.csv", 2, "close_date", "someday"),
    }
    assert summary["bad_value_count"] == 4

    out = pl.read_csv(output, infer_schema=False)
    assert out.height == 4
    assert out.columns[:9] == CONTACTS_CSV.splitlines()[0].split(",")
    for column in ("region", "seniority", "company_size_band", "company_tech_categories"):
        assert column in out.columns
    for model in MODELS:
        assert f"segment_{model}" in out.columns and f"reason_{model}" in out.columns
    first = out.row(0, named=True)
    assert first["company_tech_categories"] == "bi;cloud;crm;data_warehouse"  # lists joined
    assert first["interest_tags"] == "fitness;travel"
    assert first["segment_demographic"] == "executive"
    assert first["segment_firmographic"] == "enterprise"
    assert first["segment_lifecycle"] == "customer"  # won deal d1 names c1
    assert first["reason_firmographic"] == ("enterprise: 12000 employees >= 1000")
    # A bad value is read as empty and the row still runs.
    second = out.row(1, named=True)
    assert second["last_activity_at"] is None
    assert second["segment_behavioral"] == "dormant"
    assert out["segment_lifecycle"][3] == "opportunity"  # open deal d2 names c4


def test_parquet_in_parquet_out_keeps_lists(tmp_path: Path) -> None:
    contacts = pl.read_csv(_csv(tmp_path, CONTACTS_CSV), infer_schema=False).with_columns(
        pl.col("interests").str.split(";"),
        pl.col("email_opens").cast(pl.Int64, strict=False),
    )
    companies = pl.read_csv(_csv(tmp_path, COMPANIES_CSV), infer_schema=False)
    contacts.write_parquet(tmp_path / "contacts.parquet")
    companies.write_parquet(tmp_path / "companies.parquet")
    output = tmp_path / "segmented.parquet"
    result = segsync(
        "--input",
        tmp_path / "contacts.parquet",
        "--companies",
        tmp_path / "companies.parquet",
        "--output",
        output,
        "--json",
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["bad_rows"] == {"contacts.parquet": [2], "companies.parquet": [2]}
    out = pl.read_parquet(output)
    assert out.columns[: contacts.width] == contacts.columns
    assert out.schema["interests"] == pl.List(pl.String)
    assert out.schema["company_tech_categories"] == pl.List(pl.String)
    assert out["segment_geographic"].to_list() == [
        "north_america",
        "emea",
        "emea",
        "emea",
    ]


def _csv(directory: Path, text: str) -> Path:
    path = directory / f"input{abs(hash(text))}.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_b2c_playbook_by_name_with_orders(tmp_path: Path) -> None:
    paths = write_inputs(tmp_path)
    output = tmp_path / "out.parquet"
    result = segsync(
        "--input",
        paths["contacts"],
        "--orders",
        paths["orders"],
        "--output",
        output,
        "--playbook",
        "b2c_retail",
        "--json",
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["playbook"] == "b2c_retail.yaml"
    assert summary["bad_rows"]["orders.csv"] == [3]
    out = pl.read_parquet(output)
    assert out["order_count"].to_list() == [0, 2, 1, 0]
    assert out["segment_lifecycle"][1] == "repeat_customer"


def test_text_summary_and_bad_values_on_stderr(tmp_path: Path) -> None:
    paths = write_inputs(tmp_path)
    result = segsync("--input", paths["contacts"], "--output", tmp_path / "o.csv")
    assert result.exit_code == 0, result.output
    assert "contacts: 4 rows" in result.stdout
    assert "  lifecycle" in result.stdout
    assert "contacts.csv: row 2: email_opens: not a number: '3x'" in result.stderr


def test_text_summary_names_segments_as_the_playbook_does_and_agrees_in_number(
    tmp_path: Path,
) -> None:
    paths = write_inputs(tmp_path)
    args = ["--input", paths["contacts"], "--companies", paths["companies"]]
    result = segsync(*args, "--deals", paths["deals"], "--output", tmp_path / "o.csv")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "contacts: 4 rows" in lines and "companies: 2 rows" in lines
    # Three contacts have no deal: the playbook's name for that, never a Python None.
    rfm = lines[lines.index("  rfm") + 1 : lines.index("  rfm") + 3]
    assert [line.split() for line in rfm] == [["no_purchase", "3", "75.0%"], ["lost", "1", "25.0%"]]
    assert "None" not in result.stdout
    assert lines[-1] == "4 bad values (read as empty; see above)"
    one = tmp_path / "one.csv"
    one.write_text(CONTACTS_CSV.splitlines()[0] + "\nc9,x@y.com,CEO,USA,,2025-05-25,3x,,\n")
    single = segsync("--input", one, "--output", tmp_path / "one_out.csv")
    assert single.exit_code == 0, single.output
    assert "contacts: 1 row" in single.stdout.splitlines()
    assert single.stdout.splitlines()[-1] == "1 bad value (read as empty; see above)"


BROKEN_YAML = """\
version: 1
name: broken
models:
  firmographic:
    rules:
      - {name: enterprise, when: {field: employees, gte: 1000}
    fallback: smb
"""
TYPO = """\
version: 1
name: typo
models:
  firmographic:
    rules:
      - {name: enterprise, when: {field: employes, gte: 1000}}
    fallback: smb
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (BROKEN_YAML, ":7:5: YAML syntax error: expected ',' or '}'"),
        (
            TYPO,
            ":6:42: unknown field 'employes' in rule enterprise of model firmographic"
            " — did you mean 'employees'?",
        ),
    ],
)
def test_malformed_playbook_stops_before_any_write(
    tmp_path: Path, text: str, expected: str
) -> None:
    paths = write_inputs(tmp_path)
    playbook = tmp_path / "bad.yaml"
    playbook.write_text(text, encoding="utf-8")
    output = tmp_path / "out.csv"
    result = segsync("--input", paths["contacts"], "--output", output, "--playbook", playbook)
    assert result.exit_code == 2
    assert f"{playbook}{expected}" in result.stderr
    assert "nothing written" in result.stderr
    assert not output.exists()
    assert list(tmp_path.glob(".out.csv.*")) == []


def test_unknown_playbook_name(tmp_path: Path) -> None:
    paths = write_inputs(tmp_path)
    result = segsync(
        "--input", paths["contacts"], "--output", tmp_path / "o.csv", "--playbook", "b2b_sas"
    )
    assert result.exit_code == 2
    assert "b2b_sas: no such playbook file" in result.stderr
    assert "b2b_saas, b2c_retail" in result.stderr


def test_unreadable_inputs_are_plain_errors(tmp_path: Path) -> None:
    paths = write_inputs(tmp_path)
    # Unreadable or invalid input files are usage errors: exit 2 (README "Exit codes").
    missing = segsync("--input", tmp_path / "nope.csv", "--output", tmp_path / "o.csv")
    assert missing.exit_code == 2
    assert "nope.csv: no such file" in missing.stderr
    wrong = segsync("--input", paths["contacts"], "--output", tmp_path / "o.xlsx")
    assert wrong.exit_code == 2
    assert "use .csv or .parquet" in wrong.stderr
