"""Getting a photo in: an upload or a URL, read within limits, checked by the one policy the API and the worker share."""
