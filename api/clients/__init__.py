"""The clients through which the API and the worker reach what runs elsewhere: the models, and HTTP peers."""
