"""Fault benchmark: candidates stream answer chunks while faults between the hub, Redis and
the clients are injected again and again; afterwards Redis is checked chunk by chunk.

    uv run python -m loadtests.fault_bench --candidates 50 --rate 10 --duration 300
    uv run python -m loadtests.fault_bench --faults redis-kill --durability fsync --duration 60

It starts its own redis-server (TCP, 127.0.0.1, a temporary directory) and ``--hubs`` hubs
(default 2). The hubs reach Redis through a FaultProxy (loadtests/faults.py); the
candidates reach each hub through a FaultProxy of its own. Pinning as in loadtests.bench:
the hubs on CPU 0, redis-server, the proxies and the candidates (this process) on CPU 1.

Each of ``--candidates`` candidates joins its own interview with the reference Python client
(client/candidate.py: an outbox of unacknowledged chunks, resent after a reconnect) and
types a ~40-byte chunk every 1/``--rate`` s, connected or not: a chunk typed while offline
waits in the outbox. Around the client runs the loop a real one has: on a close or a dead
socket (its keep-alive pings go unanswered), back off (0.1 s doubling to 2 s, with jitter)
and join again, on the next hub (as a load balancer would send it), which resumes.

The fault schedule runs rounds of the selected kinds (``--faults``, default all) until
``--duration`` seconds have passed (at least one round); a kind with several lengths runs
once per length per round. After each fault it waits (at most ``--recover-timeout``) until
every hub's /healthz is 200 and every candidate has an ack for a chunk typed after the fault
ended, then ``--gap`` quiet seconds. The kinds, and when each counts as over:

  redis-rst         every hub↔Redis connection reset (RST)                   at once
  redis-outage      hub↔Redis refused and reset for S s (``--outage-s``)     S s later
  redis-restart     redis-server SIGTERM, started again (same port, files)   Redis answers
  redis-kill        redis-server SIGKILL, started again                      Redis answers
  client-rst        every candidate↔hub connection reset (RST)               at once
  client-blackhole  candidate↔hub bytes held for S s, no FIN or RST          S s later
                    (``--blackhole-s``)
  hub-stop          a hub SIGSTOPped for S s (``--pause-s``), then SIGCONT   SIGCONT
  hub-kill          a hub SIGKILLed, then started again on its port          the kill

The hubs run with ``HUB_HUB_LEASE_S=--lease-s`` (default 5 s, not 15) so that an outage
or a pause longer than the lease is a short one, and with HUB_MAX_CHUNKS_PER_ANSWER raised
so a long run does not fill the answers.

Counted afterwards, per interview, from Redis: ``lost`` (acked, not stored), ``duplicated``
(a (q, seq) stored twice), ``reordered`` (a seq stored after a higher one), ``corrupted``;
from the clients: closes by code (and the refusal that came before), taken_over messages,
failed joins; per fault: time to recover, from the fault's end to the first ack of a chunk
typed after it (``first``: the first candidate; ``all``: the last one), and whether
/healthz was 200 again. With ``--durability write`` a chunk acked in the 2 s before a
redis-kill may be lost (Redis writes its append-only file before it answers, but fsyncs it
once a second, and postpones even the write while a slow fsync runs): such losses are
counted apart, in ``lost_allowed_by_write_durability``; a kill of the process alone does
not lose what the kernel has. ``--durability fsync`` starts Redis with ``appendfsync
always`` and the hubs with HUB_DURABILITY=fsync: nothing acked may be lost.

A candidate whose chunks are still unacked after the drain (``--drain-timeout``) is
``stuck``: ``stuck_samples`` shows its client (socket, outbox, last messages, its seq_gap
resends) and a fault row whose recovery wait ran out shows the same under ``stuck``.

The last line printed is one JSON object. Exit status 1 when a chunk was lost (beyond what
write durability allows), duplicated, reordered or corrupted, a typed chunk was never acked,
a candidate saw 4002 or taken_over, or a client's reconnect loop died; 2 when the run
failed. Traffic stays on 127.0.0.0/8; the run stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from array import array
from bisect import bisect_left
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from client.candidate import CandidateClient, JoinRefused
from loadtests.bench import DEFAULT_MASTER_KEYS, DEFAULT_SECRET, free_port, percentile
from loadtests.faults import FaultProxy
from loadtests.interviews import check_chunks, create_interviews, payload
from loadtests.processes import HubProcess, log_problems, parse_cpus, tracebacks
from protocol.closecodes import CANDIDATE_FINAL, CANDIDATE_WAITS_FOR_ACTIVITY, CloseCode
from protocol.messages import ChunkAcked, Refused, TakenOver
from server.store import Store
from server.store.embedded import EmbeddedRedis, find_redis_server

FAULT_KINDS = (
    "redis-rst",
    "redis-outage",
    "redis-restart",
    "redis-kill",
    "client-rst",
    "client-blackhole",
    "hub-stop",
    "hub-kill",
)
CLIENT_FAULTS = ("client-rst", "client-blackhole")
# closes after which a client does not reconnect by itself (SPEC §13)
FINAL_CLOSES = {
    *CANDIDATE_FINAL,
    *CANDIDATE_WAITS_FOR_ACTIVITY,  # the bench's candidates never come back from idle
}
WRITE_DURABILITY_WINDOW_S = 2.0  # acked this long before a Redis kill: write may lose it
QUESTION = 0  # each interview has one question, without a time limit


# --- a candidate: the reference client, and the loop around it a real client has -----------


class ResumingClient(CandidateClient):
    """The reference client, plus what a real one keeps: chunks typed while offline go to
    the outbox only (they are resent after the next join), and when each ack came."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ack_times = array("d")  # monotonic time of each rise of the acked seq
        self.ack_tops = array("q")  # the acked seq it rose to
        self.resends: list[str] = []  # what each seq_gap resend sent (the last few)

    def queue_text(self, data: str) -> int:
        """Keep a chunk typed while offline; the next join resends it."""
        seq = self.next_seq.get(QUESTION, 1)
        self.next_seq[QUESTION] = seq + 1
        self.outbox[(QUESTION, seq)] = data
        return seq

    async def _resend_from(self, expected_seq: int) -> None:
        ws, before = self.ws, len(self.outbox)
        seqs = [seq for (q, seq) in self.outbox if q == QUESTION and seq >= expected_seq]
        await super()._resend_from(expected_seq)
        self.resends = [
            *self.resends[-4:],
            f"gap {expected_seq}: outbox {before}, resent {len(seqs)} "
            f"({seqs[0] if seqs else '-'}..{seqs[-1] if seqs else '-'}), "
            f"same socket {ws is self.ws}, socket open {getattr(ws, 'state', None)}",
        ]

    def _on_ack(self, ack: ChunkAcked) -> None:
        before = self.acked.get(ack.q, 0)
        super()._on_ack(ack)
        if self.acked.get(ack.q, 0) > before:
            self.ack_times.append(time.monotonic())
            self.ack_tops.append(self.acked[ack.q])

    async def wait_closed(self) -> None:
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(self._reader)

    def acked_at(self, seq: int) -> float | None:
        """When an ack first covered ``seq``."""
        i = bisect_left(self.ack_tops, seq)
        return self.ack_times[i] if i < len(self.ack_tops) else None


@dataclass
class Candidate:
    iv: str
    home: int  # the hub of its first join
    client: ResumingClient
    sent_t: array[float] = field(default_factory=lambda: array("d", [0.0]))  # by seq: typed
    ready: bool = False  # joined, its outbox resent: new chunks go straight out
    final: int | None = None  # a close after which it does not reconnect
    joins: int = 0
    hops: int = 0  # join attempts so far: the next goes to hub (home + hops) % hubs
    closes: Counter[str] = field(default_factory=Counter)  # "code" or "code reason"
    join_failures: Counter[str] = field(default_factory=Counter)
    loop_error: str = ""  # the reconnect loop died of this (a client bug): nobody reconnects

    def state(self) -> dict[str, Any]:
        """What a stuck candidate's client looks like, for the report."""
        client = self.client
        reader = client._reader
        reader_error = ""
        if reader is not None and reader.done() and not reader.cancelled():
            reader_error = repr(reader.exception())
        return {
            "interview": self.iv,
            "url": client.url,
            "ready": self.ready,
            "socket_state": str(getattr(client.ws, "state", None)),
            "close_code": client.close_code,
            "reader_done": bool(reader and reader.done()),
            "reader_error": reader_error[:300],
            "loop_error": self.loop_error,
            "acked": client.acked.get(QUESTION, 0),
            "typed": len(self.sent_t) - 1,
            "outbox": len(client.outbox),
            "last_messages": [
                f"{type(m).__name__} {getattr(m, 'reason', '')} seq {getattr(m, 'seq', '')}"
                f" expected {getattr(m, 'expected_seq', '')} acked {getattr(m, 'acked_seq', '')}"
                for m in client.received[-8:]
            ],
            "resends": client.resends,
        }

    def first_typed_after(self, t: float) -> int | None:
        seq = bisect_left(self.sent_t, t, lo=1)
        return seq if seq < len(self.sent_t) else None


def backoff_s(attempt: int) -> float:
    """Full jitter over 0.1 s doubling to 2 s: many clients do not come back in step."""
    return random.uniform(0.05, min(2.0, 0.1 * 2 ** max(0, attempt - 1)))


class Candidates:
    def __init__(self, args: argparse.Namespace, made: list[dict[str, Any]], urls: list[str]):
        self.args = args
        self.urls = urls
        self.cands = [
            Candidate(
                m["interview_id"],
                i % len(urls),
                ResumingClient(urls[i % len(urls)], m["token"], m["identity"], f"fault-{i}"),
            )
            for i, m in enumerate(made)
        ]
        self.stopping = False
        self.loop_lag_max_ms = 0.0
        self._tasks: list[asyncio.Task[None]] = []

    async def join_all(self) -> None:
        sem = asyncio.Semaphore(32)

        async def first(c: Candidate) -> None:
            async with sem:
                await c.client.join()
                c.joins, c.ready = 1, True

        await asyncio.gather(*(first(c) for c in self.cands))
        self._tasks = [asyncio.create_task(self._watched(c)) for c in self.cands]
        self._tasks.append(asyncio.create_task(self._watch_loop()))

    async def _watched(self, c: Candidate) -> None:
        try:
            await self._keep_connected(c)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # counted as a failure of the client, not the hub
            c.loop_error = f"{type(exc).__name__}: {exc}"[:300]
            raise

    async def _keep_connected(self, c: Candidate) -> None:
        """Wait for the socket to close; unless the close is final, back off and join
        again (on the next hub), until the run stops."""
        client = c.client
        attempt = 0
        while True:
            if c.ready:
                await client.wait_closed()
                c.ready = False
                if self.stopping:
                    return
                last = client.received[-1] if client.received else None
                code = client.close_code
                reason = f" {last.reason}" if isinstance(last, Refused) and last.fatal else ""
                c.closes[f"{code}{reason}"] += 1
                if code in FINAL_CLOSES:
                    c.final = code
                    return
            attempt += 1
            await asyncio.sleep(backoff_s(attempt))
            if self.stopping:
                return
            c.hops += 1
            client.url = self.urls[(c.home + c.hops) % len(self.urls)]
            try:
                await asyncio.wait_for(client.join(), self.args.join_timeout)
            except JoinRefused as exc:
                c.join_failures[f"refused {exc.reason}"] += 1
                if client.close_code in FINAL_CLOSES:
                    c.closes[f"{client.close_code} {exc.reason}"] += 1
                    c.final = client.close_code
                    return
            except Exception as exc:  # no answer, a reset, a closed socket: try again
                c.join_failures[type(exc).__name__] += 1
                with contextlib.suppress(Exception):
                    await client.drop()
            else:
                c.joins += 1
                c.ready = True
                attempt = 0

    async def stream(self, until: asyncio.Event) -> None:
        """Type a chunk every 1/rate s per candidate (offsets spread over one interval)."""
        interval = 1.0 / self.args.rate
        t0 = time.monotonic() + 0.5
        n = len(self.cands)

        async def one(slot: int, c: Candidate) -> None:
            k = 0
            while not until.is_set() and c.final is None:
                due = t0 + interval * (k + slot / n)
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                k += 1
                seq = c.client.next_seq.get(QUESTION, 1)
                data = payload(c.iv, QUESTION, seq)
                c.sent_t.append(time.monotonic())
                if c.ready:
                    got = await c.client.send_text(data)
                else:
                    got = c.client.queue_text(data)
                assert got == seq == len(c.sent_t) - 1

        await asyncio.gather(*(one(i, c) for i, c in enumerate(self.cands)))

    def all_recovered_after(self, t: float) -> bool:
        """Every candidate still in the run has an ack for a chunk typed after ``t``."""
        for c in self.cands:
            if c.final is not None:
                continue
            seq = c.first_typed_after(t)
            if seq is None or c.client.acked.get(QUESTION, 0) < seq:
                return False
        return True

    def drained(self) -> bool:
        return all(c.final is not None or not c.client.outbox for c in self.cands)

    async def _watch_loop(self) -> None:
        """How late this process's loop runs (a starved generator delays its own pings)."""
        while True:
            t = time.monotonic()
            await asyncio.sleep(0.1)
            lag = (time.monotonic() - t - 0.1) * 1000
            self.loop_lag_max_ms = max(self.loop_lag_max_ms, lag)

    async def close(self) -> None:
        self.stopping = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

        async def bye(c: Candidate) -> None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(c.client.close(), 5)

        await asyncio.gather(*(bye(c) for c in self.cands))


# --- the system under test, and the faults -------------------------------------------------


@dataclass
class Fault:
    kind: str
    detail: str
    start: float  # monotonic
    end: float = 0.0
    healthz_s: float | None = None  # fault end -> every hub answered /healthz with 200
    recovered_s: float | None = None  # fault end -> every candidate had a fresh ack
    extra: dict[str, Any] = field(default_factory=dict)
    stuck: list[dict[str, Any]] = field(default_factory=list)  # not recovered in time


class System:
    """redis-server, its proxy, the hubs and their proxies, all started for one run."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="ihub-faults-"))
        self.redis = EmbeddedRedis(
            self.tmp / "redis",
            port=free_port(),
            fsync_always=args.durability == "fsync",
            server_binary=args.redis_server,
        )
        self.redis_proxy: FaultProxy | None = None
        self.hubs: list[HubProcess] = []
        self.client_proxies: list[FaultProxy] = []
        self.redis_version = ""

    def start(self) -> None:
        a = self.args
        self.redis.start()
        self.redis_version = self.redis.version()
        self.redis_proxy = FaultProxy(self.redis.port).start()
        env = {
            "HUB_MAX_CONNECTIONS_PER_IP": "0",  # every simulated candidate is 127.0.0.1
            "HUB_MAX_WAITING_CONNECTIONS_PER_IP": "0",  # and they reconnect all at once
            "HUB_HUB_LEASE_S": str(a.lease_s),
            "HUB_DURABILITY": a.durability,
            "HUB_KEY_DIR": str(self.tmp / "keys"),  # hubs on one Redis share their keys
            "HUB_MAX_CHUNKS_PER_ANSWER": "1000000",
        }
        self.hubs = [
            HubProcess(
                port=free_port(),
                redis_url=self.redis_proxy.url,
                secret=DEFAULT_SECRET,
                master_keys=DEFAULT_MASTER_KEYS,
                data_dir=self.tmp / f"hub{i}",
                log_path=self.tmp / f"hub{i}.log",
                cpus=a.hub_cpu,
                env=env,
            )
            for i in range(a.hubs)
        ]
        with ThreadPoolExecutor(len(self.hubs)) as starting:  # each waits for its /healthz
            list(starting.map(HubProcess.start, self.hubs))
        if a.client_proxy:
            self.client_proxies = [FaultProxy(h.port).start() for h in self.hubs]

    @property
    def candidate_urls(self) -> list[str]:
        if self.client_proxies:
            return [f"ws://127.0.0.1:{p.port}/ws/candidate" for p in self.client_proxies]
        return [h.ws_url for h in self.hubs]

    def restart_redis(self, kill: bool) -> None:
        """SIGKILL or SIGTERM (a clean shutdown: it writes its files), then start it again
        on the same port and files."""
        process = self.redis.process
        assert process is not None
        if kill:
            self.redis.kill()
        else:
            process.send_signal(signal.SIGTERM)
            process.wait(30)
        self.redis.start(timeout_s=60)

    def stop(self) -> None:
        for hub in self.hubs:
            hub.stop()
        for proxy in [*self.client_proxies, self.redis_proxy]:
            if proxy is not None:
                proxy.stop()
        self.redis.stop()
        if self.args.keep_tmp:
            print(f"logs kept in {self.tmp}", file=sys.stderr)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


def schedule(args: argparse.Namespace) -> list[tuple[str, float]]:
    """One round: (kind, seconds) for each selected kind and each of its lengths."""
    lengths = {
        "redis-outage": args.outage_s,
        "client-blackhole": args.blackhole_s,
        "hub-stop": args.pause_s,
    }
    return [(kind, s) for kind in args.faults for s in lengths.get(kind, [0.0])]


class FaultRun:
    def __init__(self, args: argparse.Namespace, system: System, cands: Candidates) -> None:
        self.args = args
        self.system = system
        self.cands = cands
        self.faults: list[Fault] = []
        self.count: Counter[str] = Counter()
        self.http = httpx.AsyncClient(timeout=2.0)

    async def all_healthy(self) -> bool:
        async def one(hub: HubProcess) -> bool:
            try:
                return (await self.http.get(hub.http + "/healthz")).status_code == 200
            except httpx.HTTPError:
                return False

        return all(await asyncio.gather(*(one(h) for h in self.system.hubs)))

    async def inject(self, kind: str, seconds: float) -> Fault:
        s = self.system
        n = self.count[kind]
        self.count[kind] += 1
        hub = s.hubs[n % len(s.hubs)]
        now = time.monotonic
        if kind == "redis-rst":
            assert s.redis_proxy is not None
            fault = Fault(kind, "", now())
            fault.extra["connections"] = await asyncio.to_thread(s.redis_proxy.reset)
        elif kind == "redis-outage":
            assert s.redis_proxy is not None
            fault = Fault(kind, f"{seconds:g} s", now())
            s.redis_proxy.refuse(True)
            await asyncio.to_thread(s.redis_proxy.reset)
            await asyncio.sleep(seconds)
            s.redis_proxy.refuse(False)
        elif kind in ("redis-restart", "redis-kill"):
            fault = Fault(kind, "", now())
            await asyncio.to_thread(s.restart_redis, kind == "redis-kill")
            fault.extra["down_s"] = round(now() - fault.start, 3)
        elif kind == "client-rst":
            fault = Fault(kind, "", now())
            fault.extra["connections"] = sum(
                [await asyncio.to_thread(p.reset) for p in s.client_proxies]
            )
        elif kind == "client-blackhole":
            fault = Fault(kind, f"{seconds:g} s", now())
            for p in s.client_proxies:
                await asyncio.to_thread(p.blackhole, True)
            await asyncio.sleep(seconds)
            for p in s.client_proxies:
                await asyncio.to_thread(p.blackhole, False)
        elif kind == "hub-stop":
            fault = Fault(kind, f"hub {s.hubs.index(hub)} for {seconds:g} s", now())
            hub.pause()
            await asyncio.sleep(seconds)
            hub.resume()
        elif kind == "hub-kill":
            fault = Fault(kind, f"hub {s.hubs.index(hub)}", now())
            hub.kill()
            fault.end = now()
            await asyncio.to_thread(hub.start)
            fault.extra["restart_s"] = round(now() - fault.end, 3)
        else:  # pragma: no cover - parse_args allows only FAULT_KINDS
            raise ValueError(kind)
        fault.end = fault.end or now()
        return fault

    async def recover(self, fault: Fault) -> None:
        """Wait (bounded) until every hub is healthy and every candidate acked afresh."""
        deadline = fault.end + self.args.recover_timeout
        while time.monotonic() < deadline:
            if fault.healthz_s is None and await self.all_healthy():
                fault.healthz_s = time.monotonic() - fault.end
            if fault.recovered_s is None and self.cands.all_recovered_after(fault.end):
                fault.recovered_s = time.monotonic() - fault.end
            if fault.healthz_s is not None and fault.recovered_s is not None:
                return
            await asyncio.sleep(0.1)
        # not recovered in time: how the candidates that are not look now (their clients,
        # and what Redis says of their interviews)
        late = [c for c in self.cands.cands if c.final is None and not self._fresh(c, fault.end)]
        store = Store.from_url(self.system.redis.url)
        try:
            rows = await store.states_and_sessions([c.iv for c in late[:5]])
            for c, (state, session) in zip(late[:5], rows, strict=True):
                fault.stuck.append({**c.state(), "redis_state": state, "session": session})
        finally:
            await store.close()

    @staticmethod
    def _fresh(c: Candidate, t: float) -> bool:
        seq = c.first_typed_after(t)
        return seq is not None and c.client.acked.get(QUESTION, 0) >= seq

    async def run(self) -> None:
        started = time.monotonic()
        plan = schedule(self.args)
        rounds = 0
        while rounds == 0 or time.monotonic() - started < self.args.duration:
            for kind, seconds in plan:
                if rounds and time.monotonic() - started >= self.args.duration:
                    break
                await asyncio.sleep(self.args.gap)
                print(f"  {time.monotonic() - started:6.1f} s  {kind} {seconds or ''}", flush=True)
                fault = await self.inject(kind, seconds)
                self.faults.append(fault)
                await self.recover(fault)
            rounds += 1
        await asyncio.sleep(self.args.gap)
        await self.http.aclose()


# --- the run -------------------------------------------------------------------------------


async def run_async(args: argparse.Namespace, system: System) -> dict[str, Any]:
    made = await create_interviews(
        system.redis.url, DEFAULT_SECRET, args.candidates, master_keys=DEFAULT_MASTER_KEYS
    )
    cands = Candidates(args, made, system.candidate_urls)
    await cands.join_all()
    print(f"{len(made)} candidates joined; faults: {', '.join(args.faults)}", flush=True)
    stop_typing = asyncio.Event()
    typing = asyncio.create_task(cands.stream(stop_typing))
    faults = FaultRun(args, system, cands)
    t0 = time.monotonic()
    try:
        await faults.run()
    finally:
        stop_typing.set()
        await typing
    schedule_s = time.monotonic() - t0
    deadline = time.monotonic() + args.drain_timeout
    while not cands.drained() and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    # candidates with chunks never acked: how their clients look, before they are closed
    stuck = [c.state() for c in cands.cands if c.client.outbox and c.final is None]
    await cands.close()
    acked = {c.iv: {QUESTION: c.client.acked.get(QUESTION, 0)} for c in cands.cands}
    check = await check_chunks(
        system.redis.url, acked, master_keys=DEFAULT_MASTER_KEYS, list_missing=True
    )
    return summarise(args, system, cands, faults.faults, check, schedule_s, stuck)


def recovery_of(
    cands: Candidates, fault: Fault
) -> tuple[float | None, float | None, list[Candidate]]:
    """Fault end -> the first ack of a chunk typed after it: (first candidate, last
    candidate, candidates that never got one)."""
    times: list[float] = []
    never: list[Candidate] = []
    for c in cands.cands:
        seq = c.first_typed_after(fault.end)
        if seq is None:
            continue  # it typed nothing after this fault (the run ended, or it left)
        at = c.client.acked_at(seq)
        if at is None:
            never.append(c)
        else:
            times.append(at - fault.end)
    if not times:
        return None, None, never
    return min(times), max(times), never


def summarise(
    args: argparse.Namespace,
    system: System,
    cands: Candidates,
    faults: list[Fault],
    check: dict[str, Any],
    schedule_s: float,
    stuck: list[dict[str, Any]],
) -> dict[str, Any]:
    by_iv = {c.iv: c for c in cands.cands}
    kills = [f.start for f in faults if f.kind == "redis-kill"]
    allowed = 0
    if args.durability == "write":
        for iv, per_q in check["missing"].items():
            for seq in per_q.get(QUESTION, []):
                at = by_iv[iv].client.acked_at(seq)
                if at is not None and any(k - WRITE_DURABILITY_WINDOW_S <= at <= k for k in kills):
                    allowed += 1
    lost = check["lost"] - allowed
    closes: Counter[str] = Counter()
    join_failures: Counter[str] = Counter()
    for c in cands.cands:
        closes.update(c.closes)
        join_failures.update(c.join_failures)
    close_codes: Counter[str] = Counter()
    for what, n in closes.items():
        close_codes[what.split(" ", 1)[0]] += n
    taken_over = sum(1 for c in cands.cands for m in c.client.received if isinstance(m, TakenOver))
    sent = sum(len(c.sent_t) - 1 for c in cands.cands)
    acked = sum(c.client.acked.get(QUESTION, 0) for c in cands.cands)

    rows = []
    per_kind: dict[str, dict[str, list[float]]] = {}
    for f in faults:
        first, last, never_got = recovery_of(cands, f)
        never = len(never_got)
        rows.append(
            {
                "kind": f.kind,
                "detail": f.detail,
                "at_s": round(f.start - faults[0].start, 1),
                "lasted_s": round(f.end - f.start, 2),
                "recover_first_s": None if first is None else round(first, 3),
                "recover_all_s": None if last is None else round(last, 3),
                "never_recovered": never,
                "healthz_200": f.healthz_s is not None,
                "healthz_s": None if f.healthz_s is None else round(f.healthz_s, 2),
                **f.extra,
                **({"stuck": f.stuck} if f.stuck else {}),
            }
        )
        k = per_kind.setdefault(f.kind, {"first": [], "all": [], "healthz": [], "bad": []})
        if first is not None and last is not None:
            k["first"].append(first)
            k["all"].append(last)
        k["healthz"].append(0.0 if f.healthz_s is None else 1.0)
        k["bad"].append(float(never))
    recovery = {
        kind: {
            "faults": len(v["healthz"]),
            "first_p50_s": round(percentile(sorted(v["first"]), 50), 3),
            "first_max_s": round(max(v["first"], default=0.0), 3),
            "all_p50_s": round(percentile(sorted(v["all"]), 50), 3),
            "all_max_s": round(max(v["all"], default=0.0), 3),
            "healthz_200_after_every_fault": all(v["healthz"]),
            "never_recovered": int(sum(v["bad"])),
        }
        for kind, v in per_kind.items()
    }
    texts = [h.log_text() for h in system.hubs]
    problems = [line for t in texts for line in log_problems(t)[0]]
    traces = [line for t in texts for line in tracebacks(t)]
    return {
        "candidates": args.candidates,
        "rate": args.rate,
        "hubs": args.hubs,
        "durability": args.durability,
        "lease_s": args.lease_s,
        "redis_version": system.redis_version,
        "client_proxy": bool(system.client_proxies),
        "faults_selected": args.faults,
        "faults_injected": len(faults),
        "schedule_s": round(schedule_s, 1),
        "sent": sent,
        "acked": acked,
        "unacked": sent - acked,
        "stored": check["stored"],
        "lost": lost,
        "lost_allowed_by_write_durability": allowed,
        "duplicated": check["duplicated"],
        "reordered": check["reordered"],
        "corrupted": check["corrupted"],
        "stored_unacked": check["stored_unacked"],
        "check_problems": check["problems"][:5],
        "closes_by_code": dict(sorted(close_codes.items())),
        "closes": dict(sorted(closes.items())),
        "closes_4002": close_codes.get(str(int(CloseCode.TAKEN_OVER)), 0),
        "taken_over_messages": taken_over,
        "joins": sum(c.joins for c in cands.cands),
        "join_failures": dict(sorted(join_failures.items())),
        "candidates_gone": sum(1 for c in cands.cands if c.final is not None),
        "client_loop_errors": sum(1 for c in cands.cands if c.loop_error),
        "stuck_candidates": len(stuck),
        "stuck_samples": stuck[:5],
        "recovery": recovery,
        "faults": rows,
        "loop_lag_max_ms": round(cands.loop_lag_max_ms, 1),
        "hub_restarts": sum(h.starts - 1 for h in system.hubs),
        "hub_tracebacks": len(traces),
        "hub_traceback_samples": traces[:5],
        "hub_log_problems": len(problems),
        "hub_cpu_pinned": args.hub_cpu,
        "load_cpu_pinned": args.load_cpu,
    }


def print_human(s: dict[str, Any]) -> None:
    print(
        f"\n== interview-hub fault bench: {s['candidates']} candidates x {s['rate']}/s, "
        f"{s['hubs']} hub(s), durability {s['durability']}, lease {s['lease_s']} s, "
        f"Redis {s['redis_version']}; {s['faults_injected']} faults in {s['schedule_s']} s"
    )
    print(
        f"chunks    : typed {s['sent']}, acked {s['acked']}, stored {s['stored']}; "
        f"lost {s['lost']}, duplicated {s['duplicated']}, reordered {s['reordered']}, "
        f"corrupted {s['corrupted']} (lost but allowed by write durability "
        f"{s['lost_allowed_by_write_durability']})"
    )
    print(
        f"clients   : closes {s['closes_by_code']}, 4002 {s['closes_4002']}, taken_over "
        f"{s['taken_over_messages']}, joins {s['joins']}, failed joins "
        f"{sum(s['join_failures'].values())}"
    )
    for kind, r in s["recovery"].items():
        print(
            f"{kind:<17} x{r['faults']}: recover first p50 {r['first_p50_s']} s "
            f"max {r['first_max_s']} s; all p50 {r['all_p50_s']} s max {r['all_max_s']} s; "
            f"healthz 200 after each: {r['healthz_200_after_every_fault']}"
        )
    print(f"hub logs  : {s['hub_tracebacks']} tracebacks, {s['hub_log_problems']} warnings")


def parse_lengths(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m loadtests.fault_bench",
        description="Stream chunks through repeated hub, Redis and network faults; count "
        "what was lost, duplicated or reordered and how long recovery took.",
    )
    p.add_argument("--candidates", type=int, default=50)
    p.add_argument("--rate", type=float, default=10.0, help="chunks per second per candidate")
    p.add_argument(
        "--duration", type=float, default=120.0, help="seconds of faults (at least one round)"
    )
    p.add_argument("--hubs", type=int, default=2, choices=(1, 2))
    p.add_argument(
        "--faults",
        default=",".join(FAULT_KINDS),
        help=f"comma-separated kinds, in order (default all: {','.join(FAULT_KINDS)})",
    )
    p.add_argument("--outage-s", default="2,8,14", help="redis-outage lengths, seconds")
    p.add_argument("--blackhole-s", default="3,15", help="client-blackhole lengths, seconds")
    p.add_argument("--pause-s", default="3,8", help="hub-stop lengths, seconds")
    p.add_argument("--lease-s", type=float, default=5.0, help="the hubs' HUB_HUB_LEASE_S")
    p.add_argument("--durability", choices=("write", "fsync"), default="write")
    p.add_argument("--gap", type=float, default=3.0, help="quiet seconds before each fault")
    p.add_argument("--recover-timeout", type=float, default=60.0)
    p.add_argument("--join-timeout", type=float, default=15.0)
    p.add_argument("--drain-timeout", type=float, default=60.0)
    p.add_argument("--redis-server", default="", help="redis-server binary (default: PATH's)")
    p.add_argument("--no-client-proxy", action="store_true", help="candidates go straight in")
    p.add_argument("--hub-cpu", help="CPU list for the hubs (default 0 on 2+ cores)")
    p.add_argument("--load-cpu", help="CPU list for redis, proxies, candidates (default 1)")
    p.add_argument("--no-pin", action="store_true", help="pin nothing")
    p.add_argument("--keep-tmp", action="store_true", help="keep the temp dir (hub logs)")
    args = p.parse_args(argv)
    args.faults = [k.strip() for k in args.faults.split(",") if k.strip()]
    unknown = sorted(set(args.faults) - set(FAULT_KINDS))
    if unknown or not args.faults:
        p.error(f"unknown fault kinds {unknown}; known: {', '.join(FAULT_KINDS)}")
    args.outage_s = parse_lengths(args.outage_s)
    args.blackhole_s = parse_lengths(args.blackhole_s)
    args.pause_s = parse_lengths(args.pause_s)
    if args.candidates < 1 or args.rate <= 0 or args.duration < 0:
        p.error("--candidates and --rate must be positive")
    args.client_proxy = not args.no_client_proxy
    if args.no_client_proxy and set(args.faults) & set(CLIENT_FAULTS):
        p.error("client faults need the client proxy")
    args.redis_server = args.redis_server or find_redis_server()
    online = sorted(os.sched_getaffinity(0))
    if args.no_pin or len(online) < 2:
        args.hub_cpu = args.load_cpu = None
    else:
        args.hub_cpu = args.hub_cpu or str(online[0])
        args.load_cpu = args.load_cpu or str(online[1])
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    if args.load_cpu:
        # this process (its proxy threads, started later) and redis-server inherit it
        os.sched_setaffinity(0, parse_cpus(args.load_cpu))
    system = System(args)
    try:
        system.start()
        print(
            f"hubs {[h.port for h in system.hubs]} on cpu {args.hub_cpu or 'any'}; redis "
            f"{system.redis_version} :{system.redis.port} (via proxy); load on cpu "
            f"{args.load_cpu or 'any'}",
            flush=True,
        )
        summary = asyncio.run(run_async(args, system))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        system.stop()
        return 2
    except Exception as exc:
        print(f"fault bench failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        for hub in system.hubs:
            print(f"  hub {hub.port}: {hub.log_tail(1500)}", file=sys.stderr)
        system.stop()
        return 2
    system.stop()
    print_human(summary)
    print(json.dumps(summary, ensure_ascii=False), flush=True)
    failed = (
        *("lost", "duplicated", "reordered", "corrupted", "unacked"),
        *("closes_4002", "taken_over_messages", "client_loop_errors"),
    )
    return 1 if any(summary[k] for k in failed) else 0


if __name__ == "__main__":
    raise SystemExit(main())
