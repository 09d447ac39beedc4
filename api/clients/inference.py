"""The one way the API and the scripts reach the models.

Two clients with the same contract (docs/architecture.md, "Inference client"):
- `TorchServeClient` sends each image as its own request to TorchServe (kept-alive connections), concurrently,
  so that TorchServe's dynamic batching forms the batches; a refused image comes back as `InferenceError(status, message)`.
- `InProcessClient` (api/clients/in_process.py, imported only where it is chosen: it loads torch) runs the very
  same handler classes in this process on the archives' files (or on archives staged from checkpoints), one batch
  as one tensor, on a single worker thread.
Both return, per image, the handler's JSON answer (`annotate`) or the embedding and the signals as float32
(`embed`, an `Embedded`).
"""
from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from api.clients.keepalive_http import Answer, HttpFailure, KeepAliveHttp
from api.domain.errors import ModelUnavailable
from handlers.archive import ATTRIBUTES, EMBEDDER
from handlers.text_encoder import TextEncoder, TextQuery

Result = dict | Exception


class InferenceError(Exception):
    """One image's failure: the HTTP status it was answered with and what was wrong."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Embedded:
    """What the embedder answers for one photo: its embedding, and its signals (the heads' probabilities,
    handlers/signals.py), which a shop's own model reads beside it; None from a model without them (MMFashion)."""

    vector: np.ndarray  # [D] float32, unit norm
    signals: np.ndarray | None  # [S] float32


class InferenceClient(Protocol):
    async def annotate(self, images: Sequence[bytes]) -> list[dict | InferenceError]: ...

    async def embed(self, images: Sequence[bytes]) -> list[Embedded | InferenceError]: ...

    async def encode_text(self, text: str) -> TextQuery: ...

    embedder: dict | None  # the identity of the embedder behind the last call's vectors (see Embeddings)

    async def ping(self) -> None: ...

    async def aclose(self) -> None: ...


class Embeddings:
    """What both clients do with embedding answers: keep their vectors, and remember whose they are; and text
    queries, encoded into the same space by the text encoder in this process (handlers/text_encoder.py says why)."""

    text_encoder: TextEncoder | None = None

    # The identity (name, version, digest) of the embedder behind the last call's vectors: read right after
    # `await client.embed(...)`. None when that call's vectors came from more than one embedder (a model switch
    # landed between its images): such vectors are stored as of no known embedder and made again later. Vectors
    # only compare with vectors of the same digest (api/domain/reembedder.py).
    embedder: dict | None = None

    async def encode_text(self, text: str) -> TextQuery:
        """The query as a vector of the photos' joint space, with the words of the query the encoder does not know
        and how to read the vector (handlers/text_encoder.py `TextQuery`). ModelUnavailable when there is no text
        encoder, or when the embedder that answered last is not the one the encoder was trained against (its
        vectors would not compare)."""
        encoder = self.text_encoder
        if encoder is None:
            raise ModelUnavailable("text search is not configured: no text encoder at KALAS_TEXT_ENCODER "
                                   "(train one with python -m scripts.train_text)", "text_search_unavailable")
        if self.embedder is not None and self.embedder.get("digest") != encoder.embedder_digest:
            raise ModelUnavailable("the text encoder was trained for another image embedder than the one serving now: "
                                   "train it again with python -m scripts.train_text", "text_search_unavailable")
        return encoder.query(text)

    def _as_embeddings(self, answers: Sequence[dict | InferenceError]) -> list[Embedded | InferenceError]:
        identities = [a.get("model") for a in answers if not isinstance(a, InferenceError)]
        if identities:
            self.embedder = identities[0] if all(i == identities[0] for i in identities[1:]) else None
        return [a if isinstance(a, InferenceError) else embedded_of(a) for a in answers]


def embedded_of(answer: dict) -> Embedded:
    """The embedding and the signals of an embedder's (or the attributes model's) answer."""
    signals = answer.get("signals")
    return Embedded(np.asarray(answer["embedding"], dtype=np.float32),
                    None if signals is None else np.asarray(signals, dtype=np.float32))


def torchserve_key(key_file: str | Path, kind: str = "inference") -> str:
    """A key TorchServe generated (`inference`, `management` or `API`): with token authorization on it writes
    them to key_file.json in its working directory at every start, and again when a key is rotated."""
    try:
        return str(json.loads(Path(key_file).read_text())[kind]["key"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise InferenceError(503, f"cannot read TorchServe's {kind} key from {key_file}: {error!r}") from None


def _is_key_refusal(answer: Answer) -> bool:
    """TorchServe answers a missing, wrong or expired key with 400 and this exception type."""
    return answer.status in (400, 401) and b"InvalidKeyException" in answer.body


class TorchServeClient(Embeddings):
    """TorchServe's inference API over HTTP, on kept-alive connections (api/clients/keepalive_http.py says why not aiohttp).

    With token authorization on, pass the inference key as `token`, or better TorchServe's `key_file`: the key is
    read from it, and read again when TorchServe refuses it (a restart or a rotation writes a new one), so the
    API follows a new key without a restart of its own.
    """

    def __init__(self, base_url: str, *, token: str | None = None, key_file: str | Path | None = None,
                 timeout: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._key_file = Path(key_file) if key_file else None
        self._timeout = timeout
        self._http = KeepAliveHttp(self.base_url)
        self._authorization: str | None = f"Bearer {token}" if token else None
        if token is None and self._key_file is not None and self._key_file.is_file():
            self._use_key_file()

    async def annotate(self, images: Sequence[bytes]) -> list[dict | InferenceError]:
        return await self._predict_all(ATTRIBUTES, images)

    async def embed(self, images: Sequence[bytes]) -> list[Embedded | InferenceError]:
        return self._as_embeddings(await self._predict_all(EMBEDDER, images))

    async def aclose(self) -> None:
        await self._http.aclose()

    async def ping(self) -> None:
        """Return if TorchServe says it is healthy (every model has its workers); InferenceError otherwise."""
        try:
            answer = await self._send("GET", "/ping", timeout=5.0)
        except (HttpFailure, TimeoutError) as error:
            raise InferenceError(503, f"TorchServe at {self.base_url} did not answer: {type(error).__name__}") from None
        if answer.status != 200:
            raise InferenceError(answer.status, _error_message(answer))

    async def _predict_all(self, model: str, images: Sequence[bytes]) -> list[dict | InferenceError]:
        if len(images) == 1:  # the common case: no task per image, and the request goes out at once
            return [await self._predict(model, images[0])]
        return list(await asyncio.gather(*(self._predict(model, image) for image in images)))

    async def _predict(self, model: str, image: bytes) -> dict | InferenceError:
        try:
            answer = await self._send("POST", f"/predictions/{model}", data=image,
                                      headers={"Content-Type": "application/octet-stream"})
        except (HttpFailure, TimeoutError) as error:
            return InferenceError(503, f"TorchServe at {self.base_url} did not answer: {type(error).__name__} {error}")
        except InferenceError as error:
            return error
        if answer.status == 200:
            return answer.json()
        return InferenceError(answer.status, _error_message(answer))

    async def _send(self, method: str, path: str, *, timeout: float | None = None, data: bytes | None = None,
                    headers: dict[str, str] | None = None) -> Answer:
        answer = await self._request(method, path, timeout, data, headers)
        if self._key_file is not None and _is_key_refusal(answer):
            self._use_key_file()  # TorchServe restarted or rotated its key: take the new one, try once more
            answer = await self._request(method, path, timeout, data, headers)
        return answer

    async def _request(self, method: str, path: str, timeout: float | None, data: bytes | None,
                       headers: dict[str, str] | None) -> Answer:
        if self._authorization:
            headers = {**(headers or {}), "Authorization": self._authorization}
        return await self._http.request(method, path, body=data or b"", headers=headers, timeout=timeout or self._timeout)

    def _use_key_file(self) -> None:
        self._authorization = f"Bearer {torchserve_key(self._key_file)}"


def _error_message(answer: Answer) -> str:
    """Our handlers answer `{"error": ...}`; TorchServe's own failures answer `{"code", "type", "message"}`."""
    try:
        body = answer.json()
    except ValueError:
        return answer.text or answer.reason
    if isinstance(body, dict):
        return str(body.get("error") or body.get("message") or body)
    return str(body)
