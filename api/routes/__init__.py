"""One router per resource, mounted under /api/v1 by the app factory in this order."""
from api.routes import auth, integrations, keys, webhooks

ROUTERS = [auth.router, keys.router, integrations.router, webhooks.router]
