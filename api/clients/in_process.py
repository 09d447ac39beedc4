"""The models run in this process: the handlers on a model store's archives, behind the inference client's
contract (api/clients/inference.py). It imports torch and TorchServe's `ts`: the API and the worker import this
module only when `KALAS_MODEL_STORE` chooses it (api/services.py)."""
from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Sequence

from api.clients.inference import Embedded, Embeddings, InferenceError
from handlers.archive import ATTRIBUTES, EMBEDDER, stage_archives
from handlers.in_process import ServedModel, open_archive
from handlers.openmp_pool import release_openmp_workers


class InProcessClient(Embeddings):
    """The handlers run in this process on a model store's .mar files or on directories of archive files."""

    def __init__(self, models: dict[str, ServedModel], *, max_batch: int = 16, cleanup: Any = None) -> None:
        self._models = models
        self._max_batch = max_batch
        self._cleanup = cleanup
        # One thread: a handler is not re-entrant, and torch already uses every core for one batch.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="in-process-inference")
        # The models were built on this thread and run on the executor's from now on: this thread's OpenMP workers
        # would make a second team on the same cores, which slows both (handlers/openmp_pool.py).
        release_openmp_workers()

    @classmethod
    def from_model_store(cls, model_store: str | Path, **kwargs: Any) -> "InProcessClient":
        """Open `fashion-attributes` and `fashion-embedder` from `<name>.mar` files or `<name>/` directories."""
        return cls({name: open_archive(Path(model_store), name) for name in (ATTRIBUTES, EMBEDDER)}, **kwargs)

    @classmethod
    def from_checkpoints(cls, checkpoint_dir: str | Path | None = None, **kwargs: Any) -> "InProcessClient":
        """Stage the archives' files from checkpoints into a temporary directory (what the build would pack)."""
        staged = stage_archives(checkpoint_dir)
        models = {name: open_archive(Path(staged.name), name) for name in (ATTRIBUTES, EMBEDDER)}
        return cls(models, cleanup=staged, **kwargs)

    async def annotate(self, images: Sequence[bytes]) -> list[dict | InferenceError]:
        return await self._run(ATTRIBUTES, images, _as_json)

    async def embed(self, images: Sequence[bytes]) -> list[Embedded | InferenceError]:
        # Only the vectors are kept, and a Python float survives JSON unchanged: no round trip (0.14 ms per image).
        return self._as_embeddings(await self._run(EMBEDDER, images, lambda answer: answer))

    async def ping(self) -> None:
        """The models live in this process: loaded at construction, so always ready."""

    async def aclose(self) -> None:
        self._executor.shutdown(wait=True)
        if self._cleanup is not None:
            self._cleanup.cleanup()

    async def _run(self, name: str, images: Sequence[bytes], convert: Callable[[Any], Any]) -> list:
        loop = asyncio.get_running_loop()
        results: list = []
        for start in range(0, len(images), self._max_batch):
            chunk = list(images[start : start + self._max_batch])
            answers = await loop.run_in_executor(self._executor, self._handle, name, chunk)
            # Converted here, not on the model's thread, which meanwhile starts the next queued batch.
            results += [convert(answer) for answer in answers]
        return results

    def _handle(self, name: str, images: list[bytes]) -> list[dict | InferenceError]:
        try:
            answers = self._models[name].handle(images)
        except Exception as error:  # TorchServe answers a failed batch with 503 for each request; so do we
            return [InferenceError(503, f"prediction failed: {type(error).__name__}: {error}") for _ in images]
        return [body if status == 200 else InferenceError(status, body["error"]) for status, body in answers]


def _as_json(answer: dict | InferenceError) -> dict | InferenceError:
    """A JSON round trip, as over HTTP: both clients hand back plain JSON types."""
    return answer if isinstance(answer, InferenceError) else json.loads(json.dumps(answer))
