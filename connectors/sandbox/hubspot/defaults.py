"""HubSpot's default CRM schema as the sandbox serves it, and how seed fields map onto it.

Object types are canonical (``contact``, ``company``, ``deal``) inside the sandbox; the
HubSpot API names them ``contacts``/``0-1``, ``companies``/``0-2``, ``deals``/``0-3``.
"""

from __future__ import annotations

from typing import Any

from connectors.sandbox.hubspot.property_schema import (
    ObjectSchema,
    Option,
    PropertyDef,
    PropertyGroup,
)
from connectors.sandbox.seed.pools import (
    B2B_GOALS,
    B2B_USE_CASES,
    B2C_GOALS,
    B2C_USE_CASES,
    CHANNELS,
    INTERESTS,
)
from connectors.sandbox.store import CREATED, ID, UPDATED

PORTAL_ID = 24681357
SCHEMA_CREATED_MS = 1565049600000  # when the default properties "were created" (2019-08-06)
OBJECT_NAMES = {"contact": "contacts", "company": "companies", "deal": "deals"}
OBJECT_TYPE_IDS = {"contact": "0-1", "company": "0-2", "deal": "0-3"}
# Path segment -> canonical object type (HubSpot accepts names, singular names and type ids).
PATH_OBJECTS: dict[str, str] = {}
for _canon, _plural in OBJECT_NAMES.items():
    PATH_OBJECTS[_plural] = PATH_OBJECTS[_canon] = PATH_OBJECTS[OBJECT_TYPE_IDS[_canon]] = _canon
ERROR_NOUN = {"contact": "CONTACT", "company": "COMPANY", "deal": "DEAL"}
ID_PLACEHOLDER = {"contact": "{contactId}", "company": "{companyId}", "deal": "{dealId}"}

# Record ids: HubSpot ids are sparse; distinct ranges catch ids used with the wrong object type.
ID_RANGES = {"contact": (1001, 50), "company": (7_000_000_001, 50), "deal": (12_000_000_001, 50)}

MODIFIED_PROP = {
    "contact": "lastmodifieddate",
    "company": "hs_lastmodifieddate",
    "deal": "hs_lastmodifieddate",
}
ALIASES: dict[str, dict[str, str]] = {
    "contact": {
        "hs_object_id": ID,
        "createdate": CREATED,
        "lastmodifieddate": UPDATED,
        "hs_lastmodifieddate": UPDATED,
    },
    "company": {"hs_object_id": ID, "createdate": CREATED, "hs_lastmodifieddate": UPDATED},
    "deal": {"hs_object_id": ID, "createdate": CREATED, "hs_lastmodifieddate": UPDATED},
}
# Properties every list/get/search result carries, whatever was requested.
ALWAYS: dict[str, tuple[str, ...]] = {
    "contact": ("createdate", "hs_object_id", "lastmodifieddate"),
    "company": ("createdate", "hs_lastmodifieddate", "hs_object_id"),
    "deal": ("createdate", "hs_lastmodifieddate", "hs_object_id"),
}
DEFAULT_PROPERTIES: dict[str, tuple[str, ...]] = {
    "contact": ("firstname", "lastname", "email", "lastmodifieddate", "hs_object_id", "createdate"),
    "company": ("name", "domain", "createdate", "hs_lastmodifieddate", "hs_object_id"),
    "deal": (
        "dealname",
        "amount",
        "closedate",
        "pipeline",
        "dealstage",
        "createdate",
        "hs_lastmodifieddate",
        "hs_object_id",
    ),
}
# Properties the free-text ``query`` of a search looks at.
QUERY_PROPERTIES: dict[str, tuple[str, ...]] = {
    "contact": ("firstname", "lastname", "email", "phone", "mobilephone", "company"),
    "company": ("name", "domain", "website", "phone"),
    "deal": ("dealname", "pipeline", "dealstage", "description", "dealtype"),
}
LIFECYCLE = (
    ("subscriber", "Subscriber"),
    ("lead", "Lead"),
    ("marketingqualifiedlead", "Marketing Qualified Lead"),
    ("salesqualifiedlead", "Sales Qualified Lead"),
    ("opportunity", "Opportunity"),
    ("customer", "Customer"),
    ("evangelist", "Evangelist"),
    ("other", "Other"),
)

# Pipelines: id -> (label, [(stage id, label, probability, closed)]); won = closed and p == 1.
PIPELINES: dict[str, tuple[str, tuple[tuple[str, str, float, bool], ...]]] = {
    "default": (
        "Sales Pipeline",
        (
            ("appointmentscheduled", "Appointment Scheduled", 0.2, False),
            ("qualifiedtobuy", "Qualified To Buy", 0.4, False),
            ("presentationscheduled", "Presentation Scheduled", 0.6, False),
            ("decisionmakerboughtin", "Decision Maker Bought-In", 0.8, False),
            ("contractsent", "Contract Sent", 0.9, False),
            ("closedwon", "Closed Won", 1.0, True),
            ("closedlost", "Closed Lost", 0.0, True),
        ),
    ),
    "ecommerce": (
        "Ecommerce Pipeline",
        (
            ("checkout_abandoned", "Checkout Abandoned", 0.0, True),
            ("checkout_pending", "Checkout Pending", 0.5, False),
            ("checkout_completed", "Checkout Completed", 1.0, True),
            ("processed", "Processed", 1.0, True),
            ("shipped", "Shipped", 1.0, True),
            ("cancelled", "Cancelled", 0.0, True),
        ),
    ),
}
STAGE_INFO: dict[str, tuple[str, float, bool]] = {  # stage id -> (pipeline, probability, closed)
    stage: (pipeline, p, closed)
    for pipeline, (_, stages) in PIPELINES.items()
    for stage, _, p, closed in stages
}

# HubSpot-defined association types: (from, to) -> (unlabeled type id, primary type id or None).
ASSOCIATION_TYPES: dict[tuple[str, str], tuple[int, int | None]] = {
    ("contact", "company"): (279, 1),
    ("company", "contact"): (280, 2),
    ("deal", "contact"): (3, None),
    ("contact", "deal"): (4, None),
    ("deal", "company"): (341, 5),
    ("company", "deal"): (342, 6),
}
TYPE_ID_TARGET = {
    type_id: pair for pair, ids in ASSOCIATION_TYPES.items() for type_id in ids if type_id
}

INDUSTRY_VALUES: tuple[str, ...] = (
    "ACCOUNTING",
    "AIRLINES_AVIATION",
    "ALTERNATIVE_DISPUTE_RESOLUTION",
    "ALTERNATIVE_MEDICINE",
    "ANIMATION",
    "APPAREL_FASHION",
    "ARCHITECTURE_PLANNING",
    "ARTS_AND_CRAFTS",
    "AUTOMOTIVE",
    "AVIATION_AEROSPACE",
    "BANKING",
    "BIOTECHNOLOGY",
    "BROADCAST_MEDIA",
    "BUILDING_MATERIALS",
    "BUSINESS_SUPPLIES_AND_EQUIPMENT",
    "CAPITAL_MARKETS",
    "CHEMICALS",
    "CIVIC_SOCIAL_ORGANIZATION",
    "CIVIL_ENGINEERING",
    "COMMERCIAL_REAL_ESTATE",
    "COMPUTER_NETWORK_SECURITY",
    "COMPUTER_GAMES",
    "COMPUTER_HARDWARE",
    "COMPUTER_NETWORKING",
    "COMPUTER_SOFTWARE",
    "INTERNET",
    "CONSTRUCTION",
    "CONSUMER_ELECTRONICS",
    "CONSUMER_GOODS",
    "CONSUMER_SERVICES",
    "COSMETICS",
    "DAIRY",
    "DEFENSE_SPACE",
    "DESIGN",
    "EDUCATION_MANAGEMENT",
    "E_LEARNING",
    "ELECTRICAL_ELECTRONIC_MANUFACTURING",
    "ENTERTAINMENT",
    "ENVIRONMENTAL_SERVICES",
    "EVENTS_SERVICES",
    "EXECUTIVE_OFFICE",
    "FACILITIES_SERVICES",
    "FARMING",
    "FINANCIAL_SERVICES",
    "FINE_ART",
    "FISHERY",
    "FOOD_BEVERAGES",
    "FOOD_PRODUCTION",
    "FUND_RAISING",
    "FURNITURE",
    "GAMBLING_CASINOS",
    "GLASS_CERAMICS_CONCRETE",
    "GOVERNMENT_ADMINISTRATION",
    "GOVERNMENT_RELATIONS",
    "GRAPHIC_DESIGN",
    "HEALTH_WELLNESS_AND_FITNESS",
    "HIGHER_EDUCATION",
    "HOSPITAL_HEALTH_CARE",
    "HOSPITALITY",
    "HUMAN_RESOURCES",
    "IMPORT_AND_EXPORT",
    "INDIVIDUAL_FAMILY_SERVICES",
    "INDUSTRIAL_AUTOMATION",
    "INFORMATION_SERVICES",
    "INFORMATION_TECHNOLOGY_AND_SERVICES",
    "INSURANCE",
    "INTERNATIONAL_AFFAIRS",
    "INTERNATIONAL_TRADE_AND_DEVELOPMENT",
    "INVESTMENT_BANKING",
    "INVESTMENT_MANAGEMENT",
    "JUDICIARY",
    "LAW_ENFORCEMENT",
    "LAW_PRACTICE",
    "LEGAL_SERVICES",
    "LEGISLATIVE_OFFICE",
    "LEISURE_TRAVEL_TOURISM",
    "LIBRARIES",
    "LOGISTICS_AND_SUPPLY_CHAIN",
    "LUXURY_GOODS_JEWELRY",
    "MACHINERY",
    "MANAGEMENT_CONSULTING",
    "MARITIME",
    "MARKET_RESEARCH",
    "MARKETING_AND_ADVERTISING",
    "MECHANICAL_OR_INDUSTRIAL_ENGINEERING",
    "MEDIA_PRODUCTION",
    "MEDICAL_DEVICES",
    "MEDICAL_PRACTICE",
    "MENTAL_HEALTH_CARE",
    "MILITARY",
    "MINING_METALS",
    "MOTION_PICTURES_AND_FILM",
    "MUSEUMS_AND_INSTITUTIONS",
    "MUSIC",
    "NANOTECHNOLOGY",
    "NEWSPAPERS",
    "NON_PROFIT_ORGANIZATION_MANAGEMENT",
    "OIL_ENERGY",
    "ONLINE_MEDIA",
    "OUTSOURCING_OFFSHORING",
    "PACKAGE_FREIGHT_DELIVERY",
    "PACKAGING_AND_CONTAINERS",
    "PAPER_FOREST_PRODUCTS",
    "PERFORMING_ARTS",
    "PHARMACEUTICALS",
    "PHILANTHROPY",
    "PHOTOGRAPHY",
    "PLASTICS",
    "POLITICAL_ORGANIZATION",
    "PRIMARY_SECONDARY_EDUCATION",
    "PRINTING",
    "PROFESSIONAL_TRAINING_COACHING",
    "PROGRAM_DEVELOPMENT",
    "PUBLIC_POLICY",
    "PUBLIC_RELATIONS_AND_COMMUNICATIONS",
    "PUBLIC_SAFETY",
    "PUBLISHING",
    "RAILROAD_MANUFACTURE",
    "RANCHING",
    "REAL_ESTATE",
    "RECREATIONAL_FACILITIES_AND_SERVICES",
    "RELIGIOUS_INSTITUTIONS",
    "RENEWABLES_ENVIRONMENT",
    "RESEARCH",
    "RESTAURANTS",
    "RETAIL",
    "SECURITY_AND_INVESTIGATIONS",
    "SEMICONDUCTORS",
    "SHIPBUILDING",
    "SPORTING_GOODS",
    "SPORTS",
    "STAFFING_AND_RECRUITING",
    "SUPERMARKETS",
    "TELECOMMUNICATIONS",
    "TEXTILES",
    "THINK_TANKS",
    "TOBACCO",
    "TRANSLATION_AND_LOCALIZATION",
    "TRANSPORTATION_TRUCKING_RAILROAD",
    "UTILITIES",
    "VENTURE_CAPITAL_PRIVATE_EQUITY",
    "VETERINARY",
    "WAREHOUSING",
    "WHOLESALE",
    "WINE_AND_SPIRITS",
    "WIRELESS",
    "WRITING_AND_EDITING",
)

# Seed (canonical) values -> HubSpot option values.
VALUE_MAPS: dict[str, dict[Any, str]] = {
    "industry": {
        "software": "COMPUTER_SOFTWARE",
        "it_services": "INFORMATION_TECHNOLOGY_AND_SERVICES",
        "internet": "INTERNET",
        "financial_services": "FINANCIAL_SERVICES",
        "banking": "BANKING",
        "insurance": "INSURANCE",
        "healthcare": "HOSPITAL_HEALTH_CARE",
        "pharma": "PHARMACEUTICALS",
        "biotech": "BIOTECHNOLOGY",
        "medical_devices": "MEDICAL_DEVICES",
        "retail": "RETAIL",
        "consumer_goods": "CONSUMER_GOODS",
        "manufacturing": "MECHANICAL_OR_INDUSTRIAL_ENGINEERING",
        "automotive": "AUTOMOTIVE",
        "telecom": "TELECOMMUNICATIONS",
        "education": "EDUCATION_MANAGEMENT",
        "higher_education": "HIGHER_EDUCATION",
        "marketing": "MARKETING_AND_ADVERTISING",
        "consulting": "MANAGEMENT_CONSULTING",
        "real_estate": "REAL_ESTATE",
        "construction": "CONSTRUCTION",
        "logistics": "LOGISTICS_AND_SUPPLY_CHAIN",
        "transportation": "TRANSPORTATION_TRUCKING_RAILROAD",
        "energy": "OIL_ENERGY",
        "renewables": "RENEWABLES_ENVIRONMENT",
        "media": "ONLINE_MEDIA",
        "hospitality": "HOSPITALITY",
        "food_beverage": "FOOD_BEVERAGES",
        "legal": "LAW_PRACTICE",
        "accounting": "ACCOUNTING",
        "government": "GOVERNMENT_ADMINISTRATION",
        "nonprofit": "NON_PROFIT_ORGANIZATION_MANAGEMENT",
        "computer_security": "COMPUTER_NETWORK_SECURITY",
        "semiconductors": "SEMICONDUCTORS",
        "staffing": "STAFFING_AND_RECRUITING",
        "airlines": "AIRLINES_AVIATION",
        "gaming": "COMPUTER_GAMES",
        "apparel": "APPAREL_FASHION",
        "consumer_electronics": "CONSUMER_ELECTRONICS",
        "chemicals": "CHEMICALS",
        "hr": "HUMAN_RESOURCES",
        "venture_capital": "VENTURE_CAPITAL_PRIVATE_EQUITY",
    },
    "stage": {
        "appointment_scheduled": "appointmentscheduled",
        "qualified_to_buy": "qualifiedtobuy",
        "presentation_scheduled": "presentationscheduled",
        "decision_maker_bought_in": "decisionmakerboughtin",
        "contract_sent": "contractsent",
        "closed_won": "closedwon",
        "closed_lost": "closedlost",
    },
    "pipeline": {"sales": "default", "ecommerce": "ecommerce"},
    "deal_type": {"new_business": "newbusiness", "existing_business": "existingbusiness"},
}

# Seed field -> HubSpot property, per object type.
FIELD_MAP: dict[str, dict[str, str]] = {
    "contact": {
        "email": "email",
        "first_name": "firstname",
        "last_name": "lastname",
        "job_title": "jobtitle",
        "phone": "phone",
        "country": "country",
        "state": "state",
        "city": "city",
        "company_name": "company",
        "lifecycle_stage": "lifecyclestage",
        "lead_status": "hs_lead_status",
        "source": "hs_analytics_source",
        "last_activity_at": "notes_last_updated",
        "last_contacted_at": "notes_last_contacted",
        "last_visit_at": "hs_analytics_last_visit_timestamp",
        "email_opens": "hs_email_open",
        "email_clicks": "hs_email_click",
        "email_delivered": "hs_email_delivered",
        "page_views": "hs_analytics_num_page_views",
        "visits": "hs_analytics_num_visits",
        "notes_count": "num_notes",
        "interests": "interests",
        "use_case": "use_case",
        "primary_goal": "primary_goal",
        "preferred_channel": "preferred_channel",
        "birth_year": "birth_year",
        "date_of_birth": "date_of_birth",
        "gender": "gender",
        "income": "income",
        "num_orders": "num_associated_deals",
        "total_revenue": "total_revenue",
        "first_order_at": "first_deal_created_date",
        "last_order_at": "recent_deal_close_date",
        "last_order_amount": "recent_deal_amount",
    },
    "company": {
        "name": "name",
        "domain": "domain",
        "website": "website",
        "industry": "industry",
        "employees": "numberofemployees",
        "annual_revenue": "annualrevenue",
        "country": "country",
        "state": "state",
        "city": "city",
        "phone": "phone",
        "tech_stack": "tech_stack",
        "lifecycle_stage": "lifecyclestage",
        "company_type": "type",
        "founded_year": "founded_year",
        "description": "description",
        "last_activity_at": "notes_last_updated",
        "num_contacts": "num_associated_contacts",
        "num_deals": "num_associated_deals",
        "total_revenue": "total_revenue",
    },
    "deal": {
        "name": "dealname",
        "amount": "amount",
        "close_date": "closedate",
        "stage": "dealstage",
        "pipeline": "pipeline",
        "is_won": "hs_is_closed_won",
        "is_closed": "hs_is_closed",
        "probability": "hs_deal_stage_probability",
        "deal_type": "dealtype",
        "priority": "hs_priority",
    },
}


def _opts(values: Any) -> list[Option]:
    """Options from values or (value, label) pairs, in the given order."""
    out = []
    for i, item in enumerate(values):
        value, label = (
            item if isinstance(item, tuple) else (item, str(item).replace("_", " ").capitalize())
        )
        out.append(Option(label, value, i))
    return out


def _industry_label(value: str) -> str:
    return (
        value.replace("_AND_", " & ").replace("_", " ").title().replace("E Learning", "E-Learning")
    )


def _p(name: str, label: str, type_: str, field_type: str, group: str, **kw: Any) -> PropertyDef:
    return PropertyDef(
        name=name, label=label, type=type_, field_type=field_type, group_name=group, **kw
    )


def _ro(name: str, label: str, type_: str, field_type: str, group: str, **kw: Any) -> PropertyDef:
    return _p(name, label, type_, field_type, group, read_only_value=True, calculated=True, **kw)


def _custom(
    name: str, label: str, type_: str, field_type: str, group: str, **kw: Any
) -> PropertyDef:
    return _p(
        name,
        label,
        type_,
        field_type,
        group,
        hubspot_defined=False,
        read_only_definition=False,
        form_field=True,
        **kw,
    )


def _system(info: str, modified: tuple[str, ...]) -> list[PropertyDef]:
    props = [
        _ro(
            "hs_object_id",
            "Record ID",
            "number",
            "number",
            info,
            description="The unique ID for this record, set automatically by HubSpot.",
        ),
        _p(
            "createdate",
            "Create Date",
            "datetime",
            "date",
            info,
            read_only_value=True,
            description="The date the record was created.",
        ),
    ]
    for name in modified:
        props.append(
            _p(
                name,
                "Last Modified Date"
                if name == "lastmodifieddate"
                else "Object last modified date/time",
                "datetime",
                "date",
                info,
                read_only_value=True,
                description="Most recent timestamp of any property update for this record.",
            )
        )
    return props


def _lifecycle(group: str) -> PropertyDef:
    return _p(
        "lifecyclestage",
        "Lifecycle Stage",
        "enumeration",
        "radio",
        group,
        options=_opts(LIFECYCLE),
        read_only_definition=False,
        form_field=True,
        description="The qualification of contacts to sales readiness. It can only move forward "
        "via the API; clear it first to move it back.",
    )


def contact_schema() -> ObjectSchema:
    """Contacts: HubSpot's standard properties plus the seed's survey fields (custom)."""
    info, email, web, sales, survey, deals = (
        "contactinformation",
        "emailinformation",
        "analyticsinformation",
        "sales_properties",
        "survey_preferences",
        "deal_information",
    )
    use_cases = list(dict.fromkeys(B2B_USE_CASES + B2C_USE_CASES))
    goals = list(dict.fromkeys(B2B_GOALS + B2C_GOALS))
    props = [
        *_system(info, ("lastmodifieddate", "hs_lastmodifieddate")),
        _p("email", "Email", "string", "text", info, form_field=True, read_only_definition=False),
        _p("firstname", "First Name", "string", "text", info, form_field=True),
        _p("lastname", "Last Name", "string", "text", info, form_field=True),
        _p("jobtitle", "Job Title", "string", "text", info, form_field=True),
        _p("phone", "Phone Number", "string", "phonenumber", info, form_field=True),
        _p("mobilephone", "Mobile Phone Number", "string", "phonenumber", info, form_field=True),
        _p("country", "Country/Region", "string", "text", info, form_field=True),
        _p("state", "State/Region", "string", "text", info, form_field=True),
        _p("city", "City", "string", "text", info, form_field=True),
        _p("company", "Company Name", "string", "text", info, form_field=True),
        _p("website", "Website URL", "string", "text", info, form_field=True),
        _p("industry", "Industry", "string", "text", info, form_field=True),
        _lifecycle(info),
        _p(
            "hs_lead_status",
            "Lead Status",
            "enumeration",
            "radio",
            sales,
            read_only_definition=False,
            options=_opts(
                [
                    ("NEW", "New"),
                    ("OPEN", "Open"),
                    ("IN_PROGRESS", "In Progress"),
                    ("OPEN_DEAL", "Open Deal"),
                    ("UNQUALIFIED", "Unqualified"),
                    ("ATTEMPTED_TO_CONTACT", "Attempted to Contact"),
                    ("CONNECTED", "Connected"),
                    ("BAD_TIMING", "Bad Timing"),
                ]
            ),
        ),
        _ro(
            "hs_analytics_source",
            "Original Traffic Source",
            "enumeration",
            "select",
            web,
            options=_opts(
                [
                    ("ORGANIC_SEARCH", "Organic Search"),
                    ("PAID_SEARCH", "Paid Search"),
                    ("EMAIL_MARKETING", "Email Marketing"),
                    ("SOCIAL_MEDIA", "Organic Social"),
                    ("REFERRALS", "Referrals"),
                    ("OTHER_CAMPAIGNS", "Other Campaigns"),
                    ("DIRECT_TRAFFIC", "Direct Traffic"),
                    ("OFFLINE", "Offline Sources"),
                    ("PAID_SOCIAL", "Paid Social"),
                ]
            ),
        ),
        _ro("notes_last_updated", "Last Activity Date", "datetime", "date", sales),
        _ro("notes_last_contacted", "Last Contacted", "datetime", "date", sales),
        _ro("num_notes", "Number of Sales Activities", "number", "number", sales),
        _ro("hs_email_delivered", "Marketing emails delivered", "number", "number", email),
        _ro("hs_email_open", "Marketing emails opened", "number", "number", email),
        _ro("hs_email_click", "Marketing emails clicked", "number", "number", email),
        _ro("hs_analytics_num_page_views", "Number of Pageviews", "number", "number", web),
        _ro("hs_analytics_num_visits", "Number of Sessions", "number", "number", web),
        _ro("hs_analytics_last_visit_timestamp", "Time Last Seen", "datetime", "date", web),
        _ro("num_associated_deals", "Number of Associated Deals", "number", "number", deals),
        _ro("total_revenue", "Total Revenue", "number", "number", deals, show_currency_symbol=True),
        _ro("first_deal_created_date", "First Deal Created Date", "datetime", "date", deals),
        _ro("recent_deal_close_date", "Recent Deal Close Date", "datetime", "date", deals),
        _ro(
            "recent_deal_amount",
            "Recent Deal Amount",
            "number",
            "number",
            deals,
            show_currency_symbol=True,
        ),
        _p(
            "date_of_birth",
            "Date of birth",
            "date",
            "date",
            info,
            form_field=True,
            read_only_definition=False,
        ),
        _custom("gender", "Gender", "string", "text", survey),
        _custom("birth_year", "Birth year", "number", "number", survey),
        _custom("income", "Annual income", "number", "number", survey, show_currency_symbol=True),
        _custom(
            "interests", "Interests", "enumeration", "checkbox", survey, options=_opts(INTERESTS)
        ),
        _custom("use_case", "Use case", "enumeration", "select", survey, options=_opts(use_cases)),
        _custom(
            "primary_goal", "Primary goal", "enumeration", "select", survey, options=_opts(goals)
        ),
        _custom(
            "preferred_channel",
            "Preferred channel",
            "enumeration",
            "select",
            survey,
            options=_opts([c for c, _ in CHANNELS]),
        ),
    ]
    groups = [
        ("contactinformation", "Contact information"),
        ("emailinformation", "Email information"),
        ("analyticsinformation", "Web analytics history"),
        ("sales_properties", "Sales properties"),
        ("deal_information", "Deal information"),
        ("survey_preferences", "Survey & preferences"),
    ]
    return _schema("contact", props, groups)


def company_schema() -> ObjectSchema:
    """Companies: HubSpot's standard properties plus ``tech_stack`` (custom)."""
    info, sales, tech = "companyinformation", "sales_properties", "technology"
    props = [
        *_system(info, ("hs_lastmodifieddate",)),
        _p("name", "Company name", "string", "text", info, form_field=True),
        _p("domain", "Company Domain Name", "string", "text", info, form_field=True),
        _p("website", "Website URL", "string", "text", info, form_field=True),
        _p(
            "industry",
            "Industry",
            "enumeration",
            "select",
            info,
            read_only_definition=False,
            options=[Option(_industry_label(v), v, i) for i, v in enumerate(INDUSTRY_VALUES)],
        ),
        _p("numberofemployees", "Number of Employees", "number", "number", info, form_field=True),
        _p("annualrevenue", "Annual Revenue", "number", "number", info, show_currency_symbol=True),
        _p("country", "Country/Region", "string", "text", info),
        _p("state", "State/Region", "string", "text", info),
        _p("city", "City", "string", "text", info),
        _p("phone", "Phone Number", "string", "phonenumber", info),
        _p("description", "Description", "string", "textarea", info),
        _p("founded_year", "Year Founded", "string", "text", info),
        _p(
            "type",
            "Type",
            "enumeration",
            "select",
            info,
            read_only_definition=False,
            options=_opts(
                [
                    ("PROSPECT", "Prospect"),
                    ("PARTNER", "Partner"),
                    ("RESELLER", "Reseller"),
                    ("VENDOR", "Vendor"),
                    ("OTHER", "Other"),
                ]
            ),
        ),
        _lifecycle(info),
        _ro("notes_last_updated", "Last Activity Date", "datetime", "date", sales),
        _ro("num_associated_contacts", "Number of Associated Contacts", "number", "number", sales),
        _ro("num_associated_deals", "Number of Associated Deals", "number", "number", sales),
        _ro("total_revenue", "Total Revenue", "number", "number", sales, show_currency_symbol=True),
        _custom(
            "tech_stack",
            "Tech stack",
            "string",
            "textarea",
            tech,
            description="Tools the company uses, separated by semicolons.",
        ),
    ]
    groups = [
        ("companyinformation", "Company information"),
        ("sales_properties", "Sales properties"),
        ("analyticsinformation", "Web analytics history"),
        ("technology", "Technology"),
    ]
    return _schema("company", props, groups)


def deal_schema() -> ObjectSchema:
    """Deals: HubSpot's standard properties (stages come from the pipelines)."""
    info, activity = "dealinformation", "deal_activity"
    props = [
        *_system(info, ("hs_lastmodifieddate",)),
        _p("dealname", "Deal Name", "string", "text", info),
        _p("amount", "Amount", "number", "number", info, show_currency_symbol=True),
        _p("closedate", "Close Date", "datetime", "date", info),
        _p("dealstage", "Deal Stage", "enumeration", "radio", info, external_options=True),
        _p("pipeline", "Pipeline", "enumeration", "select", info, external_options=True),
        _p(
            "dealtype",
            "Deal Type",
            "enumeration",
            "radio",
            info,
            read_only_definition=False,
            options=_opts(
                [("newbusiness", "New Business"), ("existingbusiness", "Existing Business")]
            ),
        ),
        _p(
            "hs_priority",
            "Priority",
            "enumeration",
            "select",
            info,
            options=_opts([("low", "Low"), ("medium", "Medium"), ("high", "High")]),
        ),
        _p("description", "Deal Description", "string", "textarea", info),
        _ro(
            "hs_is_closed_won",
            "Is Closed Won",
            "bool",
            "booleancheckbox",
            info,
            options=[Option("True", "true", 0), Option("False", "false", 1)],
        ),
        _ro(
            "hs_is_closed",
            "Is Deal Closed?",
            "bool",
            "booleancheckbox",
            info,
            options=[Option("True", "true", 0), Option("False", "false", 1)],
        ),
        _ro("hs_deal_stage_probability", "Deal Stage Probability", "number", "number", info),
        _ro(
            "num_associated_contacts", "Number of Associated Contacts", "number", "number", activity
        ),
    ]
    groups = [("dealinformation", "Deal information"), ("deal_activity", "Deal activity")]
    return _schema("deal", props, groups)


def _schema(
    object_type: str, props: list[PropertyDef], groups: list[tuple[str, str]]
) -> ObjectSchema:
    schema = ObjectSchema(object_type)
    for i, (name, label) in enumerate(groups):
        schema.groups[name] = PropertyGroup(name, label, i)
    for i, prop in enumerate(props):
        if prop.display_order == -1:
            prop.display_order = i
        prop.created_at = prop.updated_at = SCHEMA_CREATED_MS
        schema.properties[prop.name] = prop
    return schema


def default_schemas() -> dict[str, ObjectSchema]:
    """Fresh schemas for every object type (callers may mutate them)."""
    return {"contact": contact_schema(), "company": company_schema(), "deal": deal_schema()}
