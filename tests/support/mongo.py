"""Fixture: a real nx-27017 MongoDB-protocol server process (owned by the API work)."""
