"""Email domain, free-mail flag, company domain normalisation and matching."""

from __future__ import annotations

import polars as pl
import pytest

from connectors.sandbox.seed.pools import FREE_MAIL
from segmentation.enrich.emails import (
    domains_match,
    email_domain,
    free_domains,
    is_free_email,
    normalize_domain,
)


@pytest.mark.parametrize(
    ("email", "domain"),
    [
        ("ann@acme.com", "acme.com"),
        ("Ann.Lee@ACME.COM", "acme.com"),
        (" ann@acme.com ", "acme.com"),
        ("Ann Lee <ann@acme.co.uk>", "acme.co.uk"),
        ("ann@eu.acme.com.", "eu.acme.com"),
        ("jörg@müller.de", "müller.de"),
        ("ann@localhost", None),
        ("not an email", None),
        ("ann@", None),
        ("@", None),
        ("", None),
        (None, None),
    ],
)
def test_email_domain(email: str | None, domain: str | None) -> None:
    assert email_domain(pl.Series([email], dtype=pl.String)).item() == domain


def test_free_mail_list_is_the_maintained_one_plus_missing_majors() -> None:
    domains = set(free_domains())
    assert len(domains) > 4000
    # Every provider the sandbox uses, and majors the package lacked.
    assert {d for d, _ in FREE_MAIL} <= domains
    assert {"gmail.com", "proton.me", "hey.com", "tutanota.com", "gmx.de", "qq.com"} <= domains
    assert not {"acme.com", "salesforce.com", "hubspot.com"} & domains


def test_is_free_email() -> None:
    frame = pl.DataFrame({"d": ["gmail.com", "acme.com", None, "web.de"]})
    assert frame.select(is_free_email(pl.col("d")))["d"].to_list() == [True, False, None, True]


@pytest.mark.parametrize(
    ("value", "domain"),
    [
        ("acme.com", "acme.com"),
        ("Acme.COM", "acme.com"),
        ("www.acme.com", "acme.com"),
        ("https://www.acme.com/about?x=1", "acme.com"),
        ("http://acme.com:8080", "acme.com"),
        ("https://www2.acme.co.uk/", "acme.co.uk"),
        ("app.acme.io", "app.acme.io"),
        ("acme", None),
        ("", None),
        (None, None),
    ],
)
def test_normalize_domain(value: str | None, domain: str | None) -> None:
    frame = pl.DataFrame({"v": [value]}, schema={"v": pl.String})
    assert frame.select(normalize_domain(pl.col("v"))).item() == domain


@pytest.mark.parametrize(
    ("email_dom", "company_dom", "match"),
    [
        ("acme.com", "acme.com", True),
        ("eu.acme.com", "acme.com", True),
        ("acme.com", "shop.acme.com", True),
        ("notacme.com", "acme.com", False),
        ("gmail.com", "acme.com", False),
        (None, "acme.com", None),
        ("acme.com", None, None),
    ],
)
def test_domains_match(email_dom: str | None, company_dom: str | None, match: bool | None) -> None:
    frame = pl.DataFrame(
        {"e": [email_dom], "c": [company_dom]}, schema={"e": pl.String, "c": pl.String}
    )
    assert frame.select(domains_match(pl.col("e"), pl.col("c"))).item() is match
