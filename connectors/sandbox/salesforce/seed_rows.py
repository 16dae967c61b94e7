"""Turning the neutral seed into Salesforce rows: Accounts, Contacts, Leads, Opportunities, roles.

Seeded contacts become Contacts (at their first account); the seed's lead-only people
become open Leads (company as typed, no account); and a share of the Contacts also keep
the Lead they were converted from (read-only, pointing at the Contact and Account it
became). Values are mapped onto Salesforce's standard picklists (coarser than the seed's:
several seed industries become ``Technology``).

Timestamps are whole seconds, dates are UTC midnights (epoch ms). ``SystemModstamp``
is at or after ``LastModifiedDate``: some records were later touched by automation only.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from connectors.sandbox.salesforce.objects import CONTACT_ROLES, CONVERTED_STATUS, STAGE_INFO
from connectors.sandbox.seed.common import DAY_MS, SeedData

INDUSTRY = {
    "software": "Technology",
    "it_services": "Technology",
    "internet": "Technology",
    "financial_services": "Finance",
    "banking": "Banking",
    "insurance": "Insurance",
    "healthcare": "Healthcare",
    "pharma": "Healthcare",
    "biotech": "Biotechnology",
    "medical_devices": "Healthcare",
    "retail": "Retail",
    "consumer_goods": "Retail",
    "manufacturing": "Manufacturing",
    "automotive": "Manufacturing",
    "telecom": "Telecommunications",
    "education": "Education",
    "higher_education": "Education",
    "marketing": "Media",
    "consulting": "Consulting",
    "real_estate": "Other",
    "construction": "Construction",
    "logistics": "Shipping",
    "transportation": "Transportation",
    "energy": "Energy",
    "renewables": "Environmental",
    "media": "Media",
    "hospitality": "Hospitality",
    "food_beverage": "Food & Beverage",
    "legal": "Consulting",
    "accounting": "Finance",
    "government": "Government",
    "nonprofit": "Not For Profit",
    "computer_security": "Technology",
    "semiconductors": "Electronics",
    "staffing": "Consulting",
    "airlines": "Transportation",
    "gaming": "Entertainment",
    "apparel": "Apparel",
    "consumer_electronics": "Electronics",
    "chemicals": "Chemicals",
    "hr": "Consulting",
    "venture_capital": "Finance",
}
SOURCE = {
    "ORGANIC_SEARCH": "Web",
    "PAID_SEARCH": "Web",
    "EMAIL_MARKETING": "Web",
    "SOCIAL_MEDIA": "Web",
    "PAID_SOCIAL": "Web",
    "DIRECT_TRAFFIC": "Web",
    "REFERRALS": "Partner Referral",
    "OTHER_CAMPAIGNS": "Purchased List",
    "OFFLINE": "Phone Inquiry",
}
STAGE = {
    "appointment_scheduled": "Prospecting",
    "qualified_to_buy": "Qualification",
    "presentation_scheduled": "Value Proposition",
    "decision_maker_bought_in": "Proposal/Price Quote",
    "contract_sent": "Negotiation/Review",
    "closed_won": "Closed Won",
    "closed_lost": "Closed Lost",
    "checkout_abandoned": "Closed Lost",
    "checkout_pending": "Negotiation/Review",
    "checkout_completed": "Closed Won",
    "processed": "Closed Won",
    "shipped": "Closed Won",
    "cancelled": "Closed Lost",
}
LEAD_STATUS = {
    "NEW": "Open - Not Contacted",
    "OPEN": "Open - Not Contacted",
    "IN_PROGRESS": "Working - Contacted",
    "OPEN_DEAL": "Working - Contacted",
    "ATTEMPTED_TO_CONTACT": "Working - Contacted",
    "CONNECTED": "Working - Contacted",
    "UNQUALIFIED": "Closed - Not Converted",
    "BAD_TIMING": "Closed - Not Converted",
}
ACCOUNT_TYPE = {
    "PROSPECT": "Prospect",
    "PARTNER": "Technology Partner",
    "RESELLER": "Channel Partner / Reseller",
    "VENDOR": "Other",
    "OTHER": "Other",
}
OPPORTUNITY_TYPE = {
    "new_business": "New Customer",
    "existing_business": "Existing Customer - Upgrade",
}
CONVERTED_SHARE = 0.35  # of Contacts: also keep the Lead they were converted from
NOT_PROVIDED = "[not provided]"  # what web-to-lead forms put in required fields left blank
REPS = (
    ("Avery", "Brooks"),
    ("Jordan", "Kim"),
    ("Morgan", "Patel"),
    ("Riley", "Schmidt"),
    ("Casey", "Dubois"),
    ("Taylor", "Nakamura"),
)
ADMIN, INTEGRATION = 0, 1  # user rows


def second(ms: int) -> int:
    """Epoch ms truncated to whole seconds (Salesforce datetime precision)."""
    return ms // 1000 * 1000


def day(ms: int) -> int:
    """Epoch ms of the UTC midnight starting that day (Salesforce date fields)."""
    return ms // DAY_MS * DAY_MS


@dataclass(slots=True)
class Rows:
    """Rows of one object in creation order: creation, SystemModstamp and stored columns."""

    created: list[int] = field(default_factory=list)
    modstamp: list[int] = field(default_factory=list)
    columns: dict[str, list[Any]] = field(default_factory=dict)

    def add(self, created: int, modstamp: int, values: dict[str, Any]) -> None:
        """Append one row (columns missing from ``values`` get None)."""
        n = len(self.created)
        self.created.append(created)
        self.modstamp.append(modstamp)
        for name, value in values.items():
            column = self.columns.get(name)
            if column is None:  # not setdefault: it would build an n-long list every call
                column = self.columns[name] = [None] * n
            column.append(value)
        for col in self.columns.values():
            if len(col) == n:
                col.append(None)

    def sorted_by_creation(self) -> Rows:
        """The same rows ordered by creation time (stable)."""
        order = sorted(range(len(self.created)), key=self.created.__getitem__)
        return Rows(
            [self.created[i] for i in order],
            [self.modstamp[i] for i in order],
            {name: [col[i] for i in order] for name, col in self.columns.items()},
        )


IdOf = Callable[[str, int], str]  # (object API name, row) -> 18-character id


@dataclass(slots=True)
class SalesforceSeed:
    """Every object's rows, keyed by API name."""

    rows: dict[str, Rows]


class _Builder:
    """One conversion run: the seed, an id function, a random stream for Salesforce-only facts."""

    def __init__(self, seed: SeedData, id_of: IdOf, username: str) -> None:
        self.seed = seed
        self.id_of = id_of
        self.username = username
        self.rng = random.Random(f"{seed.seed}:salesforce")
        self.anchor = seed.anchor_ms
        self.users = [id_of("User", i) for i in range(len(REPS) + 2)]
        self.reps = self.users[2:]

    def audit(
        self, created: int, updated: int, owner: str | None
    ) -> tuple[int, int, dict[str, Any]]:
        """Creation time, SystemModstamp and the audit columns of a seeded row."""
        created, updated = second(created), second(max(updated, created))
        modstamp = updated
        if self.rng.random() < 0.15:  # automation touched it later (LastModifiedDate unchanged)
            later = updated + int(self.rng.uniform(60, 30 * 86_400) * 1000)
            modstamp = second(min(later, self.anchor - 1000))
        by = owner or self.users[ADMIN]
        values = {
            "CreatedById": by,
            "LastModifiedById": by,
            "LastModifiedDate": updated,
        }
        if owner is not None:
            values["OwnerId"] = owner
        return created, max(modstamp, updated), values

    # -- users and permission sets ------------------------------------------------------------

    def users_rows(self) -> Rows:
        """The org's users: an admin, the integration user and the account executives."""
        rows = Rows()
        start = self.anchor - 4 * 365 * DAY_MS
        people = [("Sandbox", "Admin", "System Administrator"), ("Segsync", "Integration", None)]
        people += [(first, last, "Account Executive") for first, last in REPS]
        for i, (first, last, title) in enumerate(people):
            created = second(start + i * 3 * DAY_MS)
            slug = f"{first}.{last}".lower()
            username = self.username if i == INTEGRATION else f"{slug}@segsync-sandbox.example"
            rows.add(
                created,
                created,
                {
                    "Username": username,
                    "FirstName": first,
                    "LastName": last,
                    "Email": username if i == INTEGRATION else f"{slug}@example.com",
                    "Alias": (first[0] + last)[:8].lower(),
                    "IsActive": True,
                    "ProfileId": "00e5g000000ABCDEAA4" if i == ADMIN else "00e5g000000ABCFEAA4",
                    "UserType": "Standard",
                    "TimeZoneSidKey": "America/Los_Angeles",
                    "Title": title,
                    "CreatedById": self.users[ADMIN],
                    "LastModifiedById": self.users[ADMIN],
                    "LastModifiedDate": created,
                },
            )
        return rows

    def permission_sets(self) -> tuple[Rows, Rows]:
        """Two seeded permission sets and who holds them (no field permissions yet)."""
        sets, assignments = Rows(), Rows()
        created = second(self.anchor - 3 * 365 * DAY_MS)
        seeded = (
            ("Sales_User", "Sales User", "Standard object access for account executives.", False),
            ("API_Integration", "API Integration", "API access for integration users.", True),
        )
        for name, label, description, api in seeded:
            sets.add(
                created,
                created,
                {
                    "Name": name,
                    "Label": label,
                    "Description": description,
                    "IsOwnedByProfile": False,
                    "IsCustom": True,
                    "PermissionsApiEnabled": api,
                    "PermissionsCustomizeApplication": False,
                    "CreatedById": self.users[ADMIN],
                    "LastModifiedById": self.users[ADMIN],
                    "LastModifiedDate": created,
                },
            )
        # The integration user holds API_Integration; every rep holds Sales_User.
        holders = [(self.users[INTEGRATION], 1)] + [(rep, 0) for rep in self.reps]
        for user, set_row in holders:
            assignments.add(
                created,
                created,
                {"AssigneeId": user, "PermissionSetId": self.id_of("PermissionSet", set_row)},
            )
        return sets, assignments

    # -- accounts ----------------------------------------------------------------------------------

    def accounts(self) -> tuple[Rows, list[str]]:
        """Account rows from the seeded companies, and each account's owner."""
        c = self.seed.tables["company"].columns
        rows, owners = Rows(), []
        for i in range(self.seed.tables["company"].size):
            owner = self.reps[self.rng.randrange(len(self.reps))]
            owners.append(owner)
            created, modstamp, audit = self.audit(c["created_at"][i], c["updated_at"][i], owner)
            lifecycle = c["lifecycle_stage"][i]
            kind = c["company_type"][i]
            rows.add(
                created,
                modstamp,
                {
                    **audit,
                    "Name": c["name"][i],
                    "Website": c["website"][i],
                    "Industry": INDUSTRY.get(c["industry"][i]) if c["industry"][i] else None,
                    "NumberOfEmployees": c["employees"][i],
                    "AnnualRevenue": _float(c["annual_revenue"][i]),
                    "BillingCountry": c["country"][i],
                    "BillingState": c["state"][i],
                    "BillingCity": c["city"][i],
                    "Phone": c["phone"][i],
                    "Tech_Stack__c": c["tech_stack"][i],
                    "Founded_Year__c": _float(c["founded_year"][i]),
                    "Description": c["description"][i],
                    "Type": "Customer - Direct"
                    if lifecycle == "customer"
                    else ACCOUNT_TYPE.get(kind)
                    if kind
                    else None,
                    "LastActivityDate": _day_or_none(c["last_activity_at"][i]),
                },
            )
        return rows, owners

    # -- people --------------------------------------------------------------------------------

    def person(self, i: int, table: str = "contact") -> dict[str, Any]:
        """The fields Contacts and Leads share, from seeded person ``i`` of a seed table."""
        p = self.seed.tables[table].columns
        interests = p["interests"][i]
        return {
            "FirstName": p["first_name"][i],
            "LastName": p["last_name"][i] or "Unknown",
            "Email": p["email"][i],
            "Title": p["job_title"][i],
            "Phone": p["phone"][i],
            "LeadSource": SOURCE.get(p["source"][i]) if p["source"][i] else None,
            "LastActivityDate": _day_or_none(p["last_activity_at"][i]),
            "HasOptedOutOfEmail": self.rng.random() < 0.04,
            "Birth_Year__c": _float(p["birth_year"][i]),
            "Gender__c": p["gender"][i],
            "Annual_Income__c": _float(p["income"][i]),
            "Interests__c": ";".join(interests) if interests else None,
            "Use_Case__c": p["use_case"][i],
            "Primary_Goal__c": p["primary_goal"][i],
            "Preferred_Channel__c": p["preferred_channel"][i],
            "Email_Opens__c": _float(p["email_opens"][i]),
            "Email_Clicks__c": _float(p["email_clicks"][i]),
            "Page_Views__c": _float(p["page_views"][i]),
            "Website_Visits__c": _float(p["visits"][i]),
        }

    def contacts(self, account_owners: list[str]) -> tuple[Rows, dict[int, int]]:
        """Contact rows and seeded person -> contact row."""
        p = self.seed.tables["contact"].columns
        account_of: dict[int, int] = {}
        for person, company in self.seed.links.get(("contact", "company"), []):
            account_of.setdefault(person, company)  # the first link is the primary account
        rows, row_of = Rows(), {}
        for i in range(self.seed.tables["contact"].size):
            account = account_of.get(i)
            owner = (
                account_owners[account]
                if account is not None
                else self.reps[self.rng.randrange(len(self.reps))]
            )
            created, modstamp, audit = self.audit(p["created_at"][i], p["updated_at"][i], owner)
            row_of[i] = len(rows.created)
            rows.add(
                created,
                modstamp,
                {
                    **audit,
                    **self.person(i),
                    "AccountId": self.id_of("Account", account) if account is not None else None,
                    "MailingCountry": p["country"][i],
                    "MailingState": p["state"][i],
                    "MailingCity": p["city"][i],
                    "Birthdate": _day_or_none(p["date_of_birth"][i]),
                },
            )
        return rows, row_of

    def leads(
        self, contact_row: dict[int, int], contacts: Rows, first_deal: dict[int, int]
    ) -> Rows:
        """Open leads plus the converted leads behind some contacts, in creation order."""
        rows = Rows()
        lead_people = self.seed.tables.get("lead")
        for i in range(lead_people.size if lead_people else 0):
            assert lead_people is not None
            p = lead_people.columns
            owner = self.reps[self.rng.randrange(len(self.reps))]
            created, modstamp, audit = self.audit(p["created_at"][i], p["updated_at"][i], owner)
            status = LEAD_STATUS.get(p["lead_status"][i] or "", "Open - Not Contacted")
            rows.add(
                created,
                modstamp,
                {
                    **audit,
                    **self.person(i, "lead"),
                    "Company": p["company_name"][i] or NOT_PROVIDED,
                    "Country": p["country"][i],
                    "State": p["state"][i],
                    "City": p["city"][i],
                    "Status": status,
                    "IsConverted": False,
                },
            )
        p = self.seed.tables["contact"].columns
        for i, row in contact_row.items():
            if self.rng.random() >= CONVERTED_SHARE:
                continue
            converted_at = contacts.created[row]
            created = second(converted_at - int(self.rng.uniform(1, 90) * DAY_MS))
            account = contacts.columns["AccountId"][row]
            owner = contacts.columns["OwnerId"][row]
            company = self.seed.tables["contact"].columns["company_name"][i]
            deal = first_deal.get(i)
            person = self.person(i)
            if (person["LastActivityDate"] or 0) > converted_at:
                person["LastActivityDate"] = None  # later activity happened on the Contact
            rows.add(
                created,
                converted_at,
                {
                    **person,
                    "OwnerId": owner,
                    "CreatedById": owner,
                    "LastModifiedById": owner,
                    "LastModifiedDate": converted_at,
                    "Company": company or NOT_PROVIDED,
                    "Country": p["country"][i],
                    "State": p["state"][i],
                    "City": p["city"][i],
                    "Status": CONVERTED_STATUS,
                    "IsConverted": True,
                    "ConvertedDate": day(converted_at),
                    "ConvertedAccountId": account,
                    "ConvertedContactId": self.id_of("Contact", row),
                    "ConvertedOpportunityId": self.id_of("Opportunity", deal)
                    if deal is not None
                    else None,
                },
            )
        return rows.sorted_by_creation()

    # -- opportunities -------------------------------------------------------------------------

    def opportunities(
        self, account_owners: list[str], contact_row: dict[int, int]
    ) -> tuple[Rows, Rows, dict[int, int]]:
        """Opportunity rows, their contact roles, and person -> first opportunity row."""
        d = self.seed.tables["deal"].columns
        account_of = dict(self.seed.links.get(("deal", "company"), []))
        people: dict[int, list[int]] = {}
        for deal, person in self.seed.links.get(("deal", "contact"), []):
            people.setdefault(deal, []).append(person)
        opps, roles = Rows(), Rows()
        first_deal: dict[int, int] = {}
        for i in range(self.seed.tables["deal"].size):
            account = account_of.get(i)
            owner = (
                account_owners[account]
                if account is not None
                else self.reps[self.rng.randrange(len(self.reps))]
            )
            created, modstamp, audit = self.audit(d["created_at"][i], d["updated_at"][i], owner)
            stage = STAGE[d["stage"][i]]
            opps.add(
                created,
                modstamp,
                {
                    **audit,
                    "Name": d["name"][i],
                    "AccountId": self.id_of("Account", account) if account is not None else None,
                    "Amount": _float(d["amount"][i]),
                    "CloseDate": day(d["close_date"][i]),
                    "StageName": stage,
                    "Probability": float(STAGE_INFO[stage][1]),
                    "Type": OPPORTUNITY_TYPE.get(d["deal_type"][i] or ""),
                    "HasOpportunityLineItem": False,
                },
            )
            for n, person in enumerate(people.get(i, [])):
                first_deal.setdefault(person, i)
                role = "Decision Maker" if n == 0 else self.rng.choice(CONTACT_ROLES)
                roles.add(
                    created,
                    created,
                    {
                        "OpportunityId": self.id_of("Opportunity", i),
                        "ContactId": self.id_of("Contact", contact_row[person]),
                        "Role": role,
                        "IsPrimary": n == 0,
                        "CreatedById": owner,
                        "LastModifiedById": owner,
                        "LastModifiedDate": created,
                    },
                )
        return opps, roles, first_deal


def build(seed: SeedData, id_of: IdOf, username: str) -> SalesforceSeed:
    """Every object's rows for a seed; ``id_of`` says which id a row of an object will get."""
    b = _Builder(seed, id_of, username)
    users = b.users_rows()
    sets, assignments = b.permission_sets()
    accounts, account_owners = b.accounts()
    contacts, contact_row = b.contacts(account_owners)
    opportunities, roles, first_deal = b.opportunities(account_owners, contact_row)
    leads = b.leads(contact_row, contacts, first_deal)
    return SalesforceSeed(
        {
            "User": users,
            "PermissionSet": sets,
            "PermissionSetAssignment": assignments,
            "FieldPermissions": Rows(),
            "Account": accounts,
            "Contact": contacts,
            "Lead": leads,
            "Opportunity": opportunities,
            "OpportunityContactRole": roles,
            "Campaign": Rows(),
            "CampaignMember": Rows(),
            "CampaignMemberStatus": Rows(),
        }
    )


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _day_or_none(ms: int | None) -> int | None:
    return None if ms is None else day(ms)
