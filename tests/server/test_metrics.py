"""GET /metrics: Prometheus text from a real hub; counters move with the work, gauges with the
sockets, and only an operator may read it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from client.candidate import CandidateClient
from client.monitor import MonitorClient
from protocol.messages import SendChunk
from server.metrics import Histogram, metrics_allowed
from server.store import Store
from server.store.embedded import EmbeddedRedis
from tests.conftest import PHONE, Hub, make_org, start_hub

TOKEN = "metrics-token-for-the-tests-0123456789"
BEARER = {"authorization": f"Bearer {TOKEN}"}

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture(scope="module")
def metrics_hub(
    redis_server: EmbeddedRedis, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Hub]:
    """A hub of this module's own (its counters move only with this module's work)."""
    running = start_hub(
        redis_server.url, tmp_path_factory.mktemp("metrics-hub"), HUB_METRICS_TOKEN=TOKEN
    )
    yield running
    running.stop()


async def scrape(hub: Hub) -> Samples:
    """Every sample of the hub's /metrics, by name and labels."""
    async with httpx.AsyncClient(base_url=hub.http) as http:
        answer = await http.get("/metrics", headers=BEARER)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples: Samples = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


async def wait_for_sample(hub: Hub, name: str, expected: float, **labels: str) -> None:
    """Scrape until the sample has the expected value (the hub notices a close a moment late)."""
    deadline = time.monotonic() + 60
    while True:
        seen = value(await scrape(hub), name, **labels)
        if seen == expected:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{name}{labels} stayed {seen}, expected {expected}")
        await asyncio.sleep(0.1)


async def test_chunks_stored_counter_moves_by_exactly_the_chunks_stored(
    metrics_hub: Hub, make_interview: Any
) -> None:
    """After a candidate's 7 chunks are acked, chunks_stored, the ack-latency histogram's count and the writer's batch sizes each moved by exactly 7."""
    _, token = await make_interview(2)
    before = await scrape(metrics_hub)
    candidate = CandidateClient(metrics_hub.ws, token, PHONE)
    await candidate.join()
    for i in range(7):
        await candidate.send_text(f"part {i} ")
    await candidate.wait_acked(timeout=60)
    after = await scrape(metrics_hub)
    await candidate.close()

    def moved(name: str) -> float:
        return value(after, name) - value(before, name)

    assert moved("interview_hub_chunks_stored_total") == 7
    assert moved("interview_hub_chunks_written_total") == 7
    assert moved("interview_hub_ack_latency_seconds_count") == 7
    assert moved("interview_hub_writer_batch_chunks_sum") == 7
    assert moved("interview_hub_redis_write_seconds_count") >= 1
    assert value(after, "interview_hub_ack_latency_seconds_bucket", le="+Inf") == value(
        after, "interview_hub_ack_latency_seconds_count"
    )


async def test_a_chunk_sent_twice_is_counted_stored_once(
    metrics_hub: Hub, make_interview: Any, store: Store
) -> None:
    """Each of 5 chunks sent twice in a row (before its ack): 5 chunks in Redis and chunks_stored moved by exactly 5, however many of the copies reached Redis (chunks_written)."""
    iv_id, token = await make_interview(2)
    before = await scrape(metrics_hub)
    candidate = CandidateClient(metrics_hub.ws, token, PHONE)
    await candidate.join()
    assert candidate.question is not None
    for i in range(5):
        seq = await candidate.send_text(f"twice {i} ")
        await candidate.send(SendChunk(candidate.question.q, seq, f"twice {i} "))
    await candidate.wait_acked(timeout=60)
    after = await scrape(metrics_hub)
    await candidate.close()
    assert len(await store.chunks(iv_id)) == 5
    stored = value(after, "interview_hub_chunks_stored_total")
    assert stored - value(before, "interview_hub_chunks_stored_total") == 5
    written = value(after, "interview_hub_chunks_written_total")
    assert 5 <= written - value(before, "interview_hub_chunks_written_total") <= 10


async def test_sockets_gauge_follows_joins_and_closes(
    metrics_hub: Hub, redis_server: EmbeddedRedis, make_interview: Any
) -> None:
    """The sockets gauge counts a candidate socket and an HR monitor while they are open, the joined gauge once joined and logged in, and both fall back when they close."""
    await wait_for_sample(metrics_hub, "interview_hub_sockets", 0, kind="candidate")
    await wait_for_sample(metrics_hub, "interview_hub_sockets", 0, kind="monitor")
    _, token = await make_interview(2)
    candidate = CandidateClient(metrics_hub.ws, token, PHONE)
    await candidate.join()
    samples = await scrape(metrics_hub)
    assert value(samples, "interview_hub_sockets", kind="candidate") == 1
    assert value(samples, "interview_hub_sockets_joined", kind="candidate") == 1
    org = await make_org(metrics_hub, redis_server.url)
    url = f"ws://127.0.0.1:{metrics_hub.port}/ws/monitor"
    async with MonitorClient(url, org.tokens["recruiter"]):
        samples = await scrape(metrics_hub)
        assert value(samples, "interview_hub_sockets", kind="monitor") == 1
        assert value(samples, "interview_hub_sockets_joined", kind="monitor") == 1
    await wait_for_sample(metrics_hub, "interview_hub_sockets", 0, kind="monitor")
    await candidate.close()
    await wait_for_sample(metrics_hub, "interview_hub_sockets", 0, kind="candidate")
    await wait_for_sample(metrics_hub, "interview_hub_sockets_joined", 0, kind="candidate")


async def test_lease_draining_redis_and_queues_are_read_at_scrape_time(metrics_hub: Hub) -> None:
    """A running hub reports its lease held, not draining, Redis up with a round trip, every queue's depth, and its tasks up."""
    samples = await scrape(metrics_hub)
    assert value(samples, "interview_hub_lease_held") == 1
    assert value(samples, "interview_hub_draining") == 0
    assert value(samples, "interview_hub_redis_up") == 1
    assert value(samples, "interview_hub_redis_round_trip_seconds") > 0
    queues = {labels for name, labels in samples if name == "interview_hub_queue_depth"}
    assert {dict(labels)["queue"] for labels in queues} == {
        "notifications",
        "notification_retries",
        "transcriptions",
        "transcriptions_waiting",
        "transcriptions_given_up",
    }
    assert value(samples, "interview_hub_task_up", task="chunk-writer") == 1
    assert value(samples, "interview_hub_task_up", task="lease") == 1
    assert value(samples, "interview_hub_redis_errors_total", part="chunk_writer") == 0


async def test_metrics_without_the_token_are_refused(metrics_hub: Hub) -> None:
    """With HUB_METRICS_TOKEN set, /metrics without it or with another token is 401 not_logged_in (a Bearer challenge), even from loopback."""
    async with httpx.AsyncClient(base_url=metrics_hub.http) as http:
        for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": TOKEN}):
            answer = await http.get("/metrics", headers=headers)
            assert answer.status_code == 401, headers
            assert answer.json()["reason"] == "not_logged_in"
            assert answer.headers["www-authenticate"].startswith("Bearer")
        assert (await http.get("/metrics", headers=BEARER)).status_code == 200


async def test_metrics_without_a_token_are_for_loopback_clients_not_behind_a_proxy(
    hub: Hub,
) -> None:
    """Without HUB_METRICS_TOKEN, a loopback client reads /metrics; a request that came through a proxy (X-Forwarded-For, Forwarded) is refused with 401."""
    async with httpx.AsyncClient(base_url=hub.http) as http:
        answer = await http.get("/metrics")
        assert answer.status_code == 200
        assert "interview_hub_sockets" in answer.text
        for proxied in ({"x-forwarded-for": "203.0.113.9"}, {"forwarded": "for=203.0.113.9"}):
            refused = await http.get("/metrics", headers=proxied)
            assert refused.status_code == 401, proxied
            assert refused.json()["reason"] == "not_logged_in"


def test_who_may_read_metrics() -> None:
    """metrics_allowed: the token (compared whole, bearer scheme) when set; else loopback v4 or v6 only, never through a proxy or from an unknown peer."""
    assert metrics_allowed("t0k", "Bearer t0k", "203.0.113.9", [])
    assert metrics_allowed("t0k", "bearer t0k", "203.0.113.9", ["x-forwarded-for"])
    assert not metrics_allowed("t0k", "Bearer t0", "127.0.0.1", [])
    assert not metrics_allowed("t0k", "Basic t0k", "127.0.0.1", [])
    assert metrics_allowed("", "", "127.0.0.1", ["host"])
    assert metrics_allowed("", "", "::1", [])
    assert not metrics_allowed("", "", "10.0.0.5", [])
    assert not metrics_allowed("", "", "127.0.0.1", ["x-real-ip"])
    assert not metrics_allowed("", "", "", [])


def test_histogram_counts_in_prometheus_buckets() -> None:
    """A value on a bound falls in that bound's bucket (le), one above every bound in +Inf, and a run of n counts n times."""
    hist = Histogram((0.01, 0.1))
    hist.observe(0.01)
    hist.observe(0.05, 3)
    hist.observe(7.0)
    assert hist.counts == [1, 3, 1]
    assert hist.count == 5
    assert hist.total == pytest.approx(0.01 + 0.15 + 7.0)
    family = hist.family("h_seconds", "doc")
    buckets = {s.labels["le"]: s.value for s in family.samples if s.name == "h_seconds_bucket"}
    assert buckets == {"0.01": 1, "0.1": 4, "+Inf": 5}
