"""Seniority and department against a labelled corpus of real-world job titles.

The corpus (``tests/data/job_titles/``, its README says where every title comes from and
the labelling conventions) holds titles in the eight languages a global CRM holds. The
engine must be right for 95% of them overall and 92% in each language.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from segmentation.enrich.title_rules import DEPARTMENTS, SENIORITIES
from segmentation.enrich.titles import classify_unique_titles

DATA = Path(__file__).parents[2] / "data" / "job_titles"
CORPUS = DATA / "titles.csv"
# Titles collected after the rules were last changed and never used to change them: their
# accuracy is printed as the honest figure for titles the rules have not met, not asserted.
UNSEEN = DATA / "unseen.csv"
LANGUAGES = {"en", "fr", "de", "es", "pt", "it", "nl", "ja"}
OVERALL, PER_LANGUAGE = 0.95, 0.92


def read_labelled(path: Path) -> pl.DataFrame:
    """A labelled title file; every column is text, an empty seniority reads as ""."""
    return pl.read_csv(path, infer_schema=False).with_columns(pl.all().fill_null(""))


@pytest.fixture(scope="module")
def corpus() -> pl.DataFrame:
    return read_labelled(CORPUS)


def score(corpus: pl.DataFrame) -> pl.DataFrame:
    """Each row with the engine's answer and whether it matches the label."""
    answers = classify_unique_titles(corpus["title"].unique().to_list())
    return corpus.join(answers, on="title", how="left", suffix="_got").with_columns(
        (pl.col("seniority_got").fill_null("") == pl.col("seniority")).alias("seniority_ok"),
        (pl.col("department_got") == pl.col("department")).alias("department_ok"),
    )


@pytest.fixture(scope="module")
def scored(corpus: pl.DataFrame) -> pl.DataFrame:
    return score(corpus)


def accuracy_table(scored: pl.DataFrame) -> pl.DataFrame:
    """Titles, seniority and department accuracy per language, then overall."""
    measures = (
        pl.len().alias("titles"),
        pl.col("seniority_ok").mean().alias("seniority"),
        pl.col("department_ok").mean().alias("department"),
    )
    per_language = scored.group_by("language").agg(measures).sort("language")
    overall = scored.select(pl.lit("all").alias("language"), *measures)
    return pl.concat([per_language, overall])


def test_the_corpus_is_large_sourced_and_labelled_in_the_engines_terms(
    corpus: pl.DataFrame,
) -> None:
    unseen = read_labelled(UNSEEN)
    assert unseen.join(corpus, on=["language", "title"]).is_empty()  # unseen means unseen
    assert corpus.height >= 500
    assert set(corpus["language"]) == LANGUAGES
    assert corpus.filter(pl.col("source").str.strip_chars() == "").height == 0
    assert set(corpus["seniority"]) <= {*SENIORITIES, ""}
    assert set(corpus["department"]) <= set(DEPARTMENTS)
    assert corpus.select("language", "title").is_duplicated().sum() == 0


def test_seniority_and_department_are_right_for_95_percent_and_92_in_each_language(
    scored: pl.DataFrame,
) -> None:
    table = accuracy_table(scored)
    with pl.Config(tbl_rows=20, float_precision=3):
        print(f"\njob-title accuracy on {CORPUS.name}\n{table}")
        unseen = accuracy_table(score(read_labelled(UNSEEN)))
        print(f"on {UNSEEN.name}, never used to write the rules\n{unseen}")
    misses = scored.filter(~pl.col("seniority_ok") | ~pl.col("department_ok")).select(
        "language", "title", "seniority", "department", "seniority_got", "department_got"
    )
    overall = table.filter(pl.col("language") == "all").row(0, named=True)
    languages = table.filter(pl.col("language") != "all")
    below = languages.filter(
        (pl.col("seniority") < PER_LANGUAGE) | (pl.col("department") < PER_LANGUAGE)
    )
    assert overall["seniority"] >= OVERALL and overall["department"] >= OVERALL, (table, misses)
    assert below.is_empty(), (table, misses)
