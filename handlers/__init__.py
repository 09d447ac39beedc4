"""Kalas-Iris model side: model definitions, image decoding, colours, taxonomy and the TorchServe handlers."""
