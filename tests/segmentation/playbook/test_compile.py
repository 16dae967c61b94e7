"""Playbook conditions and models compiled to polars: every operator on every column type."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl
import pytest

from segmentation.playbook import (
    Condition,
    PlaybookError,
    compile_condition,
    compile_model,
    compile_playbook,
    describe_condition,
    parse_playbook,
)

NOW = datetime(2024, 6, 15, 12, 0, tzinfo=UTC)

FRAME = pl.DataFrame(
    {
        "n": pl.Series([1, 5, 10, None], dtype=pl.Int64),
        "x": [0.5, 2.5, float("nan"), None],
        "s": ["Software", "retail", "  ", None],
        "b": [True, False, None, True],
        "d": [date(2024, 6, 10), date(2024, 1, 1), None, date(2024, 7, 1)],
        "t": pl.Series(
            [
                datetime(2024, 6, 14, 10, 0),
                datetime(2023, 1, 1),
                None,
                datetime(2024, 6, 15, 11, 0),
            ]
        ).dt.replace_time_zone("UTC"),
        "tn": [datetime(2024, 6, 14, 10, 0), datetime(2023, 1, 1), None, datetime(2024, 6, 15, 11)],
        "l": [["HubSpot", "Snowflake"], [], None, ["Salesforce"]],
        "li": [[1, 2], [], None, [3]],
        "e": pl.Series(["gold", "silver", None, "gold"], dtype=pl.Enum(["gold", "silver"])),
        "c": pl.Series(["gold", "silver", None, "gold"], dtype=pl.Categorical),
        "z": pl.Series([None, None, None, None], dtype=pl.Null),
    }
)
T, F = True, False


def playbook_for(when: str, *, more: str = "") -> str:
    return (
        "version: 1\nname: t\nmodels:\n  m:\n    rules:\n"
        f"      - name: r\n        when: {when}\n{more}    fallback: other\n"
    )


def condition(when: str) -> Condition:
    return parse_playbook(playbook_for(when)).models["m"].rules[0].when


def matches(when: str, frame: pl.DataFrame = FRAME, now: datetime = NOW) -> list[bool]:
    expr = compile_condition(condition(when), frame.schema, now)
    return frame.select(expr.alias("hit"))["hit"].to_list()


OPERATOR_CASES = [
    # integers (null never matches)
    ("{field: n, eq: 5}", [F, T, F, F]),
    ("{field: n, neq: 5}", [T, F, T, F]),
    ("{field: n, in: [1, 10]}", [T, F, T, F]),
    ("{field: n, in: [1.0, 5.5]}", [T, F, F, F]),
    ("{field: n, not_in: [1]}", [F, T, T, F]),
    ("{field: n, gt: 5}", [F, F, T, F]),
    ("{field: n, gte: 5}", [F, T, T, F]),
    ("{field: n, lt: 5}", [T, F, F, F]),
    ("{field: n, lte: 5}", [T, T, F, F]),
    ("{field: n, gte: 4.5}", [F, T, T, F]),
    ("{field: n, between: [2, 10]}", [F, T, T, F]),
    ("{field: n, gt: 1, lt: 10}", [F, T, F, F]),
    ("{field: n, exists: true}", [T, T, T, F]),
    ("{field: n, missing: true}", [F, F, F, T]),
    ("{field: n, exists: false}", [F, F, F, T]),
    ("{field: n, missing: false}", [T, T, T, F]),
    # floats: NaN is a missing value, not a huge number
    ("{field: x, gt: 1}", [F, T, F, F]),
    ("{field: x, neq: 1}", [T, T, F, F]),
    ("{field: x, between: [0, 1]}", [T, F, F, F]),
    ("{field: x, in: [2.5]}", [F, T, F, F]),
    ("{field: x, missing: true}", [F, F, T, T]),
    # text: eq/in exact, contains family case-insensitive, blank is missing
    ("{field: s, eq: Software}", [T, F, F, F]),
    ("{field: s, eq: software}", [F, F, F, F]),
    ("{field: s, neq: Software}", [F, T, T, F]),
    ("{field: s, in: [retail, x]}", [F, T, F, F]),
    ("{field: s, not_in: [retail]}", [T, F, T, F]),
    ("{field: s, contains: SOFT}", [T, F, F, F]),
    ("{field: s, contains_any: [soft, TAIL]}", [T, T, F, F]),
    ("{field: s, contains_all: [soft, ware]}", [T, F, F, F]),
    ("{field: s, contains_all: [soft, tail]}", [F, F, F, F]),
    ("{field: s, matches: '^S'}", [T, F, F, F]),
    ("{field: s, matches: '(?i)^R'}", [F, T, F, F]),
    ("{field: s, exists: true}", [T, T, F, F]),
    ("{field: s, missing: true}", [F, F, T, T]),
    # booleans
    ("{field: b, eq: true}", [T, F, F, T]),
    ("{field: b, eq: false}", [F, T, F, F]),
    ("{field: b, neq: true}", [F, T, F, F]),
    ("{field: b, in: [false]}", [F, T, F, F]),
    ("{field: b, missing: true}", [F, F, T, F]),
    # dates (now = 2024-06-15; 2024-07-01 is in the future)
    ("{field: d, within_last: 30 days}", [T, F, F, F]),
    ("{field: d, within_last: {months: 6}}", [T, T, F, F]),
    ("{field: d, more_than_ago: 30 days}", [F, T, F, F]),
    ("{field: d, more_than_ago: '2 weeks'}", [F, T, F, F]),
    ("{field: d, before: 2024-06-01}", [F, T, F, F]),
    ("{field: d, after: '2024-06-01'}", [T, F, F, T]),
    ("{field: d, eq: 2024-01-01}", [F, T, F, F]),
    ("{field: d, gte: '2024-06-10'}", [T, F, F, T]),
    ("{field: d, between: [2024-01-01, 2024-06-10]}", [T, T, F, F]),
    ("{field: d, in: [2024-01-01, 2024-07-01]}", [F, T, F, T]),
    # tz-aware datetimes
    ("{field: t, within_last: {days: 1}}", [F, F, F, T]),
    ("{field: t, within_last: 2 days}", [T, F, F, T]),
    ("{field: t, within_last: 1 week}", [T, F, F, T]),
    ("{field: t, more_than_ago: 1 year}", [F, T, F, F]),
    ("{field: t, after: '2024-06-14T09:00:00Z'}", [T, F, F, T]),
    ("{field: t, after: '2024-06-14T12:00:00+02:00'}", [F, F, F, T]),
    ("{field: t, after: '2024-06-14T09:00:00'}", [T, F, F, T]),
    ("{field: t, before: 2024-01-01}", [F, T, F, F]),
    ("{field: t, eq: 2024-06-14}", [T, F, F, F]),
    ("{field: t, between: [2024-06-14, 2024-06-15]}", [T, F, F, T]),
    ("{field: t, gte: '2024-06-15T11:00:00Z'}", [F, F, F, T]),
    ("{field: t, in: ['2024-06-15T11:00:00Z', 2023-01-01T00:00:00Z]}", [F, T, F, T]),
    # naive datetimes are taken as UTC
    ("{field: tn, within_last: 2 days}", [T, F, F, T]),
    ("{field: tn, after: '2024-06-14T12:00:00+02:00'}", [F, F, F, T]),
    ("{field: tn, more_than_ago: 6 mo}", [F, T, F, F]),
    # lists of text: element-of, ignoring case; an empty list is missing
    ("{field: l, contains: hubspot}", [T, F, F, F]),
    ("{field: l, contains: hub}", [F, F, F, F]),
    ("{field: l, contains_any: [snowflake, SALESFORCE]}", [T, F, F, T]),
    ("{field: l, contains_all: [hubspot, snowflake]}", [T, F, F, F]),
    ("{field: l, contains_all: [hubspot, salesforce]}", [F, F, F, F]),
    ("{field: l, matches: '^Sales'}", [F, F, F, T]),
    ("{field: l, missing: true}", [F, T, T, F]),
    ("{field: l, exists: true}", [T, F, F, T]),
    # lists of integers
    ("{field: li, contains: 2}", [T, F, F, F]),
    ("{field: li, contains_any: [2, 3]}", [T, F, F, T]),
    ("{field: li, contains_all: [1, 2]}", [T, F, F, F]),
    # enum and categorical text
    ("{field: e, eq: gold}", [T, F, F, T]),
    ("{field: e, in: [silver]}", [F, T, F, F]),
    ("{field: e, contains: SIL}", [F, T, F, F]),
    ("{field: c, eq: gold}", [T, F, F, T]),
    ("{field: c, not_in: [gold]}", [F, T, F, F]),
    ("{field: c, matches: '^s'}", [F, T, F, F]),
    # an all-null column matches only "missing"
    ("{field: z, eq: 1}", [F, F, F, F]),
    ("{field: z, missing: true}", [T, T, T, T]),
    ("{field: z, exists: true}", [F, F, F, F]),
    # groups
    ("{not: {field: n, eq: 5}}", [T, F, T, T]),
    ("{not: {field: s, missing: true}}", [T, T, F, F]),
    ("{any: [{field: n, eq: 1}, {field: s, contains: tail}]}", [T, T, F, F]),
    ("{all: [{field: n, gte: 1}, {field: b, eq: true}]}", [T, F, F, F]),
    (
        "{all: [{field: n, gte: 1}, {not: {any: [{field: b, eq: true}, {field: x, gt: 2}]}}]}",
        [F, F, T, F],
    ),
]


@pytest.mark.parametrize(("when", "expected"), OPERATOR_CASES)
def test_operator(when: str, expected: list[bool]) -> None:
    assert matches(when) == expected


def test_schema_with_dtype_classes_and_other_time_zone() -> None:
    frame = FRAME.with_columns(pl.col("t").dt.convert_time_zone("Europe/Berlin"))
    schema = {"n": pl.Int64, "t": frame.schema["t"]}
    expr = compile_condition(condition("{field: t, within_last: 2 days}"), schema, NOW)
    assert frame.select(expr)["t"].to_list() == [T, F, F, T]
    naive_now = NOW.replace(tzinfo=None)
    assert matches("{field: t, within_last: {days: 1}}", now=naive_now) == [F, F, F, T]


def test_month_arithmetic_follows_the_calendar() -> None:
    frame = pl.DataFrame({"d": [date(2024, 2, 29), date(2024, 2, 28)]})
    # 2024-03-31 minus one month is 2024-02-29, not an error or March 2.
    at = datetime(2024, 3, 31, tzinfo=UTC)
    assert matches("{field: d, within_last: 1 month}", frame, at) == [T, F]


def test_compile_condition_is_never_null() -> None:
    expr = compile_condition(condition("{field: n, neq: 5}"), FRAME.schema, NOW)
    assert FRAME.select(expr).to_series().null_count() == 0


MODEL = """\
version: 1
name: b2b
models:
  firmographic:
    rules:
      - name: enterprise
        when: {field: company_employees, gte: 1000}
      - name: mid_market
        when:
          all:
            - {field: company_employees, gte: 200}
            - {field: company_revenue_band, in: ["50M-250M", "250M-1B", "1B+"]}
      - name: tech
        value: tech_buyer
        when:
          any:
            - {field: tech_stack, contains: hubspot}
            - {field: job_title, matches: "(?i)^vp"}
      - name: quiet
        when: {not: {field: last_activity_at, within_last: 30 days}}
    fallback: smb
"""

MODEL_FRAME = pl.DataFrame(
    {
        "company_employees": [2400, 350, 10, 20, 300, 300],
        "company_revenue_band": ["1B+", "50M-250M", None, None, "1M-10M", "1M-10M"],
        "tech_stack": [[], ["HubSpot", "Snowflake"], None, ["Excel"], None, None],
        "job_title": ["CEO", "VP Sales", "VP Marketing", "Analyst", "Analyst", "Analyst"],
        "last_activity_at": [None, None, None, None, None, datetime(2024, 6, 1, tzinfo=UTC)],
    }
)


def test_model_values_and_reasons_first_match_wins() -> None:
    model = parse_playbook(MODEL).models["firmographic"]
    value, reason = compile_model(model, MODEL_FRAME.schema, NOW)
    out = MODEL_FRAME.lazy().with_columns(value, reason).collect()
    assert out["segment_firmographic"].to_list() == [
        "enterprise",
        "mid_market",
        "tech_buyer",
        "quiet",
        "quiet",
        "smb",
    ]
    assert out["reason_firmographic"].to_list() == [
        "enterprise: 2400 employees >= 1000",
        "mid_market: 350 employees >= 200 and "
        "company revenue band 50M-250M in [50M-250M, 250M-1B, 1B+]",
        "tech_buyer: job title VP Marketing matches /(?i)^vp/",
        "quiet: not (last activity empty (within last 30 days))",
        "quiet: not (last activity empty (within last 30 days))",
        "smb: no rule matched (the fallback)",
    ]
    # Eager evaluation gives the same result.
    assert MODEL_FRAME.with_columns(value, reason).equals(out)


def test_any_reason_names_the_branch_that_matched() -> None:
    model = parse_playbook(MODEL).models["firmographic"]
    frame = MODEL_FRAME.with_columns(company_employees=pl.lit(5))
    _, reason = compile_model(model, frame.schema, NOW)
    reasons = frame.select(reason).to_series().to_list()
    assert reasons[1] == 'tech_buyer: tech stack ["HubSpot","Snowflake"] contains \'hubspot\''
    assert reasons[2] == "tech_buyer: job title VP Marketing matches /(?i)^vp/"


def test_reason_text_per_type_redaction_and_truncation() -> None:
    text = """\
version: 1
name: t
models:
  m:
    rules:
      - {name: gone, when: {field: email, missing: true}}
      - {name: personal, when: {field: email, matches: "@acme"}}
      - {name: long, when: {field: title, contains: word}}
      - name: when
        when: {all: [{field: seen, after: 2024-01-01}, {field: born, before: 2000-01-01}]}
      - {name: flag, when: {all: [{field: ok, eq: true}, {field: score, between: [0.5, 1]}]}}
      - {name: any_email, when: {field: email, exists: true}}
    fallback: null
"""
    frame = pl.DataFrame(
        {
            "email": [None, "a@acme.com", "b@x.io", "c@x.io", "d@x.io", "e@x.io"],
            "title": [None, None, "word " * 30, None, None, None],
            "seen": [None, None, None, datetime(2024, 3, 1, 9, 30), None, None],
            "born": [None, None, None, date(1990, 5, 1), None, None],
            "ok": [None, None, None, None, True, None],
            "score": [None, None, None, None, 0.75, None],
        }
    )
    model = parse_playbook(text).models["m"]
    value, reason = compile_model(model, frame.schema, NOW)
    out = frame.select(value, reason)
    assert out["reason_m"].to_list() == [
        "gone: email missing",
        "personal: email <redacted> matches /@acme/",
        "long: title " + ("word " * 12) + " contains 'word'",
        "when: seen 2024-03-01 09:30 after 2024-01-01 and born 1990-05-01 before 2000-01-01",
        "flag: ok == true and score 0.75 between 0.5 and 1",
        "any_email: email exists",
    ]
    assert out["segment_m"].to_list() == ["gone", "personal", "long", "when", "flag", "any_email"]
    blank = pl.DataFrame({"email": ["  ", "z@z.z"]}).with_columns(
        pl.lit(None, frame.schema[c]).alias(c) for c in frame.columns[1:]
    )
    assert blank.select(value, reason).rows() == [
        ("gone", "gone: email missing"),
        ("any_email", "any_email: email exists"),
    ]


def test_reasons_lead_with_the_value_and_read_like_sentences() -> None:
    # Reasons are written to the CRM for reps: the segment value first (not the rule's
    # name), numbers rounded, units in agreement with the number, dates as days ago.
    text = """\
version: 1
name: b2b
models:
  behavioral:
    rules:
      - name: highly_engaged
        value: engaged
        when: {field: activity_per_month, gte: 1.5}
      - name: clicker
        value: active
        when: {field: email_clicks, gte: 1}
      - name: recent
        value: active
        when: {field: last_engaged_at, within_last: 30 days}
      - name: close_call
        value: borderline
        when: {field: activity_per_month, gt: 1.2}
      - name: tiny
        value: faint
        when: {field: activity_per_month, gt: 0}
    fallback: dormant
"""
    frame = pl.DataFrame(
        {
            "activity_per_month": [3.424041547991039, 0.0, 0.0, 1.2049, 0.0123456, 0.0],
            "email_clicks": pl.Series([0, 1, 0, 0, 0, 0], dtype=pl.Int64),
            "last_engaged_at": [
                None,
                None,
                datetime(2024, 6, 3, 8, 0, tzinfo=UTC),
                None,
                None,
                datetime(2024, 6, 15, 9, 0, tzinfo=UTC),
            ],
        }
    )
    model = parse_playbook(text).models["behavioral"]
    _, reason = compile_model(model, frame.schema, NOW)
    assert frame.select(reason).to_series().to_list() == [
        "engaged: 3.4 activities/month >= 1.5",
        "active: 1 email click >= 1",
        "active: last engaged 12 days ago (within last 30 days)",
        # 1.2 would read as "1.2 > 1.2": rounding never lands on the operand.
        "borderline: 1.2049 activities/month > 1.2",
        "faint: 0.012 activities/month > 0",
        "active: last engaged today (within last 30 days)",
    ]


def test_fallback_null_and_custom_output() -> None:
    text = (
        "version: 1\nname: t\nmodels:\n  m:\n    output: tier\n    rules:\n"
        "      - {name: big, when: {field: n, gt: 5}}\n    fallback: null\n"
    )
    model = parse_playbook(text).models["m"]
    value, reason = compile_model(model, FRAME.schema, NOW)
    out = FRAME.select(value, reason)
    assert out.columns == ["tier", "reason_m"]
    assert out["tier"].to_list() == [None, None, "big", None]
    assert out["reason_m"][0] == "no rule matched and no fallback: left empty"


def test_redact_argument_hides_any_field() -> None:
    model = parse_playbook(playbook_for("{field: s, eq: Software}")).models["m"]
    _, reason = compile_model(model, FRAME.schema, NOW, redact={"s"})
    assert FRAME.select(reason).item(0, 0) == "r: s <redacted> == Software"


def test_compile_playbook_redacts_declared_personal_fields() -> None:
    text = playbook_for("{field: s, contains: soft}").replace(
        "models:", "fields:\n  s: {type: string, personal: true}\nmodels:"
    )
    compiled = compile_playbook(parse_playbook(text), FRAME.schema, NOW)
    _, reason = compiled["m"]
    assert FRAME.select(reason).item(0, 0) == "r: s <redacted> contains 'soft'"


def test_describe_condition() -> None:
    model = parse_playbook(MODEL).models["firmographic"]
    described = [describe_condition(rule.when) for rule in model.rules]
    assert described == [
        "company_employees >= 1000",
        "company_employees >= 200 and company_revenue_band in [50M-250M, 250M-1B, 1B+]",
        "tech_stack contains 'hubspot' or job_title matches /(?i)^vp/",
        "not (last_activity_at within last 30 days)",
    ]
    nested = condition(
        "{all: [{any: [{field: a, eq: 1}, {field: b, missing: true}]}, {field: c, gt: 2}]}"
    )
    assert describe_condition(nested) == "(a == 1 or b missing) and c > 2"


def compile_error(when: str, frame: pl.DataFrame = FRAME) -> PlaybookError:
    model = parse_playbook(playbook_for(when), source="p.yaml").models["m"]
    with pytest.raises(PlaybookError) as caught:
        compile_model(model, frame.schema, NOW)
    return caught.value


COMPILE_ERRORS = [
    (
        "{field: n, gte: '1000'}",
        "p.yaml:7:31: 'gte' on integer field 'n' needs a number, got text '1000'"
        " in rule r of model m",
    ),
    (
        "{field: nn, eq: 1}",
        "p.yaml:7:23: unknown field 'nn' in rule r of model m — did you mean 'n'?",
    ),
    (
        "{field: s, gt: a}",
        "p.yaml:7:30: 'gt' cannot test text field 's' in rule r of model m"
        " — 'gt' compares numbers, dates and datetimes",
    ),
    (
        "{field: s, eq: yes}",
        "p.yaml:7:30: 'eq' on text field 's' needs text, got the boolean true in rule r of model m"
        " — YAML reads unquoted yes/no/on/off/true/false as a boolean; quote it",
    ),
    (
        "{field: s, contains: 42}",
        "p.yaml:7:36: 'contains' on text field 's' needs text, got the number 42 in rule r of"
        " model m — quote the value to compare it as text",
    ),
    (
        "{field: l, eq: HubSpot}",
        "p.yaml:7:30: 'eq' cannot test list of text field 'l' in rule r of model m"
        " — use contains, contains_any or contains_all on lists",
    ),
    (
        "{field: s, within_last: 30 days}",
        "p.yaml:7:39: 'within_last' cannot test text field 's' in rule r of model m"
        " — 'within_last' needs a date or datetime field",
    ),
    (
        "{field: d, after: '2024-01-01T10:00:00'}",
        "p.yaml:7:33: 'after' on date field 'd' needs a date like 2024-01-31, not a datetime"
        " (2024-01-01T10:00:00) in rule r of model m",
    ),
    (
        "{field: e, in: [gold, bronze]}",
        "p.yaml:7:30: 'in' on text field 'e' needs one of its values (gold, silver),"
        " got text 'bronze' in rule r of model m",
    ),
    (
        "{field: b, gte: 1}",
        "p.yaml:7:31: 'gte' cannot test true/false field 'b' in rule r of model m"
        " — 'gte' compares numbers, dates and datetimes",
    ),
    (
        "{field: n, matches: '^1'}",
        "p.yaml:7:35: 'matches' cannot test integer field 'n' in rule r of model m"
        " — 'matches' needs a text field (or a list of text)",
    ),
    (
        "{field: li, contains: a}",
        "p.yaml:7:37: 'contains' on list of integer field 'li' needs a number, got text 'a'"
        " in rule r of model m",
    ),
]


@pytest.mark.parametrize(("when", "message"), COMPILE_ERRORS)
def test_compile_errors_name_model_rule_field_and_type(when: str, message: str) -> None:
    error = compile_error(when)
    assert str(error) == message
    assert (error.path, error.line) == ("p.yaml", 7)


def test_struct_fields_cannot_be_tested() -> None:
    frame = pl.DataFrame({"st": [{"a": 1}]})
    error = compile_error("{field: st, eq: 1}", frame)
    assert "'eq' cannot test field 'st' of type Struct" in error.message


def test_compile_reports_every_problem_across_models() -> None:
    text = """\
version: 1
name: t
models:
  a:
    rules:
      - {name: one, when: {field: n, eq: x}}
      - {name: two, when: {all: [{field: s, gt: 1}, {field: missing_col, eq: 1}]}}
    fallback: f
  b:
    rules:
      - {name: three, when: {field: b, contains: x}}
    fallback: f
"""
    with pytest.raises(PlaybookError) as caught:
        compile_playbook(parse_playbook(text, source="x.yaml"), FRAME.schema, NOW)
    lines = text.splitlines()

    def at(line: int, needle: str) -> tuple[int, int]:
        return line, lines[line - 1].index(needle) + 1

    found = [(e.line, e.column) for e in caught.value.errors]
    assert found == [at(6, "x}"), at(7, "1}"), at(7, "missing_col"), at(11, "x}")]
    assert "rule three of model b" in caught.value.errors[-1].message


def test_programmatic_condition_errors_have_no_position() -> None:
    built = Condition(field="n", gte="1")
    with pytest.raises(PlaybookError) as caught:
        compile_condition(built, FRAME.schema, NOW, where="my check")
    assert caught.value.line is None
    assert str(caught.value) == (
        "<playbook>: 'gte' on integer field 'n' needs a number, got text '1' in my check"
    )


def test_compiled_model_runs_on_a_large_frame() -> None:
    size = 200_000
    frame = pl.DataFrame(
        {
            "company_employees": pl.int_range(0, size, eager=True) % 3000,
            "company_revenue_band": pl.Series(["1B+", "1M-10M"] * (size // 2)),
            "tech_stack": [["HubSpot"], None] * (size // 2),
            "job_title": ["VP Sales", "Analyst"] * (size // 2),
            "last_activity_at": pl.Series([datetime(2024, 6, 1)] * size).dt.replace_time_zone(
                "UTC"
            ),
        }
    )
    model = parse_playbook(MODEL).models["firmographic"]
    value, reason = compile_model(model, frame.schema, NOW)
    out = frame.lazy().with_columns(value, reason).collect()
    assert out["reason_firmographic"].null_count() == 0
    segments = set(out["segment_firmographic"].unique())
    assert segments == {"enterprise", "mid_market", "tech_buyer", "smb"}
