"""Kalas-Iris's shared library: the code the commands (scripts/), the load run (load_tests/) and the tests share.

A module per idea, none of them a command and none doing anything at import (no process started, no environment
read): the shared-data reader and its one split (`dataset`), catalogue readers for a reindex (`readers`), the
reindex journal (`journal`), the training feature cache (`features`), training examples, metrics and the training
run itself (`training_data`, `training_metrics`, `trainer`, `training_inputs`, `training`), evaluation metrics
and pictures (`metrics`, `plots`, `contact_sheet`), seeded test vectors (`synthetic_vectors`), provenance of trained
artefacts (`provenance`); the service's parts started for real (`stack`) and the outside services emulated
(`emulators`), for the run command, the benchmarks, the load run and the tests.
"""
