"""Growing delays for failed credentials, per key, forgotten after a while; a success clears its key."""
from api.core.guessing import GuessThrottle, retry_after


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_free_tries_then_doubling_waits_capped():
    clock = Clock()
    throttle = GuessThrottle(free=3, base_s=1.0, cap_s=8.0, forget_s=3600, clock=clock)
    waits = []
    for _ in range(8):
        throttle.failed("address:a")
        waits.append(throttle.wait("address:a"))
    assert waits == [0, 0, 0, 1, 2, 4, 8, 8]
    assert throttle.wait("address:b") == 0  # another key is not slowed
    clock.now += 8.5
    assert throttle.wait("address:a") == 0  # the wait passes; the count stays: the next failure waits the cap again
    throttle.failed("address:a")
    assert throttle.wait("address:a") == 8


def test_the_longest_wait_of_several_keys_a_success_and_forgetting():
    clock = Clock()
    throttle = GuessThrottle(free=1, base_s=2.0, cap_s=60, forget_s=100, clock=clock)
    throttle.failed("login:x@a", "address:a")
    throttle.failed("login:x@a", "address:a")
    throttle.failed("address:a")
    assert throttle.wait("login:x@a") == 2 and throttle.wait("login:x@a", "address:a") == 4
    throttle.succeeded("login:x@a")
    assert throttle.wait("login:x@a") == 0 and throttle.wait("address:a") == 4
    clock.now += 101
    assert throttle.wait("address:a") == 0  # forgotten
    assert retry_after(0.2) == "1" and retry_after(3.01) == "4"
