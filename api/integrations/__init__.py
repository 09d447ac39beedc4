"""WooCommerce integration: the store's REST client, webhook signatures, secrets at rest, and the merge of
predicted categories and tags with the merchant's own. Nothing here touches MongoDB or HTTP routes."""
