"""Webhook delivery against a real HTTP server in a thread: delivered, retried with backoff on 5xx,
timeouts and refused connections, not retried on other answers, and never raising."""

from __future__ import annotations

import time

import pytest

from agentmem.jobs.webhook import post_json
from agentmem.jobs.outbound import AllowList
from webhook_server import receiver, unreachable_url

LOCAL = AllowList.parse("127.0.0.1")  # the test receiver listens on loopback

EVENT = {"event": "agentmem.alert", "kind": "score_dropped", "message": "score 0.70 is 0.20 below 0.90"}


class Waits:
    """Records the backoff instead of sleeping: the schedule is checked, not the clock."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)


def test_delivered_on_the_first_attempt() -> None:
    waits = Waits()
    with receiver() as rec:
        d = post_json(rec.url, EVENT, allow=LOCAL, timeout=5, attempts=3, backoff=0.5, sleep=waits)
    assert (d.delivered, d.attempts, d.status) == (True, 1, "delivered")
    assert rec.received == [EVENT] and rec.headers[0]["Content-Type"] == "application/json"
    assert waits.seconds == []


def test_a_500_is_retried_with_backoff_until_it_succeeds() -> None:
    waits = Waits()
    with receiver(statuses=[500, 503]) as rec:
        d = post_json(rec.url, EVENT, allow=LOCAL, timeout=5, attempts=3, backoff=0.5, sleep=waits)
    assert (d.delivered, d.attempts) == (True, 3) and len(rec.received) == 3
    assert waits.seconds == [0.5, 1.0]


def test_a_receiver_that_keeps_failing_is_given_up_on() -> None:
    waits = Waits()
    with receiver(statuses=[500] * 5) as rec:
        d = post_json(rec.url, EVENT, allow=LOCAL, timeout=5, attempts=3, backoff=0.25, sleep=waits)
    assert not d.delivered and d.attempts == 3 and len(rec.received) == 3
    assert d.status == "failed: http 500 (3 attempts)"
    assert waits.seconds == [0.25, 0.5]


def test_a_receiver_that_does_not_answer_times_out_each_attempt() -> None:
    with receiver(hang=True) as rec:
        d = post_json(rec.url, EVENT, allow=LOCAL, timeout=0.2, attempts=2, backoff=0, sleep=Waits())
        assert rec.received == [EVENT] * len(rec.received) and rec.received  # it was asked
    assert not d.delivered and d.status == "failed: timeout (2 attempts)"


def test_a_receiver_that_drips_its_answer_is_cut_off_at_the_deadline() -> None:
    """The socket's timeout bounds each read; a byte every 0.2 s never meets it. The attempt's deadline does:
    without it this attempt would last 100,000 x 0.2 s, holding a job worker (or a request) all along."""
    with receiver(drip=True) as rec:
        started = time.monotonic()
        d = post_json(rec.url, EVENT, allow=LOCAL, timeout=0.5, attempts=2, backoff=0, sleep=Waits())
        took = time.monotonic() - started
    assert not d.delivered and d.status == "failed: timeout (2 attempts)" and d.unanswered
    assert took < 5  # two deadlines of 0.5 s; a generous bound on a loaded machine, far below 100,000 x 0.2 s


def test_an_unreachable_receiver_fails_without_raising() -> None:
    d = post_json(unreachable_url(), EVENT, allow=LOCAL, timeout=1, attempts=2, backoff=0, sleep=Waits())
    assert not d.delivered and d.attempts == 2 and d.status == "failed: refused (2 attempts)"


@pytest.mark.parametrize("status", [400, 404, 410, 302])
def test_answers_that_asking_again_will_not_change_are_not_retried(status: int) -> None:
    waits = Waits()
    with receiver(statuses=[status]) as rec:
        d = post_json(rec.url, EVENT, allow=LOCAL, timeout=5, attempts=3, backoff=0.5, sleep=waits)
    assert not d.delivered and d.attempts == 1 and d.status == f"failed: http {status}"
    assert len(rec.received) == 1 and waits.seconds == []  # a redirect is not followed either


def test_a_429_is_retried() -> None:
    with receiver(statuses=[429]) as rec:
        d = post_json(rec.url, EVENT, allow=LOCAL, timeout=5, attempts=2, backoff=0, sleep=Waits())
    assert d.delivered and d.attempts == 2 and len(rec.received) == 2
