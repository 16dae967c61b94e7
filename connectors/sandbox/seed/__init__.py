"""Deterministic, dialect-neutral seed data: companies, contacts, deals, the pools they use."""
