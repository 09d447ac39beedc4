"""The per-process memory of database answers (api/core/remembered.py), on a clock the test moves."""
from __future__ import annotations

import asyncio

from api.core.remembered import Remembered


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_values_are_kept_for_their_time_then_asked_for_again() -> None:
    clock = Clock()
    remembered: Remembered[str, dict] = Remembered(5.0, clock=clock)
    loads: list[str] = []

    async def load(key: str) -> dict:
        loads.append(key)
        return {"key": key, "load": len(loads)}

    async def run() -> list[dict | None]:
        first = await remembered.get_or_load("a", lambda: load("a"))
        clock.now += 4.9
        again = await remembered.get_or_load("a", lambda: load("a"))
        clock.now += 0.2  # past 5 s since it was loaded
        expired = await remembered.get_or_load("a", lambda: load("a"))
        return [first, again, expired]

    first, again, expired = asyncio.run(run())
    assert first == again == {"key": "a", "load": 1}
    assert expired == {"key": "a", "load": 2} and loads == ["a", "a"]


def test_absent_values_are_not_remembered_and_forget_and_clear_drop_values() -> None:
    remembered: Remembered[str, int] = Remembered(60.0, clock=Clock())
    calls = []

    async def nothing() -> None:
        calls.append(1)
        return None

    async def run() -> None:
        assert await remembered.get_or_load("missing", nothing) is None
        assert await remembered.get_or_load("missing", nothing) is None

    asyncio.run(run())
    assert len(calls) == 2  # an unknown key (say, a revoked API key) is looked up every time
    remembered.put("a", 1)
    remembered.put("b", 2)
    remembered.forget("a")
    assert (remembered.get("a"), remembered.get("b")) == (None, 2)
    remembered.clear()
    assert remembered.get("b") is None


def test_the_memory_stays_bounded() -> None:
    clock = Clock()
    remembered: Remembered[int, int] = Remembered(10.0, max_entries=3, clock=clock)
    for key in range(3):
        remembered.put(key, key)
    clock.now += 11  # all three expired: making room drops them, not the live newcomer
    remembered.put(3, 3)
    assert [remembered.get(k) for k in range(4)] == [None, None, None, 3]
    for key in (4, 5):
        remembered.put(key, key)
    remembered.put(6, 6)  # full of live entries: the least recently used one makes room
    assert [remembered.get(k) for k in (3, 4, 5, 6)] == [None, 4, 5, 6]


def test_a_value_loaded_while_it_was_forgotten_is_not_remembered() -> None:
    # A request looks a key up; the key is revoked (forgotten) before the lookup returns: the answer it got may be
    # stale, so it is used once and not remembered.
    remembered: Remembered[str, str] = Remembered(60.0, clock=Clock())

    async def run() -> tuple[str | None, str | None]:
        async def load_then_revoke() -> str:
            remembered.forget("key")  # the revocation lands while the lookup is under way
            return "live"

        first = await remembered.get_or_load("key", load_then_revoke)
        return first, remembered.get("key")

    assert asyncio.run(run()) == ("live", None)
    loaded_at = remembered.generation
    remembered.clear()
    remembered.put("key", "stale", loaded_at=loaded_at)
    assert remembered.get("key") is None
    remembered.put("key", "fresh", loaded_at=remembered.generation)
    assert remembered.get("key") == "fresh"


def test_many_keys_load_only_the_ones_not_remembered_in_one_call() -> None:
    remembered: Remembered[str, int] = Remembered(60.0, clock=Clock())
    remembered.put("a", 1)
    asked: list[list[str]] = []

    async def load_many(keys: list[str]) -> dict[str, int]:
        asked.append(keys)
        return {key: ord(key) for key in keys if key != "gone"}

    found = asyncio.run(remembered.get_many_or_load(["a", "b", "gone"], load_many))
    assert found == {"a": 1, "b": ord("b")} and asked == [["b", "gone"]]
    assert remembered.get("b") == ord("b") and remembered.get("gone") is None

    async def forgetting(keys: list[str]) -> dict[str, int]:
        remembered.forget("a")  # a change lands while the lookup is under way
        return {key: 0 for key in keys}

    assert asyncio.run(remembered.get_many_or_load(["c"], forgetting)) == {"c": 0}
    assert remembered.get("c") is None


def test_refresh_ahead_answers_the_remembered_value_and_reloads_it_in_the_background() -> None:
    clock = Clock()
    remembered: Remembered[str, str] = Remembered(60.0, refresh_after_s=5.0, clock=clock)
    asked: list[list[str]] = []
    titles = {"a": "old a", "b": "old b", "c": "old c"}

    async def load_many(keys: list[str]) -> dict[str, str]:
        asked.append(sorted(keys))
        await asyncio.sleep(0)
        return {key: titles[key] for key in keys if key in titles}

    async def run() -> list[dict[str, str]]:
        answers = [await remembered.get_many_or_load(["a", "b"], load_many)]
        titles.update(a="new a")  # another process renames a and deletes b
        del titles["b"]
        clock.now += 4.0
        answers.append(await remembered.get_many_or_load(["a", "b"], load_many))  # fresh: no lookup
        clock.now += 2.0  # 6 s old: due
        answers.append(await remembered.get_many_or_load(["a", "b", "c"], load_many))
        answers.append(await remembered.get_many_or_load(["a", "b"], load_many))  # the refresh still under way
        await asyncio.sleep(0.01)  # let it land
        answers.append(await remembered.get_many_or_load(["a", "b"], load_many))
        return answers

    first, fresh, due, during, after = asyncio.run(run())
    assert first == fresh == {"a": "old a", "b": "old b"}
    assert due == {"a": "old a", "b": "old b", "c": "old c"}  # answered at once, c loaded in line
    assert during == {"a": "old a", "b": "old b"}  # one refresh at a time
    assert after == {"a": "new a"}  # b was gone when the refresh asked, and is not answered again
    # The refresh of a and b once, then b asked for in line again (an absent value is not remembered).
    assert asked == [["a", "b"], ["c"], ["a", "b"], ["b"]]


def test_a_caller_may_decline_the_refresh_ahead_and_then_reads_again_only_at_expiry() -> None:
    clock = Clock()
    remembered: Remembered[str, str] = Remembered(60.0, refresh_after_s=5.0, clock=clock)
    asked: list[list[str]] = []
    titles = {"a": "old a"}

    async def load_many(keys: list[str]) -> dict[str, str]:
        asked.append(sorted(keys))
        return {key: titles[key] for key in keys if key in titles}

    async def run() -> list[dict[str, str]]:
        answers = [await remembered.get_many_or_load(["a"], load_many, refresh_ahead=False)]
        titles["a"] = "new a"
        clock.now += 30.0  # due for a refresh, which this caller declines
        answers.append(await remembered.get_many_or_load(["a"], load_many, refresh_ahead=False))
        await asyncio.sleep(0.01)
        clock.now += 31.0  # past its lifetime: read again, in line
        answers.append(await remembered.get_many_or_load(["a"], load_many, refresh_ahead=False))
        return answers

    assert asyncio.run(run()) == [{"a": "old a"}, {"a": "old a"}, {"a": "new a"}]
    assert asked == [["a"], ["a"]]


def test_refresh_ahead_never_answers_a_value_past_its_lifetime_and_waits_after_a_failed_refresh() -> None:
    clock = Clock()
    remembered: Remembered[str, int] = Remembered(60.0, refresh_after_s=5.0, clock=clock)
    loads = []

    async def load_many(keys: list[str]) -> dict[str, int]:
        loads.append(keys)
        if len(loads) == 2:
            raise ConnectionError("database away")
        return {key: len(loads) for key in keys}

    async def run() -> list[dict[str, int]]:
        answers = [await remembered.get_many_or_load(["a"], load_many)]
        clock.now += 10.0
        answers.append(await remembered.get_many_or_load(["a"], load_many))  # due: its refresh fails
        await asyncio.sleep(0.01)
        clock.now += 1.0
        answers.append(await remembered.get_many_or_load(["a"], load_many))  # not asked again this soon
        await asyncio.sleep(0.01)
        clock.now += 50.0  # 61 s since it was read: expired, loaded in line
        answers.append(await remembered.get_many_or_load(["a"], load_many))
        return answers

    assert asyncio.run(run()) == [{"a": 1}, {"a": 1}, {"a": 1}, {"a": 3}]
    assert loads == [["a"], ["a"], ["a"]]


def test_closing_cancels_refreshes_under_way() -> None:
    clock = Clock()
    remembered: Remembered[str, int] = Remembered(60.0, refresh_after_s=5.0, clock=clock)
    blocked = []

    async def load_many(keys: list[str]) -> dict[str, int]:
        if blocked:
            await asyncio.Event().wait()  # a lookup that never answers
        blocked.append(keys)
        return {key: 1 for key in keys}

    async def run() -> dict[str, int] | None:
        await remembered.get_many_or_load(["a"], load_many)
        clock.now += 6.0
        await remembered.get_many_or_load(["a"], load_many)
        await asyncio.sleep(0)
        await asyncio.wait_for(remembered.aclose(), timeout=5)
        return remembered.get("a")

    assert asyncio.run(run()) == 1  # the value stays; nothing is left running
