"""Events for the URLs shops registered: each delivery a durable job, a signed POST retried with backoff.

The body is `{"id", "event", "created", "data"}`; `X-Kalas-Signature: t=<unix>,v1=<hex>` is HMAC-SHA256 of
`"<t>." + body` under the callback's secret (shown once at registration, stored sealed). The id is stable
across retries so a receiver can drop duplicates.

`notify` records a pending delivery with its body and queues a `callback` job for it on the durable queue
(api/data/jobs.py); a worker posts it (api/jobs/callbacks.py), so a delivery survives a restart of the API, and
of the worker, until it is accepted or its tries run out.
"""
from __future__ import annotations

import json
import logging
from typing import Any

from pydantic_core import to_jsonable_python

from api.data import callbacks, jobs
from api.services import Services

log = logging.getLogger(__name__)


async def notify(services: Services, account_id: str, event: str, data: Any) -> None:
    """Queue `event` for each of the shop's callbacks that asked for it. Routes run it as a background task of the
    response, so even looking the callbacks up happens after the answer has gone out. `data` may hold response
    models: they are turned into JSON only when the shop has a callback for the event (most have none)."""
    try:
        targets = await _targets(services, account_id, event)
        if not targets:
            return
        data = to_jsonable_python(data)
        for target in targets:
            delivery = callbacks.new_delivery(target["account"], target["_id"], event, target["url"])
            delivery["body"] = json.dumps({"id": delivery["_id"], "event": event,
                                           "created": delivery["created"].isoformat(), "data": data},
                                          separators=(",", ":"))
            await callbacks.record_delivery(services.db, delivery)
            await jobs.enqueue_kind(services.db, "callback", account_id, f"callback:{delivery['_id']}",
                                    f"{event} for {target['url']}", {"delivery": delivery["_id"]})
    except Exception:  # a background task has nobody to answer to: log, never crash the loop
        log.exception("queuing %s for account %s failed", event, account_id)


async def _targets(services: Services, account_id: str, event: str) -> list[dict]:
    found = await services.memory.callback_targets.get_or_load(
        account_id, lambda: callbacks.for_account(services.db, account_id))
    return [target for target in found or [] if event in target["events"]]


def forget_targets(services: Services, account_id: str) -> None:
    """Call after the shop changed its callbacks through this process."""
    services.memory.callback_targets.forget(account_id)
