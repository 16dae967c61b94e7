"""How fields read in reasons: a small table of canonical field -> human phrase.

A reason is read by a sales rep in the CRM (``engaged: 3.4 activities/month >= 1.5``),
not by whoever wrote the playbook, so the common canonical and derived fields get a
phrase: counts read as a number and a unit with plural agreement, everything else as a
label before its value. A field the table lacks (a custom field) reads as its name
with spaces for underscores.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Phrase:
    """A field's label, and for counts the unit a number is followed by."""

    label: str
    one: str | None = None  # unit after the number 1: "1 email click"
    many: str | None = None  # unit after any other number: "3 email clicks"

    @property
    def is_count(self) -> bool:
        return self.one is not None and self.many is not None


def _count(one: str, many: str) -> Phrase:
    return Phrase(many, one, many)


PHRASES: dict[str, Phrase] = {
    # Counts and rates: "12 page views", "1 won deal", "3.4 activities/month".
    "activity_per_month": _count("activity/month", "activities/month"),
    "activity_count": _count("activity", "activities"),
    "email_clicks": _count("email click", "email clicks"),
    "email_opens": _count("email open", "email opens"),
    "email_delivered": _count("email delivered", "emails delivered"),
    "page_views": _count("page view", "page views"),
    "visits": _count("visit", "visits"),
    "notes_count": _count("note", "notes"),
    "employees": _count("employee", "employees"),
    "company_employees": _count("employee", "employees"),
    "order_count": _count("order", "orders"),
    "num_orders": _count("order", "orders"),
    "orders_last_90d": _count("order in 90 days", "orders in 90 days"),
    "orders_last_365d": _count("order in 365 days", "orders in 365 days"),
    "deal_count": _count("deal", "deals"),
    "contact_deal_count": _count("deal", "deals"),
    "open_deal_count": _count("open deal", "open deals"),
    "contact_open_deal_count": _count("open deal", "open deals"),
    "won_deal_count": _count("won deal", "won deals"),
    "contact_won_deal_count": _count("won deal", "won deals"),
    "contact_count": _count("contact", "contacts"),
    "engaged_contact_count": _count("engaged contact", "engaged contacts"),
    "interest_count": _count("interest", "interests"),
    "tech_count": _count("tool", "tools"),
    "days_since_engaged": _count("day since last engaged", "days since last engaged"),
    "days_since_last_order": _count("day since the last order", "days since the last order"),
    "company_age_years": _count("year in business", "years in business"),
    # Labels: "last engaged 12 days ago", "CRM stage == customer".
    "last_engaged_at": Phrase("last engaged"),
    "last_activity_at": Phrase("last activity"),
    "contacts_last_activity_at": Phrase("contacts' last activity"),
    "last_contacted_at": Phrase("last contacted"),
    "last_visit_at": Phrase("last visit"),
    "last_order_at": Phrase("last order"),
    "last_order_date": Phrase("last order"),
    "first_order_date": Phrase("first order"),
    "first_won_at": Phrase("first won deal"),
    "last_won_at": Phrase("last won deal"),
    "created_at": Phrase("created"),
    "close_date": Phrase("close date"),
    "crm_stage": Phrase("CRM stage"),
    "lifecycle_stage": Phrase("lifecycle stage"),
    "need_text": Phrase("stated needs"),
    "interest_tags": Phrase("interests"),
    "annual_revenue": Phrase("annual revenue"),
    "company_annual_revenue": Phrase("company revenue"),
    "company_revenue_band": Phrase("company revenue band"),
    "company_size_band": Phrase("company size"),
    "company_tech_categories": Phrase("company tech"),
    "company_digital_maturity": Phrase("company digital maturity"),
    "company_industry": Phrase("company industry"),
    "company_region": Phrase("company region"),
    "company_id": Phrase("company"),
    "avg_order_value": Phrase("average order value"),
    "won_revenue": Phrase("won revenue"),
    "won_acv": Phrase("won revenue"),
    "clv_12m": Phrase("predicted 12-month value"),
    "open_pipeline": Phrase("open pipeline"),
}


def phrase_of(field: str) -> Phrase:
    """The field's phrase; a field the table lacks reads as its name, spaced."""
    return PHRASES.get(field) or Phrase(field.replace("_", " "))
