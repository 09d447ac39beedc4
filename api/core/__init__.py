"""Settings, security primitives and error handling shared by every route."""
