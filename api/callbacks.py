"""Delivering events to the URLs shops registered: a signed POST, retried with backoff, every attempt recorded.

The body is `{"id", "event", "created", "data"}`; `X-Kalas-Signature: t=<unix>,v1=<hex>` is HMAC-SHA256 of
`"<t>." + body` under the callback's secret (shown once at registration, stored sealed). The id is stable
across retries so a receiver can drop duplicates. Deliveries run as background tasks of the app; the app
waits for them briefly at shutdown. A delivery cut short by a restart is left "pending" in its record.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from fastapi import FastAPI
from pydantic_core import to_jsonable_python

from api.core.remembered import Remembered
from api.core.security import sign_callback
from api.core.settings import Settings
from api.data import callbacks
from api.data.common import now
from api.fetch import FetchError, SafeHttp
from api.integrations.vault import Vault

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Kalas-Signature"


async def notify(app: FastAPI, account_id: str, event: str, data: Any) -> None:
    """Start delivering `event` to the shop's callbacks. Routes run it as a background task of the response, so
    even looking the callbacks up happens after the answer has gone out. `data` may hold response models: they
    are turned into JSON only when the shop has a callback for the event (most have none)."""
    task = asyncio.get_running_loop().create_task(_deliver_all(app, account_id, event, data))
    app.state.tasks.add(task)
    task.add_done_callback(app.state.tasks.discard)


# Most shops register no callback; remembering each shop's list a few seconds spares a database query per
# annotation. This process forgets a shop's list when the shop changes it here; another API process sees the
# change within TARGETS_CACHE_S.
TARGETS_CACHE_S = 10.0


async def _targets(app: FastAPI, account_id: str, event: str) -> list[dict]:
    remembered: Remembered[str, list[dict]] = app.state.callback_targets
    found = await remembered.get_or_load(account_id, lambda: callbacks.for_account(app.state.db, account_id))
    return [target for target in found or [] if event in target["events"]]


def forget_targets(app: FastAPI, account_id: str) -> None:
    app.state.callback_targets.forget(account_id)


async def _deliver_all(app: FastAPI, account_id: str, event: str, data: Any) -> None:
    db, settings = app.state.db, app.state.settings
    try:
        targets = await _targets(app, account_id, event)
        if not targets:
            return
        data = to_jsonable_python(data)
        await asyncio.gather(*(deliver(db, app.state.http, settings, target, event, data) for target in targets))
    except Exception:  # a background task has nobody to answer to: log, never crash the loop
        log.exception("delivering %s for account %s failed", event, account_id)


async def deliver(db: Any, http: SafeHttp, settings: Settings, target: dict, event: str, data: Any) -> dict:
    """POST one event to one callback until it is accepted (2xx) or the retries run out; returns the record."""
    delivery = callbacks.new_delivery(target["account"], target["_id"], event, target["url"])
    body = json.dumps({"id": delivery["_id"], "event": event, "created": delivery["created"].isoformat(), "data": data},
                      separators=(",", ":")).encode("utf-8")
    secret = Vault.from_secret_key(settings.secret_key).open(target["secret"])
    for attempt in range(settings.callback_retries + 1):
        if attempt:
            await asyncio.sleep(settings.callback_backoff_s * 2 ** (attempt - 1))
        headers = {"Content-Type": "application/json", "X-Kalas-Event": event, "X-Kalas-Delivery": delivery["_id"],
                   SIGNATURE_HEADER: sign_callback(secret, int(time.time()), body)}
        delivery["attempts"] = attempt + 1
        try:
            answer = await http.post(target["url"], body, headers)
            delivery["response_status"] = answer.status
            if 200 <= answer.status < 300:
                delivery.update(status="delivered", delivered=now(), last_error=None)
                break
            delivery["last_error"] = f"the callback answered HTTP {answer.status}"
        except FetchError as error:
            delivery["last_error"] = error.message
        await callbacks.record_delivery(db, delivery)
    else:
        delivery["status"] = "failed"
    await callbacks.record_delivery(db, delivery)
    return delivery
