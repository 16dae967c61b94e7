"""The sandbox's Salesforce dialect: REST, SOQL, collections, Bulk API 2.0, Metadata, logins."""
