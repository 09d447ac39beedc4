"""WooCommerce integration: the store's REST client, webhook signatures, secrets at rest, the merge of predicted
categories and tags with the merchant's own, the per-job pipeline and the reconciliation sync. Routes live in
api/routes/{integrations,webhooks}.py, the queue in api/data/jobs.py, the worker process in api/worker.py."""
