"""Polling: the answer once it comes, None at the deadline, a failure at once."""

from __future__ import annotations

import time

import pytest

from redvec.waiting import poll_until


def test_the_first_answer_ends_the_wait() -> None:
    calls: list[float] = []

    def check() -> str | None:
        calls.append(time.monotonic())
        return "ready" if len(calls) == 3 else None

    assert poll_until(check, timeout=5, interval=0.01) == "ready"
    assert len(calls) == 3


def test_no_answer_by_the_deadline_is_none_not_an_endless_wait() -> None:
    start = time.monotonic()
    assert poll_until(lambda: None, timeout=0.2, interval=0.02) is None
    assert 0.2 <= time.monotonic() - start < 2


def test_a_failing_check_ends_the_wait_with_its_error() -> None:
    def check() -> None:
        raise ValueError("broken")

    with pytest.raises(ValueError, match="broken"):
        poll_until(check, timeout=5, interval=0.01)
    assert poll_until(lambda: 0, timeout=1, interval=0.01) == 0  # a falsy answer counts
