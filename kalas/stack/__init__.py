"""The service's parts started for real on loopback, for the run command, the benchmarks, the load run and the tests.

`mongo` (nx-27017), `torchserve` and `production_torchserve` (TorchServe, as shipped or as production configures
it), `service` (the API and the worker as processes), `tcp_proxy` (a link to cut and restore), `live` (all of it
with the WooCommerce store emulator and one registered shop). Each instance binds free ports and keeps its files
in a directory of the caller's, so several run side by side.
"""
