"""Salesforce through simple-salesforce: login, SOQL streams, collections and Bulk API 2.0 writes, Metadata API fields."""
