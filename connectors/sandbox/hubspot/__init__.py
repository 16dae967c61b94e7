"""The sandbox's HubSpot dialect: CRM v3 objects, properties, search, OAuth, webhooks."""
