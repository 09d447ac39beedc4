"""One router per resource, mounted under /api/v1 by the app factory in this order."""
from api.routes import (annotations, auth, callbacks, catalogue_index, demo, images, integrations, keys, products, reviews,
                        similar, taxonomy, webhooks)

ROUTERS = [auth.router, keys.router, annotations.router, reviews.router, images.router, similar.router, demo.router,
           products.router, callbacks.router, integrations.router, webhooks.router, taxonomy.router, catalogue_index.router]
