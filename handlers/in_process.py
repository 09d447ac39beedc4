"""A handler running outside TorchServe, on an archive's files, exactly as a TorchServe worker runs it.

TorchServe gives a handler a `ts.context.Context` built from the archive's MANIFEST.json and model config,
then calls `handle(requests, context)` per batch and reads each request's status from the context. This
does the same in-process, so the in-process client's answers are the served ones by construction.
"""
from __future__ import annotations

import importlib
import json
import logging
import os
import tempfile
import threading
import zipfile
from pathlib import Path

import ts
import yaml
from ts.context import Context, RequestProcessor
from ts.metrics.metric_cache_yaml_impl import MetricsCacheYamlImpl
from ts.utils.util import list_classes_from_module

_METRICS_CONFIG = Path(os.path.dirname(ts.__file__)) / "configs" / "metrics.yaml"
# TorchServe's base handler announces at import which optional accelerators (OpenVINO, ONNX, TensorRT) it did
# not find; in a worker that goes to the model log, in the API's process it would be noise at every start.
logging.getLogger("ts.torch_handler.base_handler").setLevel(logging.ERROR)


class ServedModel:
    """One archive's handler with its context; `handle` answers a batch of image bytes as (status, body) pairs."""

    def __init__(self, model_dir: Path, keep_alive: object = None, gpu_id: int | None = None) -> None:
        """`gpu_id`: the GPU the handler's network runs on, as TorchServe gives a worker one (None: the CPU)."""
        self.model_dir = model_dir
        self._keep_alive = keep_alive  # the temporary directory an archive was unpacked into
        manifest = json.loads((model_dir / "MAR-INF" / "MANIFEST.json").read_text())
        model = manifest["model"]
        config = yaml.safe_load((model_dir / model["configFile"]).read_text()) if "configFile" in model else {}
        metrics = MetricsCacheYamlImpl(config_file_path=str(_METRICS_CONFIG))
        metrics.initialize_cache()
        metrics.model_name = model["modelName"]
        self.context = Context(model["modelName"], str(model_dir), manifest, None, gpu_id, ts.__version__,
                               metrics=metrics, model_yaml_config=config)
        # The archive's handler file names the project's handler module; its one class is the handler, as in
        # TorchServe's own loader (ts/model_loader.py).
        module = importlib.import_module(f"handlers.{Path(model['handler']).stem}")
        (handler_class,) = list_classes_from_module(module)
        self.handler = handler_class()
        self.handler.initialize(self.context)
        self._lock = threading.Lock()  # the context holds one batch's request state at a time

    def handle(self, images: list[bytes]) -> list[tuple[int, dict]]:
        with self._lock:
            ids = {idx: str(idx) for idx in range(len(images))}
            self.context.request_ids = ids
            self.context.metrics.request_ids = ids
            self.context.request_processor = [RequestProcessor({}) for _ in images]
            bodies = self.handler.handle([{"body": bytearray(image)} for image in images], self.context)
            return [(self.context.get_response_status(idx)[0], body) for idx, body in enumerate(bodies)]


def open_archive(model_store: Path, name: str, gpu_id: int | None = None) -> ServedModel:
    """`<model_store>/<name>.mar` unpacked to a temporary directory, or `<model_store>/<name>/` as it is; its network
    on GPU `gpu_id` when given."""
    directory = model_store / name
    if (directory / "MAR-INF" / "MANIFEST.json").is_file():
        return ServedModel(directory, gpu_id=gpu_id)
    archive = model_store / f"{name}.mar"
    if not archive.is_file():
        raise FileNotFoundError(
            f"no {name}.mar or unpacked {name}/ in {model_store}: build them with `python -m scripts.build_archives`"
        )
    unpacked = tempfile.TemporaryDirectory(prefix=f"kalas-{name}-")
    with zipfile.ZipFile(archive) as mar:
        mar.extractall(unpacked.name)
    return ServedModel(Path(unpacked.name), keep_alive=unpacked, gpu_id=gpu_id)
