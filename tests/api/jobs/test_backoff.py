import random

from api.jobs.backoff import Backoff


def test_delays_double_within_jittered_bounds_up_to_the_cap():
    backoff, rng = Backoff(base_s=1.0, cap_s=10.0), random.Random(3)
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 10.0), (9, 10.0)]:
        draws = [backoff.delay(attempt, rng=rng) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in draws)
        assert len(set(draws)) > 1  # jittered, not a fixed schedule


def test_retry_after_is_a_floor_and_attempts_run_out():
    backoff = Backoff(base_s=0.1, max_attempts=3)
    assert backoff.delay(1, retry_after=7.0) == 7.0
    assert not backoff.exhausted(2) and backoff.exhausted(3)
