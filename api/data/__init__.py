"""The data layer: the only code that calls pymongo.

One module per resource; every function takes the database first and the owning account id second, so a
query without a tenant filter cannot be written by accident. Functions return plain dicts (or `None` when
nothing matches); the routes decide which HTTP error that is.
"""
