"""The batch-aware base of both Kalas-Iris handlers.

TorchServe hands a handler a list of requests. Each is decoded on its own; one that fails (not an image, a
bomb, truncated) is answered with a 4xx and `{"error": ...}` for that request alone, while the good images of
the same batch run through the model as ONE tensor. `handle` is TorchServe's own; only the hooks are here.
Subclasses give `setup` (what their answers need, read once at start) and `answer` (one image's response from
the batch's outputs). Every answer of a model with signals carries the photo's `signals` beside it (the heads'
probabilities, handlers/signals.py, computed once per batch); an MMFashion model answers none. A worker answers
a made-up photo before it reports ready (`warm_up`). The network runs on the GPU TorchServe gives the worker, when
it gives one (`serving_device`); decoding, colours and the answers stay on the CPU.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from ts.torch_handler.base_handler import BaseHandler

from handlers.archive import archived_weights, load_archived_model, weights_digest
from handlers.frozen_model import FrozenModel, map_tensors
from handlers.decoding import ImageError, decode_image, warm_up_photo
from handlers.images import to_tensor
from handlers.malloc_tuning import keep_activations_in_heap
from handlers.signals import signals

logger = logging.getLogger(__name__)
WARM_UP_RUNS = 2


@dataclass
class DecodedBatch:
    """The requests of one batch after decoding: the good images with their positions, and the failures."""

    size: int
    images: list[Image.Image] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)
    errors: dict[int, ImageError] = field(default_factory=dict)
    tensor: torch.Tensor | None = None


class ImageBatchHandler(BaseHandler):
    """Decodes, batches and answers; `settings` is the `handler:` section of the archive's model config."""

    def initialize(self, context: Any) -> None:
        self.context = context
        # Before the model's first batch, and before the in-process client starts its thread (handlers/malloc_tuning.py).
        keep_activations_in_heap()
        self.settings: dict = (context.model_yaml_config or {}).get("handler", {})
        model_dir = Path(context.system_properties["model_dir"])
        model, self.preprocessing = load_archived_model(model_dir, self.settings)
        self.device = serving_device(context.system_properties.get("gpu_id"))
        # NHWC lets oneDNN pick its fast convolution kernels on CPU: measured here, Lite0 took 25 ms instead of
        # 34 ms for one image. Freezing then folds batch norm into them (handlers/frozen_model.py), at the archive's
        # `precision` (fp32 unless its model config says bf16).
        precision = self.settings.get("precision", "fp32")
        self.model = FrozenModel(model.eval().to(self.device, memory_format=torch.channels_last),
                                 self.preprocessing["image_size"], precision)
        model = context.manifest["model"]
        # The digest tells answers of two builds apart even under one version: an embedding is only comparable
        # with embeddings of the same digest (api/domain/reembedder.py).
        self.identity = {"name": model["modelName"], "version": model.get("modelVersion", "1.0"),
                         "digest": weights_digest(archived_weights(model_dir, self.settings), precision)}
        self.setup(model_dir)
        self.warm_up()
        self.initialized = True

    def setup(self, model_dir: Path) -> None:
        """A subclass reads what its answers need (labels, settings) here, before the warm-up."""

    def warm_up(self) -> list[dict]:
        """Answer a made-up photo WARM_UP_RUNS times before the worker reports ready; returns the last answers.

        A worker's first photos otherwise pay for TorchScript profiling the graph on its first run and optimising
        it on the second, and for the first call of the colour code: measured in-process (one thread), a worker's
        first photo took 63 ms instead of 22 (attributes) and 34 ms instead of 17 (embedder).
        """
        requests = [{"body": warm_up_photo()}]
        for _ in range(WARM_UP_RUNS):
            answers = self.postprocess(self.inference(self.preprocess(requests)))
        return answers

    def preprocess(self, data: list[dict]) -> DecodedBatch:
        batch = DecodedBatch(size=len(data))
        size = self.preprocessing["image_size"]
        for idx, request in enumerate(data):
            try:
                batch.images.append(decode_image(request_body(request), min_side=size))
                batch.positions.append(idx)
            except ImageError as error:
                batch.errors[idx] = error
        return self.framed(batch)

    def framed(self, batch: DecodedBatch) -> DecodedBatch:
        """`batch` with its decoded images framed and stacked into the model's input tensor."""
        if batch.images:
            batch.tensor = to_tensor(batch.images, self.preprocessing["image_size"], self.preprocessing["mean"],
                                     self.preprocessing["std"], memory_format=torch.channels_last)
        return batch

    def inference(self, batch: DecodedBatch, *args: Any, **kwargs: Any) -> tuple[DecodedBatch, Any]:
        if batch.tensor is None:
            return batch, None
        with torch.inference_mode():
            # Decoding and the answers stay on the CPU; on a GPU only the network runs there.
            return batch, map_tensors(self.model(batch.tensor.to(self.device, non_blocking=True)), torch.Tensor.cpu)

    def postprocess(self, result: tuple[DecodedBatch, Any]) -> list[dict]:
        batch, outputs = result
        responses: list[dict] = [{}] * batch.size
        for idx, error in batch.errors.items():
            responses[idx] = self._refuse(idx, error.status, error.message)
        signal_rows = signals(outputs) if isinstance(outputs, dict) else None
        for row, (idx, image) in enumerate(zip(batch.positions, batch.images)):
            try:
                responses[idx] = self.answer(outputs, row, image)
                if signal_rows is not None:
                    responses[idx]["signals"] = signal_rows[row].tolist()
            except Exception as error:  # one image's post-processing must not cost the batch its answers
                logger.exception("post-processing failed for request %d", idx)
                responses[idx] = self._refuse(idx, 500, f"post-processing failed: {type(error).__name__}: {error}")
        return responses

    def answer(self, outputs: Any, row: int, image: Image.Image) -> dict:
        """The response for the image in `row` of the batch's model outputs."""
        raise NotImplementedError

    def _refuse(self, idx: int, status: int, message: str) -> dict:
        # The reason phrase travels in an HTTP status line: keep it to ASCII; the body carries the full text.
        self.context.set_response_status(status, message.encode("ascii", "replace").decode(), idx)
        return {"error": message}


def serving_device(gpu_id: int | str | None) -> torch.device:
    """Where the network runs: the GPU TorchServe gives this worker (its `gpu_id`, when the machine has GPUs and
    `number_of_gpu` is not 0), else the CPU. A GPU named on a torch without CUDA is said in the log, not fatal."""
    if gpu_id is None:
        return torch.device("cpu")
    if not torch.cuda.is_available():
        logger.warning("TorchServe gave this worker GPU %s, but this torch has no CUDA device: serving on the CPU",
                       gpu_id)
        return torch.device("cpu")
    return torch.device(f"cuda:{gpu_id}")


def request_body(request: dict) -> bytes:
    """The image bytes of one TorchServe request: a raw body (`body`/`data`) or a single multipart field."""
    payload = request.get("data", request.get("body"))
    if payload is None and len(request) == 1:
        payload = next(iter(request.values()))
    if isinstance(payload, (bytes, bytearray)):
        return bytes(payload)
    if payload is None:
        raise ImageError(400, "the request has no image: send the image file's bytes as the body")
    raise ImageError(
        400,
        f"the body was read as {type(payload).__name__}, not an image: send the raw image bytes "
        "with Content-Type image/jpeg, image/png or application/octet-stream",
    )
