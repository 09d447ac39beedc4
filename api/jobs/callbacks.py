"""The `callback` job: one attempt at posting one recorded delivery (api/domain/callbacks.py) to its URL.

A 2xx answer delivers it; any other answer, or none, is recorded on the delivery and fails the attempt, which the
runner retries with backoff (api/jobs/runner.py). When the tries run out the delivery is marked failed.
"""
from __future__ import annotations

import time

from api.core.security import sign_callback
from api.data import callbacks
from api.intake.fetch import FetchError
from api.jobs.runner import JobFailure, Step
from api.services import Services

SIGNATURE_HEADER = "X-Kalas-Signature"


class CallbackJobs:
    def __init__(self, services: Services) -> None:
        self.services = services

    async def run(self, job: dict, step: Step) -> str:
        db = self.services.db
        delivery = await callbacks.get_delivery(db, job["delivery"])
        if delivery is None or delivery["status"] != "pending":
            return "nothing to deliver (the delivery is gone or already settled)"
        target = await callbacks.with_secret(db, delivery["account"], delivery["callback_id"])
        if target is None:
            await callbacks.settle_delivery(db, delivery["_id"], "failed", "the callback was deleted")
            return "the callback was deleted"
        body = delivery["body"].encode("utf-8")
        secret = self.services.vault.open(target["secret"])
        headers = {"Content-Type": "application/json", "X-Kalas-Event": delivery["event"],
                   "X-Kalas-Delivery": delivery["_id"], SIGNATURE_HEADER: sign_callback(secret, int(time.time()), body)}
        try:
            answer = await self.services.http.post(target["url"], body, headers)
        except FetchError as error:
            await callbacks.record_attempt(db, delivery["_id"], None, error.message)
            raise JobFailure(error.message, retryable=True) from None
        if not 200 <= answer.status < 300:
            message = f"the callback answered HTTP {answer.status}"
            await callbacks.record_attempt(db, delivery["_id"], answer.status, message)
            raise JobFailure(message, retryable=True)
        await callbacks.record_attempt(db, delivery["_id"], answer.status, None, delivered=True)
        await step("delivered", f"HTTP {answer.status} from {target['url']}")
        return f"delivered: HTTP {answer.status}"

    async def gave_up(self, job: dict, reason: str) -> None:
        await callbacks.settle_delivery(self.services.db, job["delivery"], "failed", reason)

    async def aclose(self) -> None:
        pass
