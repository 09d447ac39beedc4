"""Every answer carries its request's id (`X-Request-ID`), a proxy's own id is kept, and a 500 names the id its log
line carries, so that a shop's report and the operator's log meet. The real app, against a real database."""
from __future__ import annotations

import logging
import re
import uuid

import pytest
from asgi_correlation_id import CorrelationIdFilter
from fastapi.testclient import TestClient

from api.core.request_ids import HEADER
from api.main import create_app

HEX_ID = re.compile(r"[0-9a-f]{32}")


def test_each_answer_has_an_id_of_its_own(client: TestClient) -> None:
    first, second = client.get("/healthz"), client.get("/api/v1/nowhere")
    assert first.status_code == 200 and second.status_code == 404
    assert HEX_ID.fullmatch(first.headers[HEADER]) and HEX_ID.fullmatch(second.headers[HEADER])
    assert first.headers[HEADER] != second.headers[HEADER]


@pytest.mark.parametrize("sent", [uuid.uuid4().hex, str(uuid.uuid4())])
def test_a_proxys_id_is_kept(client: TestClient, sent: str) -> None:
    assert client.get("/healthz", headers={HEADER: sent}).headers[HEADER] == sent  # nginx's $request_id, a UUID


@pytest.mark.parametrize("sent", ["not-an-id", "0" * 31 + "\u00e9", "a" * 200])
def test_anything_else_is_replaced_never_written_as_sent(client: TestClient, sent: str) -> None:
    answered = client.get("/healthz", headers={HEADER: sent.encode("utf-8")}).headers[HEADER]
    assert HEX_ID.fullmatch(answered) and answered != sent


def test_an_answer_the_body_limit_gives_has_an_id_too(client: TestClient) -> None:
    too_large = client.post("/api/v1/annotations", content=b"x", headers={"Content-Length": str(10**12)})
    assert too_large.status_code == 413 and HEX_ID.fullmatch(too_large.headers[HEADER])


class Lines(logging.Handler):
    """The log records it is handed, each read through the filter the service's own handler carries."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []
        self.addFilter(CorrelationIdFilter(default_value="-"))

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_a_500_names_the_id_its_log_lines_carry(settings, tmp_path) -> None:
    broken = create_app(settings.model_copy(update={"web_dist": tmp_path / "no-console"}))

    @broken.get("/boom")
    async def boom() -> None:
        logging.getLogger("api.test").warning("about to fail")
        raise RuntimeError("a bug")

    sent, lines = uuid.uuid4().hex, Lines()
    logging.getLogger("api").addHandler(lines)
    try:
        with TestClient(broken, raise_server_exceptions=False) as client:
            answer = client.get("/boom", headers={HEADER: sent})
    finally:
        logging.getLogger("api").removeHandler(lines)
    assert answer.status_code == 500 and answer.headers[HEADER] == sent
    assert f"logged as request {sent}" in answer.json()["error"]["message"]
    assert [(r.getMessage(), r.correlation_id) for r in lines.records] == [
        ("about to fail", sent), ("unhandled error on GET /boom", sent)]
