"""Fixture: a real TorchServe started on free loopback ports (owned by the serving work)."""
