"""Salesforce on simple-salesforce: logins, SOQL streams, collections and Bulk API 2.0."""
