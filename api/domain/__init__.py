"""What the service does, apart from HTTP: annotating photos, the catalogue, callbacks, export, the demo gallery.

Domain code raises `api.domain.errors.DomainError`s; api/core/errors.py maps them to HTTP, the job runner to retries.
"""
