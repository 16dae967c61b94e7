"""A SOQL engine: the grammar, binding against describe, and evaluation over the store."""
