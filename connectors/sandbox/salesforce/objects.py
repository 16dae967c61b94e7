"""The sandbox org's standard objects, fields and picklists (as a new Enterprise org has them).

Seeded custom fields (``Tech_Stack__c``, the marketing-engagement counters, …) stand for
fields an admin created long ago and granted to every profile; fields created through
the Metadata API later are not visible until a permission set grants them.
"""

from __future__ import annotations

from connectors.sandbox.salesforce.object_schema import (
    FieldDef,
    ObjectDef,
    number,
    pick,
    plain,
    read_only,
    ref,
    sobject,
    system_fields,
    text,
)

INDUSTRIES = (
    "Agriculture",
    "Apparel",
    "Banking",
    "Biotechnology",
    "Chemicals",
    "Communications",
    "Construction",
    "Consulting",
    "Education",
    "Electronics",
    "Energy",
    "Engineering",
    "Entertainment",
    "Environmental",
    "Finance",
    "Food & Beverage",
    "Government",
    "Healthcare",
    "Hospitality",
    "Insurance",
    "Machinery",
    "Manufacturing",
    "Media",
    "Not For Profit",
    "Recreation",
    "Retail",
    "Shipping",
    "Technology",
    "Telecommunications",
    "Transportation",
    "Utilities",
    "Other",
)
ACCOUNT_TYPES = (
    "Prospect",
    "Customer - Direct",
    "Customer - Channel",
    "Channel Partner / Reseller",
    "Installation Partner",
    "Technology Partner",
    "Other",
)
SOURCES = ("Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other")
RATINGS = ("Hot", "Warm", "Cold")
LEAD_STATUSES = (
    "Open - Not Contacted",
    "Working - Contacted",
    "Closed - Converted",
    "Closed - Not Converted",
)
CONVERTED_STATUS = "Closed - Converted"
# Opportunity stages: (StageName, default probability, IsClosed, IsWon, forecast category).
STAGES: tuple[tuple[str, int, bool, bool, str], ...] = (
    ("Prospecting", 10, False, False, "Pipeline"),
    ("Qualification", 10, False, False, "Pipeline"),
    ("Needs Analysis", 20, False, False, "Pipeline"),
    ("Value Proposition", 50, False, False, "Pipeline"),
    ("Id. Decision Makers", 60, False, False, "Pipeline"),
    ("Perception Analysis", 70, False, False, "Best Case"),
    ("Proposal/Price Quote", 75, False, False, "Best Case"),
    ("Negotiation/Review", 90, False, False, "Commit"),
    ("Closed Won", 100, True, True, "Closed"),
    ("Closed Lost", 0, True, False, "Omitted"),
)
STAGE_INFO = {s[0]: s for s in STAGES}
FORECAST_CATEGORIES = ("Omitted", "Pipeline", "Best Case", "Commit", "Closed")
OPPORTUNITY_TYPES = (
    "Existing Customer - Upgrade",
    "Existing Customer - Replacement",
    "Existing Customer - Downgrade",
    "New Customer",
)
CONTACT_ROLES = (
    "Business User",
    "Decision Maker",
    "Economic Buyer",
    "Economic Decision Maker",
    "Evaluator",
    "Executive Sponsor",
    "Influencer",
    "Technical Buyer",
    "Other",
)
CHANNELS = ("email", "phone", "sms", "social", "in_app", "events", "chat")
TIME_ZONES = ("America/Los_Angeles", "America/New_York", "Europe/London", "Europe/Berlin")
SOBJECT_TYPES = ("Account", "Contact", "Lead", "Opportunity")


def person_name() -> list[FieldDef]:
    """FirstName, LastName and the compound Name (read-only, computed)."""
    return [
        text("FirstName", 40, label="First Name"),
        text("LastName", 80, label="Last Name", nillable=False),
        read_only(text("Name", 121, label="Full Name", stored=False, name_field=True)),
    ]


def engagement_fields() -> list[FieldDef]:
    """Seeded custom fields a marketing tool keeps on people (granted to every profile)."""
    fields = [
        number("Birth_Year__c", "double", 4, 0),
        text("Gender__c", 40),
        number("Annual_Income__c", "currency", 16, 2),
        text("Interests__c", 255),
        text("Use_Case__c", 80, label="Use Case"),
        text("Primary_Goal__c", 80),
        pick("Preferred_Channel__c", CHANNELS),
        number("Email_Opens__c", "double", 18, 0),
        number("Email_Clicks__c", "double", 18, 0),
        number("Page_Views__c", "double", 18, 0),
        number("Website_Visits__c", "double", 18, 0),
    ]
    for definition in fields:
        definition.custom = True
    return fields


def account() -> ObjectDef:
    """Account (seeded from companies)."""
    custom = [text("Tech_Stack__c", 255), number("Founded_Year__c", "double", 4, 0)]
    for definition in custom:
        definition.custom = True
    return sobject(
        "Account",
        "company",
        "Accounts",
        [
            *system_fields(owner=True),
            text("Name", 255, label="Account Name", nillable=False, name_field=True),
            pick("Type", ACCOUNT_TYPES, label="Account Type"),
            ref("ParentId", "Account", "Parent", label="Parent Account ID"),
            text("BillingStreet", 255, type="textarea"),
            text("BillingCity", 40),
            text("BillingState", 80, label="Billing State/Province"),
            text("BillingPostalCode", 20, label="Billing Zip/Postal Code"),
            text("BillingCountry", 80),
            text("Phone", 40, type="phone", label="Account Phone"),
            text("Website", 255, type="url"),
            pick("Industry", INDUSTRIES),
            number("AnnualRevenue", "currency", 18, 0),
            number("NumberOfEmployees", "int", 8, label="Employees"),
            text("Description", 32000, type="textarea", label="Account Description"),
            pick("AccountSource", SOURCES, label="Account Source"),
            pick("Rating", RATINGS, label="Account Rating"),
            read_only(plain("LastActivityDate", "date", label="Last Activity")),
            *custom,
        ],
        has_owner=True,
    )


def contact() -> ObjectDef:
    """Contact (seeded from people with an account or history)."""
    return sobject(
        "Contact",
        "contact",
        "Contacts",
        [
            *system_fields(owner=True),
            *person_name(),
            ref("AccountId", "Account", "Account"),
            text("Title", 128),
            text("Department", 80),
            text("Email", 80, type="email", id_lookup=True),
            text("Phone", 40, type="phone", label="Business Phone"),
            text("MobilePhone", 40, type="phone", label="Mobile Phone"),
            text("MailingStreet", 255, type="textarea"),
            text("MailingCity", 40),
            text("MailingState", 80, label="Mailing State/Province"),
            text("MailingPostalCode", 20, label="Mailing Zip/Postal Code"),
            text("MailingCountry", 80),
            pick("LeadSource", SOURCES, label="Lead Source"),
            plain("Birthdate", "date"),
            text("Description", 32000, type="textarea", label="Contact Description"),
            plain("HasOptedOutOfEmail", "boolean", label="Email Opt Out"),
            read_only(plain("LastActivityDate", "date", label="Last Activity")),
            *engagement_fields(),
        ],
        has_owner=True,
    )


def lead() -> ObjectDef:
    """Lead (seeded from people without an account, plus converted copies of contacts)."""
    converted = [
        read_only(plain("IsConverted", "boolean", label="Converted")),
        read_only(plain("ConvertedDate", "date", label="Converted Date")),
        read_only(ref("ConvertedAccountId", "Account", "ConvertedAccount")),
        read_only(ref("ConvertedContactId", "Contact", "ConvertedContact")),
        read_only(ref("ConvertedOpportunityId", "Opportunity", "ConvertedOpportunity")),
    ]
    return sobject(
        "Lead",
        "lead",
        "Leads",
        [
            *system_fields(owner=True),
            *person_name(),
            text("Company", 255, nillable=False),
            text("Title", 128),
            text("Email", 80, type="email", id_lookup=True),
            text("Phone", 40, type="phone"),
            text("MobilePhone", 40, type="phone", label="Mobile Phone"),
            text("Street", 255, type="textarea"),
            text("City", 40),
            text("State", 80, label="State/Province"),
            text("PostalCode", 20, label="Zip/Postal Code"),
            text("Country", 80),
            text("Website", 255, type="url"),
            pick("Industry", INDUSTRIES),
            number("AnnualRevenue", "currency", 18, 0),
            number("NumberOfEmployees", "int", 8, label="Employees"),
            pick("LeadSource", SOURCES, label="Lead Source"),
            pick(
                "Status",
                LEAD_STATUSES,
                default=LEAD_STATUSES[0],
                nillable=False,
                default_on_create=True,
                label="Lead Status",
            ),
            pick("Rating", RATINGS),
            text("Description", 32000, type="textarea"),
            plain("HasOptedOutOfEmail", "boolean", label="Email Opt Out"),
            read_only(plain("LastActivityDate", "date", label="Last Activity")),
            *converted,
            *engagement_fields(),
        ],
        has_owner=True,
    )


def opportunity() -> ObjectDef:
    """Opportunity (seeded from deals); IsClosed/IsWon/ForecastCategoryName follow StageName."""
    return sobject(
        "Opportunity",
        "deal",
        "Opportunities",
        [
            *system_fields(owner=True),
            text("Name", 120, nillable=False, name_field=True),
            ref("AccountId", "Account", "Account"),
            number("Amount", "currency", 16, 2),
            plain("CloseDate", "date", nillable=False),
            pick("StageName", tuple(s[0] for s in STAGES), label="Stage", nillable=False),
            number("Probability", "percent", 3, 0, label="Probability (%)"),
            read_only(number("ExpectedRevenue", "currency", 16, 2, calculated=True, stored=False)),
            pick("Type", OPPORTUNITY_TYPES, label="Opportunity Type"),
            pick("LeadSource", SOURCES, label="Lead Source"),
            text("NextStep", 255),
            text("Description", 32000, type="textarea"),
            read_only(plain("IsClosed", "boolean", label="Closed", stored=False)),
            read_only(plain("IsWon", "boolean", label="Won", stored=False)),
            read_only(
                pick(
                    "ForecastCategoryName",
                    FORECAST_CATEGORIES,
                    label="Forecast Category",
                    stored=False,
                )
            ),
            read_only(plain("HasOpportunityLineItem", "boolean", label="Has Line Item")),
            read_only(plain("LastActivityDate", "date", label="Last Activity")),
        ],
        has_owner=True,
    )


def opportunity_contact_role() -> ObjectDef:
    """The Opportunity <-> Contact link."""
    opp = ref("OpportunityId", "Opportunity", "Opportunity", nillable=False)
    opp.updateable = False
    return sobject(
        "OpportunityContactRole",
        "opportunity_contact_role",
        "Opportunity Contact Role",
        [
            *system_fields(owner=False),
            opp,
            ref("ContactId", "Contact", "Contact", nillable=False),
            pick("Role", CONTACT_ROLES),
            plain("IsPrimary", "boolean", label="Primary"),
        ],
        label="Opportunity Contact Role",
    )


def user() -> ObjectDef:
    """User: the integration user and the sales reps who own records (read-only here)."""
    return sobject(
        "User",
        "user",
        "Users",
        [
            *system_fields(owner=False, deletable=False),
            text("Username", 80, nillable=False, unique=True),
            *person_name(),
            text("Email", 128, type="email", nillable=False),
            text("Alias", 8, nillable=False),
            plain("IsActive", "boolean", label="Active"),
            text("ProfileId", 18, type="reference", label="Profile ID", nillable=False),
            read_only(pick("UserType", ("Standard", "AutomatedProcess"), label="User Type")),
            pick("TimeZoneSidKey", TIME_ZONES, label="Time Zone", nillable=False),
            text("Title", 80),
            text("Department", 80),
        ],
        createable=False,
        updateable=False,
        deletable=False,
    )


def permission_set() -> ObjectDef:
    """PermissionSet: REST writes need the Customize Application permission."""
    return sobject(
        "PermissionSet",
        "permission_set",
        "Permission Sets",
        [
            *system_fields(owner=False, deletable=False),
            text("Name", 80, nillable=False, unique=True),
            text("Label", 80, nillable=False),
            text("Description", 255, type="textarea"),
            read_only(plain("IsOwnedByProfile", "boolean", label="Is Owned By Profile")),
            read_only(plain("IsCustom", "boolean", label="Custom")),
            read_only(text("NamespacePrefix", 15)),
            plain("PermissionsApiEnabled", "boolean", label="API Enabled"),
            plain("PermissionsCustomizeApplication", "boolean", label="Customize Application"),
        ],
    )


def permission_set_assignment() -> ObjectDef:
    """PermissionSetAssignment: which user holds which permission set (create/delete only)."""
    assignee = ref("AssigneeId", "User", "Assignee", nillable=False)
    parent = ref("PermissionSetId", "PermissionSet", "PermissionSet", nillable=False)
    assignee.updateable = parent.updateable = False
    return sobject(
        "PermissionSetAssignment",
        "permission_set_assignment",
        "Permission Set Assignments",
        [*system_fields(owner=False, audit=False, deletable=False), assignee, parent],
        updateable=False,
    )


def field_permissions() -> ObjectDef:
    """FieldPermissions: field-level security a permission set grants."""
    parent = ref("ParentId", "PermissionSet", "Parent", nillable=False)
    sobject_type = pick("SobjectType", SOBJECT_TYPES, label="Sobject Type Name", nillable=False)
    field_name = text("Field", 255, label="Field Name", nillable=False)
    parent.updateable = sobject_type.updateable = field_name.updateable = False
    return sobject(
        "FieldPermissions",
        "field_permissions",
        "Field Permissions",
        [
            *system_fields(owner=False, audit=False, deletable=False),
            parent,
            sobject_type,
            field_name,
            plain("PermissionsRead", "boolean", label="Read Access"),
            plain("PermissionsEdit", "boolean", label="Edit Access"),
        ],
    )


CAMPAIGN_TYPES = (
    "Conference",
    "Webinar",
    "Trade Show",
    "Public Relations",
    "Partners",
    "Referral Program",
    "Advertisement",
    "Banner Ads",
    "Direct Mail",
    "Email",
    "Telemarketing",
    "Other",
)
CAMPAIGN_STATUSES = ("Planned", "In Progress", "Completed", "Aborted")
# What a new campaign's members can be: (label, is default, has responded).
DEFAULT_MEMBER_STATUSES = (("Sent", True, False), ("Responded", False, True))
ALREADY_A_MEMBER = "Already a campaign member."


def campaign() -> ObjectDef:
    """Campaign."""
    return sobject(
        "Campaign",
        "campaign",
        "Campaigns",
        [
            *system_fields(owner=True),
            text("Name", 80, nillable=False, name_field=True),
            plain("IsActive", "boolean", label="Active"),
            pick("Type", CAMPAIGN_TYPES),
            pick("Status", CAMPAIGN_STATUSES),
            text("Description", 32000, type="textarea"),
            ref("ParentId", "Campaign", "Parent", label="Parent Campaign ID"),
            read_only(number("NumberOfContacts", "int", label="Total Contacts")),
            read_only(number("NumberOfLeads", "int", label="Total Leads")),
        ],
    )


def campaign_member() -> ObjectDef:
    """CampaignMember: one campaign and one contact or lead (create-only links)."""
    parent = ref("CampaignId", "Campaign", "Campaign", nillable=False)
    contact = ref("ContactId", "Contact", "Contact")
    lead = ref("LeadId", "Lead", "Lead")
    for link in (parent, contact, lead):
        link.updateable = False
    return sobject(
        "CampaignMember",
        "campaign_member",
        "Campaign Members",
        [
            *system_fields(owner=False),
            parent,
            contact,
            lead,
            text("Status", 40),
            read_only(plain("HasResponded", "boolean", label="Responded")),
        ],
    )


def campaign_member_status() -> ObjectDef:
    """CampaignMemberStatus: the statuses a campaign's members can have."""
    parent = ref("CampaignId", "Campaign", "Campaign", nillable=False)
    parent.updateable = False
    return sobject(
        "CampaignMemberStatus",
        "campaign_member_status",
        "Campaign Member Statuses",
        [
            *system_fields(owner=False),
            parent,
            text("Label", 765, nillable=False),
            plain("IsDefault", "boolean", label="Default"),
            plain("HasResponded", "boolean", label="Responded"),
            number("SortOrder", "int"),
        ],
    )


def standard_objects() -> dict[str, ObjectDef]:
    """Fresh definitions of every object the sandbox org has, by API name."""
    objects = [
        account(),
        contact(),
        lead(),
        opportunity(),
        opportunity_contact_role(),
        campaign(),
        campaign_member(),
        campaign_member_status(),
        user(),
        permission_set(),
        permission_set_assignment(),
        field_permissions(),
    ]
    return {o.name: o for o in objects}
