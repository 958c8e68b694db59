"""The token bucket behind the hub's rate limits: pure arithmetic on the time it is told."""

from __future__ import annotations

from protocol.limits import TokenBucket


def test_a_new_bucket_is_full_and_take_spends_until_empty() -> None:
    """A bucket starts with its burst; take() spends one a call and refuses when empty."""
    bucket = TokenBucket(rate=1.0, burst=3)
    assert [bucket.take(10.0) for _ in range(4)] == [True, True, True, False]


def test_tokens_come_back_at_the_rate_up_to_the_burst() -> None:
    """After t seconds, rate*t tokens are back, never more than the burst; a clock that goes back adds nothing."""
    bucket = TokenBucket(rate=2.0, burst=4)
    for _ in range(4):
        bucket.take(0.0)
    assert bucket.take(0.5) and not bucket.take(0.5)  # 0.5 s: one token
    assert not bucket.take(0.4)  # time going back gives nothing
    assert [bucket.take(100.0) for _ in range(5)] == [True] * 4 + [False]


def test_owe_charges_and_says_how_long_the_debt_takes() -> None:
    """owe() always spends and returns the seconds until the bucket is back to zero."""
    bucket = TokenBucket(rate=10.0, burst=5)
    assert bucket.owe(0.0, 5) == 0.0
    assert bucket.owe(0.0, 2) == 0.2  # two tokens short at 10 a second
    assert bucket.owe(0.2, 1) == 0.1  # the debt cleared, one more short


def test_owe_charges_a_cost_above_the_burst_as_the_burst() -> None:
    """One item larger than the burst waits at most burst/rate, and is never refused."""
    bucket = TokenBucket(rate=100.0, burst=10)
    assert bucket.owe(0.0, 1_000) == 0.0
    assert bucket.owe(0.0, 1_000) == 0.1


def test_a_rate_of_zero_means_no_limit_for_owe() -> None:
    """With rate 0, owe() never asks anyone to wait (the limit is switched off)."""
    bucket = TokenBucket(rate=0.0, burst=0)
    assert bucket.owe(0.0, 10**9) == 0.0
