"""Background work on the durable MongoDB queue (api/data/jobs.py): the runner and one module per job kind."""
