"""The one way the API and the scripts reach the models.

Two clients with the same contract (docs/architecture.md, "Inference client"):
- `TorchServeClient` sends each image as its own request to TorchServe, concurrently, so that TorchServe's
  dynamic batching forms the batches; a refused image comes back as `InferenceError(status, message)`.
- `InProcessClient` runs the very same handler classes in this process on the archives' files (or on
  archives staged from checkpoints), one batch as one tensor, on a single worker thread.
Both return, per image, the handler's JSON answer (`annotate`) or the embedding as float32 (`embed`).
"""
from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol, Sequence

import httpx
import numpy as np

from handlers.archive import ATTRIBUTES, EMBEDDER, stage_archives
from handlers.in_process import ServedModel, open_archive

Result = dict | Exception


class InferenceError(Exception):
    """One image's failure: the HTTP status it was answered with and what was wrong."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class InferenceClient(Protocol):
    async def annotate(self, images: Sequence[bytes]) -> list[dict | InferenceError]: ...

    async def embed(self, images: Sequence[bytes]) -> list[np.ndarray | InferenceError]: ...

    async def ping(self) -> None: ...

    async def aclose(self) -> None: ...


def _as_embedding(answer: dict | InferenceError) -> np.ndarray | InferenceError:
    if isinstance(answer, InferenceError):
        return answer
    return np.asarray(answer["embedding"], dtype=np.float32)


def torchserve_key(key_file: str | Path, kind: str = "inference") -> str:
    """A key TorchServe generated (`inference`, `management` or `API`): with token authorization on it writes
    them to key_file.json in its working directory at every start, and again when a key is rotated."""
    try:
        return str(json.loads(Path(key_file).read_text())[kind]["key"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise InferenceError(503, f"cannot read TorchServe's {kind} key from {key_file}: {error!r}") from None


def _is_key_refusal(response: httpx.Response) -> bool:
    """TorchServe answers a missing, wrong or expired key with 400 and this exception type."""
    return response.status_code in (400, 401) and "InvalidKeyException" in response.text


class TorchServeClient:
    """TorchServe's inference API over HTTP.

    With token authorization on, pass the inference key as `token`, or better TorchServe's `key_file`: the key is
    read from it, and read again when TorchServe refuses it (a restart or a rotation writes a new one), so the
    API follows a new key without a restart of its own.
    """

    def __init__(self, base_url: str, *, token: str | None = None, key_file: str | Path | None = None,
                 timeout: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._key_file = Path(key_file) if key_file else None
        self._http = httpx.AsyncClient(
            base_url=self.base_url, timeout=timeout, limits=httpx.Limits(max_connections=64)
        )
        if token:
            self._http.headers["Authorization"] = f"Bearer {token}"
        elif self._key_file is not None and self._key_file.is_file():
            self._use_key_file()

    async def annotate(self, images: Sequence[bytes]) -> list[dict | InferenceError]:
        return list(await asyncio.gather(*(self._predict(ATTRIBUTES, image) for image in images)))

    async def embed(self, images: Sequence[bytes]) -> list[np.ndarray | InferenceError]:
        answers = await asyncio.gather(*(self._predict(EMBEDDER, image) for image in images))
        return [_as_embedding(answer) for answer in answers]

    async def aclose(self) -> None:
        await self._http.aclose()

    async def ping(self) -> None:
        """Return if TorchServe says it is healthy (every model has its workers); InferenceError otherwise."""
        try:
            response = await self._send("GET", "/ping", timeout=5.0)
        except httpx.TransportError as error:
            raise InferenceError(503, f"TorchServe at {self.base_url} did not answer: {type(error).__name__}") from None
        if response.status_code != 200:
            raise InferenceError(response.status_code, _error_message(response))

    async def _predict(self, model: str, image: bytes) -> dict | InferenceError:
        try:
            response = await self._send(
                "POST", f"/predictions/{model}", content=image, headers={"Content-Type": "application/octet-stream"}
            )
        except httpx.TransportError as error:
            return InferenceError(503, f"TorchServe at {self.base_url} did not answer: {type(error).__name__} {error}")
        except InferenceError as error:
            return error
        if response.status_code == 200:
            return response.json()
        return InferenceError(response.status_code, _error_message(response))

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        response = await self._http.request(method, url, **kwargs)
        if self._key_file is not None and _is_key_refusal(response):
            self._use_key_file()  # TorchServe restarted or rotated its key: take the new one, try once more
            response = await self._http.request(method, url, **kwargs)
        return response

    def _use_key_file(self) -> None:
        self._http.headers["Authorization"] = f"Bearer {torchserve_key(self._key_file)}"


def _error_message(response: httpx.Response) -> str:
    """Our handlers answer `{"error": ...}`; TorchServe's own failures answer `{"code", "type", "message"}`."""
    try:
        body = response.json()
    except ValueError:
        return response.text or response.reason_phrase
    if isinstance(body, dict):
        return str(body.get("error") or body.get("message") or body)
    return str(body)


class InProcessClient:
    """The handlers run in this process on a model store's .mar files or on directories of archive files."""

    def __init__(self, models: dict[str, ServedModel], *, max_batch: int = 16, cleanup: Any = None) -> None:
        self._models = models
        self._max_batch = max_batch
        self._cleanup = cleanup
        # One thread: a handler is not re-entrant, and torch already uses every core for one batch.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="in-process-inference")

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
        return await self._run(ATTRIBUTES, images)

    async def embed(self, images: Sequence[bytes]) -> list[np.ndarray | InferenceError]:
        return [_as_embedding(answer) for answer in await self._run(EMBEDDER, images)]

    async def ping(self) -> None:
        """The models live in this process: loaded at construction, so always ready."""

    async def aclose(self) -> None:
        self._executor.shutdown(wait=True)
        if self._cleanup is not None:
            self._cleanup.cleanup()

    async def _run(self, name: str, images: Sequence[bytes]) -> list[dict | InferenceError]:
        loop = asyncio.get_running_loop()
        results: list[dict | InferenceError] = []
        for start in range(0, len(images), self._max_batch):
            chunk = list(images[start : start + self._max_batch])
            results += await loop.run_in_executor(self._executor, self._handle, name, chunk)
        return results

    def _handle(self, name: str, images: list[bytes]) -> list[dict | InferenceError]:
        try:
            answers = self._models[name].handle(images)
        except Exception as error:  # TorchServe answers a failed batch with 503 for each request; so do we
            return [InferenceError(503, f"prediction failed: {type(error).__name__}: {error}") for _ in images]
        # A JSON round trip, as over HTTP: both clients hand back plain JSON types.
        return [json.loads(json.dumps(body)) if status == 200 else InferenceError(status, body["error"])
                for status, body in answers]
