"""Technology -> category rules: ordered (pattern, categories), first match wins.

Patterns are Rust regexes over the folded tool name (lower case, punctuation as
spaces: "Microsoft Dynamics 365" -> "microsoft dynamics 365", "Monday.com" -> "monday
com"). Product lines of one vendor are listed before the vendor ("salesforce marketing
cloud" before "salesforce"); short generic words ("close", "segment", "front",
"teams") only match as the whole tool name.
"""

from __future__ import annotations

TECH_CATEGORIES = (
    "crm",
    "marketing_automation",
    "sales_engagement",
    "advertising",
    "analytics",
    "bi",
    "cdp",
    "data_warehouse",
    "data_integration",
    "database",
    "cloud",
    "collaboration",
    "devtools",
    "support",
    "ecommerce",
    "payments",
    "cms",
    "erp",
    "accounting",
    "hr",
    "security",
)

TOOL_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    # Vendor product lines first.
    (
        r"^salesforce (?:marketing cloud|pardot|account engagement)|^exacttarget",
        ("marketing_automation",),
    ),
    (r"^salesforce (?:service cloud|service)", ("support",)),
    (r"^salesforce (?:commerce cloud|commerce)|^demandware", ("ecommerce",)),
    (r"^salesforce (?:data cloud|cdp)", ("cdp",)),
    (r"^salesforce|^sfdc$|^sales cloud$", ("crm",)),
    (r"^hubspot (?:marketing|marketing hub)", ("marketing_automation",)),
    (r"^hubspot (?:service|service hub)", ("support",)),
    (r"^hubspot cms", ("cms",)),
    (r"^hubspot (?:crm|sales|sales hub)", ("crm",)),
    (r"^hubspot", ("crm", "marketing_automation")),
    (r"^(?:microsoft )?dynamics (?:365 )?(?:business central|finance|nav|ax|gp)", ("erp",)),
    (r"^(?:microsoft |ms )?dynamics", ("crm", "erp")),
    (r"^(?:microsoft |ms )?teams$", ("collaboration",)),
    (r"^(?:microsoft |ms |office |o)365$|^microsoft office|^office 365|^m365$", ("collaboration",)),
    (r"^(?:microsoft )?azure (?:synapse|sql data warehouse)", ("data_warehouse",)),
    (r"^(?:microsoft )?azure|^ms azure", ("cloud",)),
    (r"^(?:microsoft )?power bi|^powerbi", ("bi",)),
    (r"^(?:microsoft )?sql server|^mssql", ("database",)),
    (r"^(?:microsoft )?defender|^microsoft sentinel", ("security",)),
    (r"^google (?:analytics|tag manager)|^ga4$|^universal analytics", ("analytics",)),
    (
        r"^google (?:ads|adwords)|^adwords$|^google marketing platform|^dv360$|^doubleclick",
        ("advertising",),
    ),
    (r"^google (?:cloud|cloud platform)|^gcp$", ("cloud",)),
    (r"^google (?:workspace|apps)|^g ?suite$|^gmail$", ("collaboration",)),
    (r"^(?:google )?bigquery", ("data_warehouse",)),
    (r"^(?:google )?looker studio|^(?:google )?data studio|^looker", ("bi",)),
    (r"^firebase", ("cloud", "database")),
    (r"^oracle (?:netsuite)|^netsuite", ("erp", "accounting")),
    (r"^oracle (?:cloud infrastructure|cloud)|^oci$", ("cloud",)),
    (r"^oracle (?:database|db)|^oracle \d+[a-z]?$", ("database",)),
    (r"^oracle eloqua|^eloqua", ("marketing_automation",)),
    (r"^oracle", ("erp",)),
    (r"^sap (?:successfactors)|^successfactors", ("hr",)),
    (r"^sap (?:hana)", ("database",)),
    (r"^sap (?:analytics cloud|businessobjects|bo)$", ("bi",)),
    (r"^sap\b|^s ?4 ?hana", ("erp",)),
    (r"^sage (?:x3|intacct|200)|^intacct", ("erp", "accounting")),
    (r"^sage", ("accounting",)),
    (r"^zoho (?:books|invoice)", ("accounting",)),
    (r"^zoho (?:desk)", ("support",)),
    (r"^zoho (?:campaigns|marketing)", ("marketing_automation",)),
    (r"^zoho", ("crm",)),
    (r"^amazon (?:redshift)|^aws redshift|^redshift", ("data_warehouse",)),
    (r"^amazon (?:dynamodb)|^aws dynamodb|^dynamodb", ("database",)),
    (r"^aws|^amazon web services|^amazon aws", ("cloud",)),
    (r"^adobe (?:analytics)|^omniture", ("analytics",)),
    (r"^adobe (?:marketo|campaign)|^marketo", ("marketing_automation",)),
    (r"^adobe (?:commerce)|^magento", ("ecommerce",)),
    (r"^adobe (?:experience manager)|^aem$", ("cms",)),
    (r"^adobe (?:real ?time cdp|experience platform)", ("cdp",)),
    (r"^atlassian confluence|^confluence", ("collaboration",)),
    (r"^(?:atlassian )?jira", ("devtools", "collaboration")),
    (r"^twilio segment|^segment(?: io| com)?$", ("cdp",)),
    (r"^twilio sendgrid|^sendgrid", ("marketing_automation",)),
    (r"^twilio", ("devtools",)),
    # CRM and sales.
    (r"^pipedrive|^close(?: io| com| crm)?$|^sugar ?crm|^freshsales|^copper(?: crm)?$", ("crm",)),
    (r"^insightly|^attio|^affinity|^salesflare|^capsule(?: crm)?$|^nutshell|^vtiger", ("crm",)),
    (r"^bitrix ?24|^agile ?crm|^act$|^monday sales crm|^less annoying crm", ("crm",)),
    (r"^keap|^infusionsoft", ("crm", "marketing_automation")),
    (
        r"^outreach(?: io)?$|^salesloft|^apollo(?: io)?$|^gong(?: io)?$|^clari$|^chorus",
        ("sales_engagement",),
    ),
    (
        r"^zoominfo|^lusha|^seamless ai|^highspot|^seismic|^yesware|^mixmax|^groove$",
        ("sales_engagement",),
    ),
    # Marketing.
    (
        r"^mailchimp|^klaviyo|^activecampaign|^braze|^iterable|^customer io$|^constant contact",
        ("marketing_automation",),
    ),
    (
        r"^campaign monitor|^brevo|^sendinblue|^acoustic|^autopilot|^drip$|^drift$|^pardot",
        ("marketing_automation",),
    ),
    (
        r"^linkedin (?:ads|campaign manager|marketing)|^facebook ads|^meta ads|^bing ads",
        ("advertising",),
    ),
    (
        r"^microsoft ads|^the trade desk|^criteo|^taboola|^outbrain|^adroll|^tiktok ads",
        ("advertising",),
    ),
    # Analytics, BI, data.
    (
        r"^mixpanel|^amplitude|^heap(?: analytics)?$|^hotjar|^fullstory|^pendo|^matomo|^piwik",
        ("analytics",),
    ),
    (r"^posthog|^kissmetrics|^plausible|^contentsquare|^quantum metric", ("analytics",)),
    (r"^tableau|^qlik|^sisense|^domo$|^metabase|^mode(?: analytics)?$|^thoughtspot", ("bi",)),
    (r"^microstrategy|^cognos|^ibm cognos|^superset|^sigma computing|^redash", ("bi",)),
    (r"^mparticle|^tealium|^rudderstack|^hightouch|^census$|^treasure data|^lytics", ("cdp",)),
    (r"^actioniq|^amperity|^bloomreach engagement", ("cdp",)),
    (
        r"^snowflake|^databricks|^teradata|^vertica|^clickhouse|^firebolt|^greenplum",
        ("data_warehouse",),
    ),
    (r"^netezza|^yellowbrick|^dremio|^starburst|^synapse", ("data_warehouse",)),
    (
        r"^fivetran|^airbyte|^stitch(?: data)?$|^dbt|^informatica|^talend|^matillion",
        ("data_integration",),
    ),
    (
        r"^mulesoft|^boomi|^dell boomi|^zapier|^workato|^make com$|^integromat",
        ("data_integration",),
    ),
    (r"^(?:apache )?kafka|^confluent|^(?:apache )?airflow|^celigo", ("data_integration",)),
    (
        r"^postgres|^mysql|^mongo ?db|^mariadb|^redis|^cassandra|^couchbase|^cockroach",
        ("database",),
    ),
    (r"^elastic(?:search)?$|^supabase|^neo4j|^sqlite", ("database",)),
    # Cloud and engineering.
    (
        r"^digital ?ocean|^heroku|^ibm cloud|^alibaba cloud|^linode|^akamai|^vercel|^netlify",
        ("cloud",),
    ),
    (r"^ovh|^hetzner|^rackspace|^vmware|^openshift|^render$|^fly io$", ("cloud",)),
    (r"^cloudflare", ("cloud", "security")),
    (r"^github|^gitlab|^bitbucket|^jenkins|^circle ?ci|^docker|^kubernetes|^k8s$", ("devtools",)),
    (
        r"^terraform|^datadog|^new relic|^sentry|^pagerduty|^grafana|^postman|^linear$",
        ("devtools",),
    ),
    (r"^splunk", ("devtools", "security")),
    # Collaboration.
    (
        r"^slack|^zoom|^notion|^asana|^trello|^monday(?: com)?$|^clickup|^dropbox|^box$",
        ("collaboration",),
    ),
    (
        r"^miro|^airtable|^smartsheet|^basecamp|^webex|^cisco webex|^loom|^wrike|^lucid",
        ("collaboration",),
    ),
    # Support.
    (
        r"^zendesk|^intercom|^freshdesk|^freshworks|^help ?scout|^gorgias|^kustomer|^front$",
        ("support",),
    ),
    (r"^servicenow|^livechat|^gladly|^helpshift|^jira service", ("support",)),
    # Commerce and payments.
    (
        r"^shopify|^woo ?commerce|^bigcommerce|^prestashop|^shopware|^commercetools|^vtex",
        ("ecommerce",),
    ),
    (r"^wix", ("cms", "ecommerce")),
    (r"^squarespace", ("cms", "ecommerce")),
    (r"^stripe|^paypal|^braintree|^adyen|^square$|^checkout com$|^klarna|^mollie", ("payments",)),
    (r"^chargebee|^recurly|^zuora|^paddle", ("payments",)),
    (
        r"^wordpress|^drupal|^contentful|^sanity|^strapi|^webflow|^joomla|^sitecore|^ghost$",
        ("cms",),
    ),
    # ERP, finance, HR.
    (r"^odoo|^infor\b|^epicor|^acumatica|^ifs$|^sap business one", ("erp",)),
    (r"^workday", ("hr", "erp")),
    (
        r"^quickbooks|^intuit quickbooks|^xero|^freshbooks|^wave(?: accounting)?$|^expensify",
        ("accounting",),
    ),
    (r"^bill com$|^datev|^lexoffice|^freeagent|^myob", ("accounting",)),
    (r"^bamboo ?hr|^adp\b|^gusto|^rippling|^personio|^hibob|^greenhouse|^lever$|^namely", ("hr",)),
    (
        r"^deel|^paychex|^ceridian|^dayforce|^ukg|^ultipro|^workable|^recruitee|^lattice"
        r"|^culture amp",
        ("hr",),
    ),
    # Security.
    (
        r"^okta|^crowdstrike|^palo alto|^fortinet|^zscaler|^auth0|^1 ?password|^lastpass",
        ("security",),
    ),
    (
        r"^duo(?: security)?$|^sentinelone|^onetrust|^sophos|^mcafee|^norton|^kaspersky",
        ("security",),
    ),
)

# Score weights of ``digital_maturity`` (0-100). Breadth rewards using many kinds of
# tools, the signals reward the building blocks of a data-driven go-to-market stack,
# the tool count rewards a stack the CRM knows in detail.
BREADTH_POINTS = 40
BREADTH_FULL_AT = 8  # categories
SIGNAL_POINTS = 10
MODERN_SIGNALS: tuple[tuple[str, ...], ...] = (
    ("cloud",),
    ("data_warehouse",),
    ("cdp", "data_integration"),
    ("analytics", "bi"),
    ("marketing_automation", "sales_engagement"),
)
COUNT_POINTS = 10
COUNT_FULL_AT = 10  # tools
