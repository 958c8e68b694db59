"""The operator's view of a hub: ``GET /metrics`` in Prometheus' text format.

Two kinds of number, kept apart so the chunk path stays cheap:

- *Counted as it happens*, by the code doing the work: plain ``int`` counters and the
  ``Histogram`` below (a list of bucket counts and a sum) bumped by the chunk writer once
  per run of chunks or per flush, and by a monitor's reader once per live entry. No lock
  (one event loop), no allocation, no prometheus-client object on that path.
- *Read when Prometheus scrapes*: open sockets and their send queues, the lease, the
  draining flag, the supervised tasks, and a round trip to Redis that also reads the
  depths of the notification and transcription queues.

``render`` turns both into metric families and prometheus-client writes the text. Who may
read it (``metrics_allowed``): with ``HUB_METRICS_TOKEN`` set, whoever sends it as a bearer
token; without, only a client on the loopback interface that came through no proxy (a
proxy on the same machine is loopback too, so a request carrying forwarding headers is
refused). docs/operations.md lists the metrics and the alerts worth setting on them.
"""

from __future__ import annotations

import hmac
import time
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from ipaddress import ip_address
from typing import TYPE_CHECKING

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector, CollectorRegistry

from server.store import StoreError

if TYPE_CHECKING:
    from server.hub import CandidateHub
    from server.monitor import MonitorHub
    from server.store import Store
    from server.supervisor import Supervisor

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# seconds: from 1 ms (the writer's clock counts milliseconds) to 10 s (a Redis outage)
LATENCY_BOUNDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# chunks in one flush of the writer (one pipeline)
BATCH_BOUNDS = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0)
FORWARDING_HEADERS = ("x-forwarded-for", "forwarded", "x-real-ip")


class Histogram:
    """Bucket counts and a sum, bumped in place: ``observe`` is one bisect and two adds."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one: above every bound (+Inf)
        self.total = 0.0

    def observe(self, value: float, times: int = 1) -> None:
        """Count ``value`` ``times`` times (a run of chunks acked together shares one)."""
        self.counts[bisect_left(self.bounds, value)] += times
        self.total += value * times

    @property
    def count(self) -> int:
        return sum(self.counts)

    def family(self, name: str, documentation: str) -> HistogramMetricFamily:
        cumulative, buckets = 0, []
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            cumulative += count
            buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
        return HistogramMetricFamily(name, documentation, buckets=buckets, sum_value=self.total)


@dataclass
class RedisReading:
    """What one round trip to Redis at scrape time found."""

    up: bool = False
    round_trip_s: float = 0.0
    queues: Mapping[str, int] = field(default_factory=dict)


@dataclass
class HubView:
    """What /metrics reads: the hub's parts, handed over by app.py."""

    hub: CandidateHub
    monitors: MonitorHub
    store: Store
    supervisor: Supervisor
    scrape_errors: int = 0  # scrapes whose Redis round trip failed

    async def read_redis(self) -> RedisReading:
        started = time.perf_counter()
        try:
            queues = await self.store.queue_depths()
        except StoreError:  # Redis away: that is a reading (up 0), not a failed scrape
            self.scrape_errors += 1
            return RedisReading()
        return RedisReading(True, time.perf_counter() - started, queues)

    def families(self, redis: RedisReading) -> Iterator[Metric]:
        hub, monitors, writer = self.hub, self.monitors, self.hub.writer
        info = GaugeMetricFamily(
            "interview_hub_info", "This hub process (value 1).", labels=["hub_id", "durability"]
        )
        info.add_metric([hub.hub_id, hub.settings.durability], 1)
        yield info
        candidates = list(hub.connections.values())
        watchers = list(monitors.connections)
        sockets = GaugeMetricFamily(
            "interview_hub_sockets", "Open websockets on this hub.", labels=["kind"]
        )
        sockets.add_metric(["candidate"], len(candidates))
        sockets.add_metric(["monitor"], len(watchers))
        yield sockets
        joined = GaugeMetricFamily(
            "interview_hub_sockets_joined",
            "Candidate sockets joined to an interview; monitors logged in.",
            labels=["kind"],
        )
        joined.add_metric(["candidate"], sum(1 for c in candidates if c.interview_id))
        joined.add_metric(["monitor"], sum(1 for w in watchers if w.principal is not None))
        yield joined
        queued = GaugeMetricFamily(
            "interview_hub_socket_queue_messages",
            "Messages waiting in the sockets' send queues (acks, replies, live entries).",
            labels=["kind"],
        )
        queued.add_metric(["candidate"], sum(c.outbox.queued for c in candidates))
        queued.add_metric(["monitor"], sum(w.outbox.queued for w in watchers))
        yield queued
        yield _counter(
            "interview_hub_chunks_stored",
            "Answer chunks newly stored in Redis by this hub (resends of stored ones not counted).",
            writer.stored,
        )
        yield _counter(
            "interview_hub_chunks_written",
            "Answer chunks this hub handed to Redis (resends included).",
            writer.chunks,
        )
        yield writer.ack_latency.family(
            "interview_hub_ack_latency_seconds",
            "Chunk arrival to its ack, per chunk, timed from the first chunk of its run.",
        )
        yield writer.batch_sizes.family(
            "interview_hub_writer_batch_chunks", "Chunks per writer flush (one Redis pipeline)."
        )
        yield writer.round_trips.family(
            "interview_hub_redis_write_seconds", "Round trip of each chunk pipeline to Redis."
        )
        yield monitors.delivery_latency.family(
            "interview_hub_monitor_delivery_seconds",
            "Live entry written to Redis to queued for a monitor's socket, per entry.",
        )
        errors = CounterMetricFamily(
            "interview_hub_redis_errors",
            "Failed Redis calls, by the part of the hub that made them.",
            labels=["part"],
        )
        errors.add_metric(["chunk_writer"], writer.errors)
        errors.add_metric(["lease"], hub.lease_errors)
        errors.add_metric(["monitor_reader"], monitors.read_errors)
        errors.add_metric(["metrics"], self.scrape_errors)
        yield errors
        yield _gauge("interview_hub_redis_up", "1 if Redis answered this scrape.", redis.up)
        yield _gauge(
            "interview_hub_redis_round_trip_seconds",
            "This scrape's round trip to Redis (its queue depths read).",
            redis.round_trip_s,
        )
        depths = GaugeMetricFamily(
            "interview_hub_queue_depth",
            "Entries waiting in the shared Redis queues (absent while Redis is away).",
            labels=["queue"],
        )
        for name, depth in sorted(redis.queues.items()):
            depths.add_metric([name], depth)
        yield depths
        yield _gauge(
            "interview_hub_lease_held", "1 while this hub holds its lease.", hub.lease_held
        )
        yield _gauge("interview_hub_draining", "1 once this hub is stopping.", hub.draining)
        health = self.supervisor.health()
        tasks = GaugeMetricFamily(
            "interview_hub_task_up",
            "1 for a background task that runs and works; 0 degraded or down.",
            labels=["task"],
        )
        states = health["tasks"]
        assert isinstance(states, dict)
        for name, state in sorted(states.items()):
            tasks.add_metric([name], state == "running")
        yield tasks
        restarts = CounterMetricFamily(
            "interview_hub_task_restarts", "Restarts of a failed background task.", labels=["task"]
        )
        for name, count in sorted(self.supervisor.restarts.items()):
            restarts.add_metric([name], count)
        yield restarts

    async def render(self) -> bytes:
        """The text Prometheus reads."""
        reading = await self.read_redis()
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Families(self.families(reading)))
        return generate_latest(registry)


class _Families(Collector):
    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = list(families)

    def collect(self) -> Iterable[Metric]:
        return self._families


def _counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, documentation, value=value)


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=float(value))


def metrics_allowed(
    token: str, authorization: str, client_host: str, headers: Iterable[str]
) -> bool:
    """Whether a request may read /metrics: the bearer ``token`` when one is set; else a
    loopback peer whose request names no proxy (``headers``: its header names, lower case)."""
    if token:
        scheme, _, given = authorization.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), token.encode()
        )
    if any(name in FORWARDING_HEADERS for name in headers):
        return False
    try:
        return ip_address(client_host).is_loopback
    except ValueError:  # no address (a Unix socket) or a name: not known to be local
        return False


__all__ = ["CONTENT_TYPE", "Histogram", "HubView", "metrics_allowed"]
