"""Benchmark harness: N candidates stream answer chunks at R chunks/s for S seconds.

    python -m loadtests.bench --candidates 500 --rate 10 --duration 30
    python -m loadtests.bench --candidates 2000 --rate 5 --duration 60 --procs 2
    python -m loadtests.bench --url ws://127.0.0.1:8000 --redis-url redis://127.0.0.1:6379/0 \\
        --secret "$HUB_SECRET" --master-keys "$HUB_MASTER_KEYS" \\
        --hub-pid "$(pgrep -f 'server.cli serve')" ...

Without ``--url`` it starts its own redis-server (TCP, 127.0.0.1, a temporary directory)
and its own hub (``python -m server.cli serve``), pinned with taskset: by default the hub
on CPU 0, redis-server and the load generator on CPU 1 (machines with 2+ cores). With
``--url`` it drives a running hub and needs the hub's Redis (``--redis-url``), secret
(``--secret``) and master keys (``--master-keys``) to create interviews and open what they
stored; hub CPU is measured only with ``--hub-pid``.

Each candidate joins its own interview (one question, no time limit) over a raw
``websockets`` client, then sends R chunks/s of ~40 bytes of text; start offsets are spread
evenly over one send interval. Latency is chunk -> the first (cumulative) ack covering it.
After the run it waits (bounded) for outstanding acks, then counts in Redis, per
interview: ``lost`` (acked but not in the chunk stream), ``duplicated`` (same (q, seq)
stored more than once) and ``corrupted`` (stored data differs from what was sent).

HR monitors (``--monitors-per K``, default 10; 0: none): before streaming, the bench creates
an organisation and an admin user in Redis (unique names; the interviews belong to that
organisation), logs in over HTTP and opens ceil(N/K) monitor sockets (/ws/monitor), each
watching its K candidates' interviews (one Watch each, from offset 0). A monitor lives in the
generator process of its candidates, so chunk -> monitor latency (the candidate sent the
chunk -> the monitor received its LiveChunk, matched by interview, q and seq) uses one
clock. After the acks it waits (bounded, ``--monitor-wait``) for the monitors to receive
every acked chunk: ``monitor_missing`` are acked chunks no monitor received by then,
``monitor_duplicates`` chunks received twice.

After streaming (``--end-sample M``, default 10 % of the candidates, at least 1; 0: none),
with ``--end-concurrency`` (default 20) operations in flight at a time over all processes:
HR ends M interviews (POST /api/hr/interviews/{id}/end) while the candidate socket is open:
end -> candidate (request sent -> ``ended`` received) and end -> monitor (request sent ->
LiveEvent "ended"); then M other candidates send RequestExit, wait for the preview, and
ConfirmExit: exit -> monitor (ConfirmExit sent -> LiveEvent "exited"). Ends run first,
exits after them. Each one waits at most ``--end-timeout``; what never arrives is counted
as a failure.

Hub CPU is utime+stime of the hub process from /proc, read just before streaming starts
and after the outstanding acks arrived (the monitor wait and the end/exit sample come after
that). The last line printed is one JSON object. Exit status: 0; 1 when a chunk was lost,
duplicated or corrupted in Redis, missed or duplicated by a monitor, or an end/exit failed;
2 when the run failed. ``hub_stop_s`` / ``hub_killed``: how long the hub took to exit on
SIGTERM, and whether it had to be killed after 15 s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import multiprocessing as mp
import os
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import time
import traceback
from array import array
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

import httpx
import websockets

from client.monitor import login
from loadtests.interviews import check_chunks, create_interviews, held_sessions, now_ms, payload
from loadtests.processes import HubProcess, log_problems, parse_cpus, pin_all_threads
from protocol import MONITOR_SUBPROTOCOL, SUBPROTOCOL
from protocol.closecodes import CloseCode
from protocol.codec import decode_monitor_server, decode_server, encode
from protocol.messages import (
    Authenticate,
    Behind,
    ChunkAcked,
    ConfirmExit,
    Ended,
    Exited,
    ExitPreviewed,
    Join,
    Joined,
    LiveChunk,
    LiveEvent,
    MonitorReady,
    QuestionStarted,
    Refused,
    RequestExit,
    SendChunk,
    Watch,
    Watching,
)
from server.accounts import Accounts
from server.store import Store
from server.store.embedded import EmbeddedRedis

ROOT = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
# a throwaway secret and keyring for the hub this starts (the hub refuses weak ones)
DEFAULT_SECRET = "9c0f3e7a5d2b8146e1f0a7c3b5d9e2f48a6c1b7d3e5f0a9c2b4d6e8f1a3c5b7d"
DEFAULT_MASTER_KEYS = "bench:n19-zmo7jaSrKOFR2fGx79SIIXhVvelmwiEWl2KhCGQ"


# --- small helpers ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proc_cpu_s(pid: int | None) -> float | None:
    """utime+stime of a process (all its threads) in seconds; None if unreadable."""
    if not pid:
        return None
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state); utime is field 14, stime field 15
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def percentile(sorted_values: Any, p: float) -> float:
    """Nearest-rank percentile of an already sorted sequence (0 when empty)."""
    n = len(sorted_values)
    if not n:
        return 0.0
    rank = max(1, min(n, int(-(-p * n // 100))))  # ceil(p/100 * n)
    return float(sorted_values[rank - 1])


def ws_url(url: str) -> str:
    """ws://host:port -> ws://host:port/ws/candidate (a given path is kept)."""
    scheme, _, rest = url.partition("://")
    if "/" not in rest:
        return f"{scheme}://{rest}/ws/candidate"
    return url


def hub_base(url: str) -> tuple[str, str]:
    """ws://host:port/... -> (http://host:port, ws://host:port/ws/monitor)."""
    scheme, _, rest = url.partition("://")
    host = rest.split("/", 1)[0]
    http = "https" if scheme == "wss" else "http"
    return f"{http}://{host}", f"{scheme}://{host}/ws/monitor"


def stats(values: Any) -> dict[str, float]:
    """p50/p99/max of a sequence of milliseconds, rounded."""
    v = sorted(values)
    return {
        "p50": round(percentile(v, 50), 2),
        "p99": round(percentile(v, 99), 2),
        "max": round(v[-1], 2) if v else 0.0,
    }


# --- the generator (one per process) --------------------------------------------------------


@dataclass
class GenConfig:
    url: str
    candidates: list[dict[str, Any]]  # {interview_id, token, identity, slot}
    total_candidates: int
    rate: float
    duration: float
    drain_timeout: float
    join_timeout: float
    join_concurrency: int
    cpus: list[int] | None
    use_uvloop: bool
    worker: int
    # HR side: monitors watching the candidates, and the end/exit sample after streaming
    http_base: str = ""
    monitor_url: str = ""
    hr_token: str = ""
    monitor_groups: list[list[str]] = field(default_factory=list)  # interview ids per socket
    monitor_wait: float = 10.0
    end_concurrency: int = 20
    end_timeout: float = 10.0


@dataclass
class Cand:
    iv: str
    token: str
    identity: str
    slot: int
    role: str = ""  # "end": HR ends it after streaming; "exit": the candidate exits
    ws: Any = None
    q: int = 0
    sent_t: list[float] = field(default_factory=lambda: [0.0])  # index = seq
    sent: int = 0
    acked: int = 0
    closed: bool = False
    close_code: int | None = None
    expected_close: int | None = None  # 4003 once ended, 4000 once exited on purpose
    reader: Any = None
    watched: bool = False  # a monitor socket is assigned to this interview
    seen: bytearray = field(default_factory=bytearray)  # index = seq: 1 once a monitor got it


@dataclass
class Mon:
    ivs: list[str]
    ws: Any = None
    reader: Any = None
    closing: bool = False
    close_code: int | None = None


class Generator:
    def __init__(self, cfg: GenConfig, pipe: Connection) -> None:
        self.cfg = cfg
        self.pipe = pipe
        self.cands = [
            Cand(c["interview_id"], c["token"], c["identity"], c["slot"], c.get("role", ""))
            for c in cfg.candidates
        ]
        self.by_iv = {c.iv: c for c in self.cands}
        n = round(cfg.rate * cfg.duration)
        for ivs in cfg.monitor_groups:
            for iv in ivs:
                self.by_iv[iv].watched = True
                self.by_iv[iv].seen = bytearray(n + 1)
        self.mons = [Mon(list(ivs)) for ivs in cfg.monitor_groups]
        # monitor side
        self.mon_lat = array("d")  # ms: candidate sent the chunk -> a monitor received it
        self.mon_chunks = 0
        self.mon_dups = 0
        self.mon_unexpected = 0
        self.mon_failures = 0  # monitor sockets that could not connect or authenticate
        self.watch_failures = 0
        self.stuck_monitors = 0  # sockets where a watch went unanswered
        self.mon_event_dups = 0
        self.mon_missing = 0
        self.mon_settle_s = 0.0
        # first time something was received: (interview id, what) -> monotonic time
        self.marks: dict[tuple[str, str], float] = {}
        self.waiters: dict[tuple[str, str], asyncio.Future[float]] = {}
        # end / exit sample
        self.end_cand = array("d")  # ms: end request sent -> candidate got `ended`
        self.end_mon = array("d")  # ms: end request sent -> monitor got LiveEvent "ended"
        self.end_http = array("d")  # ms: end request sent -> HTTP response
        self.exit_mon = array("d")  # ms: ConfirmExit sent -> monitor got LiveEvent "exited"
        self.exit_cand = array("d")  # ms: ConfirmExit sent -> candidate got `exited`
        self.end_counts = {
            "end_requests": 0,
            "end_http_failures": 0,
            "end_candidate_failures": 0,
            "end_monitor_failures": 0,
            "exit_requests": 0,
            "exit_preview_failures": 0,
            "exit_candidate_failures": 0,
            "exit_monitor_failures": 0,
        }
        self.latencies = array("d")  # ms
        self.lags = array("d")  # ms: actual send time - scheduled send time
        self.loop_lag_max_ms = 0.0
        self.acked_in_window = 0
        self.join_failures = 0
        self.join_ms = array("d")
        self.errors = 0
        self.error_samples: list[str] = []
        self.t0 = 0.0
        self.t_end = float("inf")
        self.streaming = False
        self.gen_cpu_s = 0.0
        self.drained = False

    def error(self, text: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 10:
            self.error_samples.append(text[:300])

    async def recv_cmd(self) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self.pipe.recv)

    async def run(self) -> None:
        cfg = self.cfg
        sem = asyncio.Semaphore(cfg.join_concurrency)

        async def join(c: Cand) -> None:
            async with sem:
                start = time.monotonic()
                try:
                    c.ws = await websockets.connect(
                        cfg.url,
                        subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
                        compression=None,
                        open_timeout=cfg.join_timeout,
                        close_timeout=5,
                        ping_interval=None,
                        max_size=2**20,
                    )
                    await c.ws.send(encode(Join(c.token, c.identity, f"bench-{cfg.worker}")))
                    first = decode_server(await asyncio.wait_for(c.ws.recv(), cfg.join_timeout))
                    if not isinstance(first, Joined):
                        reason = first.reason if isinstance(first, Refused) else first
                        raise RuntimeError(f"join refused: {reason}")
                    nxt = decode_server(await asyncio.wait_for(c.ws.recv(), cfg.join_timeout))
                    if not isinstance(nxt, QuestionStarted):
                        raise RuntimeError(f"expected question, got {nxt!r}")
                    c.q = nxt.q
                    c.acked = nxt.acked_seq
                except Exception as exc:
                    self.join_failures += 1
                    self.error(f"join {c.iv}: {type(exc).__name__}: {exc}")
                    c.closed = True
                    if c.ws is not None:
                        with contextlib.suppress(Exception):
                            await asyncio.wait_for(c.ws.close(), 2)
                    return
                self.join_ms.append((time.monotonic() - start) * 1000)
                c.reader = asyncio.create_task(self.read(c))

        await asyncio.gather(*(join(c) for c in self.cands))
        mon_sem = asyncio.Semaphore(16)

        async def open_bounded(m: Mon) -> None:
            async with mon_sem:
                await self.open_monitor(m)

        await asyncio.gather(*(open_bounded(m) for m in self.mons))
        self.pipe.send(("ready", len(self.cands) - self.join_failures))

        cmd = await self.recv_cmd()
        if cmd[0] != "go":
            return
        t0_wall = cmd[1]
        self.t0 = time.monotonic() + (t0_wall - time.time())
        self.t_end = self.t0 + cfg.duration
        monitor = asyncio.create_task(self.monitor_loop())
        cpu0 = time.process_time()
        self.streaming = True
        await asyncio.gather(*(self.stream(c) for c in self.cands))
        # wait (bounded) for acks still outstanding
        deadline = time.monotonic() + cfg.drain_timeout
        while time.monotonic() < deadline:
            if all(c.closed or c.acked >= c.sent for c in self.cands):
                break
            await asyncio.sleep(0.02)
        self.streaming = False
        self.gen_cpu_s = time.process_time() - cpu0
        monitor.cancel()
        self.pipe.send(("drained", time.time()))

        cmd = await self.recv_cmd()
        if cmd[0] == "close":
            await self.settle_monitors()
            await self.end_phase()
        await self.close_all()

    async def read(self, c: Cand) -> None:
        decode = decode_server
        lat = self.latencies
        sent_t = c.sent_t
        try:
            async for data in c.ws:
                if not isinstance(data, bytes):
                    self.error(f"{c.iv}: text frame")
                    continue
                msg = decode(data)
                if type(msg) is ChunkAcked:
                    now = time.monotonic()
                    if msg.q != c.q:
                        self.error(f"{c.iv}: ack for q{msg.q}, open q{c.q}")
                        continue
                    top = min(msg.seq, c.sent)
                    if msg.seq > c.sent:
                        self.error(f"{c.iv}: ack seq {msg.seq} > sent {c.sent}")
                    if top > c.acked:
                        for s in range(c.acked + 1, top + 1):
                            lat.append((now - sent_t[s]) * 1000)
                        if self.t0 <= now <= self.t_end:
                            self.acked_in_window += top - c.acked
                        c.acked = top
                elif type(msg) is Ended:
                    self.mark((c.iv, "ended"))
                    if c.expected_close != CloseCode.ENDED:
                        self.error(f"{c.iv}: ended by {msg.by!r} unexpectedly")
                    c.closed = True  # the hub closes with 4003 next
                elif type(msg) is Exited:
                    self.mark((c.iv, "exited"))
                    if c.expected_close != CloseCode.EXITED:
                        self.error(f"{c.iv}: exited unexpectedly")
                    c.closed = True  # the hub closes with 4000 next
                elif type(msg) is ExitPreviewed:
                    self.mark((c.iv, "exit_preview"))
                elif type(msg) is Refused:
                    self.error(f"{c.iv}: refused {msg.reason} ({msg.refused_type})")
                else:
                    self.error(f"{c.iv}: unexpected {type(msg).__name__}")
        except Exception as exc:
            if not c.closed:
                self.error(f"{c.iv}: reader {type(exc).__name__}: {exc}")
        finally:
            c.close_code = c.ws.close_code
            if not c.closed:
                c.closed = True
                if self.streaming or not self.drained:
                    self.error(f"{c.iv}: socket closed by the hub (code {c.close_code})")

    async def stream(self, c: Cand) -> None:
        if c.closed:
            return
        cfg = self.cfg
        interval = 1.0 / cfg.rate
        n = round(cfg.rate * cfg.duration)
        start = self.t0 + interval * c.slot / cfg.total_candidates
        lags = self.lags
        sent_t = c.sent_t
        for k in range(n):
            due = start + k * interval
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if c.closed:
                return
            seq = k + 1
            data = encode(SendChunk(c.q, seq, payload(c.iv, c.q, seq)))
            now = time.monotonic()
            lags.append((now - due) * 1000)
            sent_t.append(now)
            c.sent = seq
            try:
                await c.ws.send(data)
            except Exception as exc:
                if not c.closed:
                    self.error(f"{c.iv}: send {type(exc).__name__}: {exc}")
                    c.closed = True
                return

    # --- marks: the first time something arrived, and who waits for it ----------------------

    def mark(self, k: tuple[str, str], t: float | None = None) -> bool:
        """Record the first arrival of ``k``; False when it had arrived before."""
        if k in self.marks:
            return False
        self.marks[k] = time.monotonic() if t is None else t
        fut = self.waiters.pop(k, None)
        if fut is not None and not fut.done():
            fut.set_result(self.marks[k])
        return True

    async def wait_mark(self, k: tuple[str, str], timeout: float) -> float | None:
        """When ``k`` arrived (monotonic), waiting up to ``timeout``; None if it did not."""
        if k in self.marks:
            return self.marks[k]
        fut = self.waiters.get(k)
        if fut is None:
            fut = asyncio.get_running_loop().create_future()
            self.waiters[k] = fut
        try:
            return await asyncio.wait_for(asyncio.shield(fut), max(0.0, timeout))
        except TimeoutError:
            return None

    # --- HR monitors ----------------------------------------------------------------------

    async def open_monitor(self, m: Mon) -> None:
        """Connect, authenticate, then one Watch per interview (chunks and events from 0)."""
        cfg = self.cfg
        try:
            m.ws = await websockets.connect(
                cfg.monitor_url,
                subprotocols=[MONITOR_SUBPROTOCOL],  # type: ignore[list-item]
                compression=None,
                open_timeout=cfg.join_timeout,
                close_timeout=5,
                ping_interval=None,
                max_size=2**24,
            )
            await m.ws.send(encode(Authenticate(cfg.hr_token)))
            first = decode_monitor_server(await asyncio.wait_for(m.ws.recv(), cfg.join_timeout))
            if not isinstance(first, MonitorReady):
                reason = first.reason if isinstance(first, Refused) else first
                raise RuntimeError(f"monitor not ready: {reason}")
        except Exception as exc:
            self.mon_failures += 1
            self.watch_failures += len(m.ivs)
            self.error(f"monitor {m.ivs[:1]}...: {type(exc).__name__}: {exc}")
            if m.ws is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(m.ws.close(), 2)
                m.ws = None
            return
        m.reader = asyncio.create_task(self.read_monitor(m))
        for i, iv in enumerate(m.ivs):
            # "0": replay from the start of the (still empty) chunk stream, so a chunk stored
            # while the watch was being set up is not missed; events replay joined etc.
            try:
                await m.ws.send(encode(Watch(iv, "0", "0")))
            except Exception as exc:
                self.watch_failures += 1
                self.error(f"watch {iv}: {type(exc).__name__}: {exc}")
                continue
            if await self.wait_mark((iv, "watching"), cfg.join_timeout) is None:
                # the hub handles a socket's commands one at a time: one unanswered watch
                # means the socket is stuck, and the rest would wait just as long
                left = len(m.ivs) - i
                self.watch_failures += left
                self.stuck_monitors += 1
                self.error(
                    f"watch {iv}: no `watching` within {cfg.join_timeout} s; "
                    f"{left - 1} more watches of this socket not sent"
                )
                return

    async def read_monitor(self, m: Mon) -> None:
        decode = decode_monitor_server
        lat = self.mon_lat
        by_iv = self.by_iv
        try:
            async for data in m.ws:
                if not isinstance(data, bytes):
                    self.error("monitor: text frame")
                    continue
                msg = decode(data)
                t = type(msg)
                if t is LiveChunk:
                    now = time.monotonic()
                    c = by_iv.get(msg.interview_id)
                    if c is None or msg.q != c.q or not 0 < msg.seq <= c.sent:
                        self.mon_unexpected += 1
                        self.error(
                            f"monitor: unexpected chunk {msg.interview_id} q{msg.q} seq {msg.seq}"
                        )
                        continue
                    if c.seen[msg.seq]:
                        self.mon_dups += 1
                        continue
                    c.seen[msg.seq] = 1
                    self.mon_chunks += 1
                    lat.append((now - c.sent_t[msg.seq]) * 1000)
                elif t is LiveEvent:
                    if msg.kind in ("ended", "exited") and not self.mark(
                        (msg.interview_id, "monitor_" + msg.kind)
                    ):
                        self.mon_event_dups += 1
                elif t is Watching:
                    self.mark((msg.interview_id, "watching"))
                elif t is Refused:
                    self.error(f"monitor: refused {msg.reason} ({msg.refused_type})")
                elif t is Behind:
                    self.error(f"monitor: behind on {msg.interview_id} {msg.stream}")
                else:
                    self.error(f"monitor: unexpected {t.__name__}")
        except Exception as exc:
            if not m.closing:
                self.error(f"monitor reader {type(exc).__name__}: {exc}")
        finally:
            m.close_code = m.ws.close_code
            if not m.closing:
                self.error(f"monitor socket closed by the hub (code {m.close_code})")

    def missing(self) -> int:
        """Acked chunks of watched interviews that no monitor received."""
        return sum(
            1 for c in self.cands if c.watched for s in range(1, c.acked + 1) if not c.seen[s]
        )

    async def settle_monitors(self) -> None:
        """Wait (bounded) until the monitors have every acked chunk; count what is missing."""
        if not self.mons:
            return
        start = time.monotonic()
        deadline = start + self.cfg.monitor_wait
        while time.monotonic() < deadline and self.missing():
            await asyncio.sleep(0.05)
        self.mon_settle_s = time.monotonic() - start
        self.mon_missing = self.missing()

    # --- end and exit sample --------------------------------------------------------------

    async def end_phase(self) -> None:
        """HR ends some interviews over HTTP; other candidates exit; bounded concurrency."""
        cfg = self.cfg
        ends = [c for c in self.cands if c.role == "end" and not c.closed]
        exits = [c for c in self.cands if c.role == "exit" and not c.closed]
        for c in self.cands:
            if c.role == "end" and c.closed:
                self.end_counts["end_candidate_failures"] += 1
                self.error(f"{c.iv}: to be ended, but its socket is gone")
            if c.role == "exit" and c.closed:
                self.end_counts["exit_candidate_failures"] += 1
                self.error(f"{c.iv}: to exit, but its socket is gone")
        if not ends and not exits:
            return
        sem = asyncio.Semaphore(cfg.end_concurrency)
        limits = httpx.Limits(max_connections=cfg.end_concurrency)
        headers = {"Authorization": f"Bearer {cfg.hr_token}"}
        async with httpx.AsyncClient(
            base_url=cfg.http_base, headers=headers, limits=limits, timeout=cfg.end_timeout
        ) as http:

            async def bounded_end(c: Cand) -> None:
                async with sem:
                    await self.end_one(http, c)

            await asyncio.gather(*(bounded_end(c) for c in ends))

        async def bounded_exit(c: Cand) -> None:
            async with sem:
                await self.exit_one(c)

        await asyncio.gather(*(bounded_exit(c) for c in exits))

    def watching(self, c: Cand) -> bool:
        """A monitor watches ``c`` (its watch was answered): only then is end/exit -> monitor
        measured; a watch that failed is counted once, in monitor_watch_failures."""
        return c.watched and (c.iv, "watching") in self.marks

    async def end_one(self, http: httpx.AsyncClient, c: Cand) -> None:
        counts = self.end_counts
        counts["end_requests"] += 1
        c.expected_close = CloseCode.ENDED
        t0 = time.monotonic()
        try:
            r = await http.post(f"/api/hr/interviews/{c.iv}/end", json={"confirm": True})
            self.end_http.append((time.monotonic() - t0) * 1000)
            if r.status_code != 200:
                counts["end_http_failures"] += 1
                self.error(f"end {c.iv}: HTTP {r.status_code} {r.text[:200]}")
        except Exception as exc:
            counts["end_http_failures"] += 1
            self.error(f"end {c.iv}: {type(exc).__name__}: {exc}")
        left = t0 + self.cfg.end_timeout - time.monotonic()
        watched = self.watching(c)
        got_c, got_m = await asyncio.gather(
            self.wait_mark((c.iv, "ended"), left),
            self.wait_mark((c.iv, "monitor_ended"), left) if watched else _none(),
        )
        if got_c is None:
            counts["end_candidate_failures"] += 1
            self.error(f"end {c.iv}: candidate got no `ended` (close code {c.close_code})")
        else:
            self.end_cand.append((got_c - t0) * 1000)
        if watched:
            if got_m is None:
                counts["end_monitor_failures"] += 1
                self.error(f"end {c.iv}: monitor got no `ended` event")
            else:
                self.end_mon.append((got_m - t0) * 1000)

    async def exit_one(self, c: Cand) -> None:
        counts = self.end_counts
        counts["exit_requests"] += 1
        timeout = self.cfg.end_timeout
        c.expected_close = CloseCode.EXITED
        try:
            await c.ws.send(encode(RequestExit()))
        except Exception as exc:
            counts["exit_preview_failures"] += 1
            self.error(f"exit {c.iv}: send {type(exc).__name__}: {exc}")
            return
        if await self.wait_mark((c.iv, "exit_preview"), timeout) is None:
            counts["exit_preview_failures"] += 1
            self.error(f"exit {c.iv}: no exit preview within {timeout} s")
            return
        t0 = time.monotonic()
        try:
            await c.ws.send(encode(ConfirmExit()))
        except Exception as exc:
            counts["exit_candidate_failures"] += 1
            self.error(f"exit {c.iv}: send {type(exc).__name__}: {exc}")
            return
        watched = self.watching(c)
        got_c, got_m = await asyncio.gather(
            self.wait_mark((c.iv, "exited"), timeout),
            self.wait_mark((c.iv, "monitor_exited"), timeout) if watched else _none(),
        )
        if got_c is None:
            counts["exit_candidate_failures"] += 1
            self.error(f"exit {c.iv}: candidate got no `exited` (close code {c.close_code})")
        else:
            self.exit_cand.append((got_c - t0) * 1000)
        if watched:
            if got_m is None:
                counts["exit_monitor_failures"] += 1
                self.error(f"exit {c.iv}: monitor got no `exited` event")
            else:
                self.exit_mon.append((got_m - t0) * 1000)

    async def monitor_loop(self) -> None:
        step = 0.05
        while True:
            before = time.monotonic()
            await asyncio.sleep(step)
            late = (time.monotonic() - before - step) * 1000
            if self.t0 <= before <= self.t_end and late > self.loop_lag_max_ms:
                self.loop_lag_max_ms = late

    async def close_all(self) -> None:
        self.drained = True

        async def close(c: Cand) -> None:
            if c.ws is None:
                return
            c.closed = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(c.ws.close(), 5)
            if c.reader is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(c.reader, 5)

        sem = asyncio.Semaphore(200)

        async def bounded(c: Cand) -> None:
            async with sem:
                await close(c)

        await asyncio.gather(*(bounded(c) for c in self.cands))

        async def close_monitor(m: Mon) -> None:
            m.closing = True
            if m.ws is None:
                return
            with contextlib.suppress(Exception):
                await asyncio.wait_for(m.ws.close(), 5)
            if m.reader is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(m.reader, 5)

        await asyncio.gather(*(close_monitor(m) for m in self.mons))

    def result(self) -> dict[str, Any]:
        return {
            "worker": self.cfg.worker,
            "latencies": self.latencies,
            "lags": self.lags,
            "loop_lag_max_ms": self.loop_lag_max_ms,
            "acked_in_window": self.acked_in_window,
            "join_failures": self.join_failures,
            "join_ms": self.join_ms,
            "errors": self.errors,
            "error_samples": self.error_samples,
            "gen_cpu_s": self.gen_cpu_s,
            "per_interview": {c.iv: (c.q, c.sent, c.acked) for c in self.cands},
            "close_codes": [
                c.close_code
                for c in self.cands
                if c.close_code not in (None, CloseCode.NORMAL, c.expected_close)
            ]
            + [m.close_code for m in self.mons if m.close_code not in (None, CloseCode.NORMAL)],
            "monitors": len(self.mons),
            "monitor_failures": self.mon_failures,
            "watch_failures": self.watch_failures,
            "stuck_monitors": self.stuck_monitors,
            "watched": sum(1 for c in self.cands if c.watched),
            "mon_lat": self.mon_lat,
            "mon_chunks": self.mon_chunks,
            "mon_dups": self.mon_dups,
            "mon_unexpected": self.mon_unexpected,
            "mon_missing": self.mon_missing,
            "mon_event_dups": self.mon_event_dups,
            "mon_settle_s": self.mon_settle_s,
            "end_cand": self.end_cand,
            "end_mon": self.end_mon,
            "end_http": self.end_http,
            "exit_mon": self.exit_mon,
            "exit_cand": self.exit_cand,
            "end_counts": self.end_counts,
            "end_concurrency": self.cfg.end_concurrency,
        }


async def _none() -> None:
    return None


def generator_main(cfg: GenConfig, pipe: Connection) -> None:
    """Entry point of a generator process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    if cfg.cpus:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, set(cfg.cpus))
    gen = Generator(cfg, pipe)
    try:
        if cfg.use_uvloop:
            try:
                import uvloop

                uvloop.run(gen.run())
            except ImportError:
                asyncio.run(gen.run())
        else:
            asyncio.run(gen.run())
        pipe.send(("result", gen.result()))
    except Exception:
        with contextlib.suppress(Exception):
            pipe.send(("failed", traceback.format_exc()))
    finally:
        pipe.close()


# --- the system under test --------------------------------------------------------------


class Environment:
    """redis-server and hub started for one run (or a running hub given by --url)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.tmp: Path | None = None
        self.redis: Any = None
        self.hub: HubProcess | None = None
        self.url = ""
        self.redis_url = ""
        self.secret = ""
        self.master_keys = ""
        self.hub_pid: int | None = None
        self.redis_pid: int | None = None
        self.notifications = 0  # hub log lines of the "log" notification provider
        self.stop_s: float | None = None  # SIGTERM -> the hub exited
        self.killed = False  # it did not exit within 15 s of SIGTERM

    def start(self) -> None:
        a = self.args
        if a.url:
            self.url = ws_url(a.url)
            self.redis_url = a.redis_url
            self.secret = a.secret
            self.master_keys = a.master_keys
            self.hub_pid = a.hub_pid
            return
        self.tmp = Path(tempfile.mkdtemp(prefix="ihub-bench-"))
        self.redis = EmbeddedRedis(self.tmp / "redis", port=free_port())
        self.redis.start()
        self.redis_url = self.redis.url
        self.redis_pid = self.redis.process.pid
        if a.load_cpu_set:
            pin_all_threads(self.redis_pid, a.load_cpu_set)
        self.secret = a.secret or DEFAULT_SECRET
        self.master_keys = a.master_keys or DEFAULT_MASTER_KEYS
        self.hub = HubProcess(
            port=free_port(),
            redis_url=self.redis_url,
            secret=self.secret,
            master_keys=self.master_keys,
            data_dir=self.tmp / "hub",
            log_path=self.tmp / "hub.log",
            cpus=a.hub_cpu,
            # every simulated candidate is 127.0.0.1
            env={"HUB_MAX_CONNECTIONS_PER_IP": "0", "HUB_MAX_WAITING_CONNECTIONS_PER_IP": "0"},
        )
        self.hub.start()
        self.hub_pid = self.hub.pid
        self.url = self.hub.ws_url

    def stop(self) -> list[str]:
        """Stop what was started; returns the hub's log lines that look like problems."""
        problems: list[str] = []
        if self.hub is not None:
            self.hub.stop()
            self.stop_s, self.killed = self.hub.stop_s, self.hub.killed
            problems, self.notifications = log_problems(self.hub.log_text())
            if self.args.keep_tmp:
                print(f"hub log kept at {self.hub.log_path}", file=sys.stderr)
        if self.redis is not None:
            self.redis.stop()
        if self.tmp is not None and not self.args.keep_tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)
        return problems


# --- the run ------------------------------------------------------------------------------


def delta(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else after - before


def split(items: list[Any], k: int) -> list[list[Any]]:
    return [items[i::k] for i in range(k)]


def sample_slots(n: int, count: int) -> list[int]:
    """``count`` slots spread evenly over 0..n-1."""
    return sorted({(i * n) // count for i in range(count)}) if count else []


def assign(
    args: argparse.Namespace, made: list[dict[str, Any]]
) -> tuple[list[list[dict[str, Any]]], list[list[list[str]]]]:
    """Slots, end/exit roles, and the split over processes with their monitor groups.

    With monitors, whole groups of ``--monitors-per`` candidates go to one process, so each
    monitor lives in the process (same clock) as the candidates it watches.
    """
    n = len(made)
    for slot, m in enumerate(made):
        m["slot"] = slot
        m["role"] = ""
    # end + exit slots spread evenly over all candidates, ends and exits interleaved
    roles = [
        role
        for i in range(args.end_n)
        for role in ("end", "exit")
        if (role == "end" or i < args.exit_n)
    ]
    for slot, role in zip(sample_slots(n, len(roles)), roles, strict=True):
        made[slot]["role"] = role
    k = args.monitors_per
    if not k:
        parts = [p for p in split(made, args.procs) if p]
        return parts, [[] for _ in parts]
    groups = [made[i : i + k] for i in range(0, n, k)]
    per_proc = [g for g in split(groups, args.procs) if g]
    parts = [[c for g in gs for c in g] for gs in per_proc]
    mon_groups = [[[c["interview_id"] for c in g] for g in gs] for gs in per_proc]
    return parts, mon_groups


def run_generators(
    args: argparse.Namespace, env: Environment, made: list[dict[str, Any]], hr_token: str
) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    parts, mon_groups = assign(args, made)
    cpus = sorted(args.load_cpu_set) if args.load_cpu_set else None
    http_base, monitor_url = hub_base(env.url)
    procs: list[Any] = []
    pipes: list[Connection] = []
    for i, part in enumerate(parts):
        parent, child = ctx.Pipe()
        cfg = GenConfig(
            url=env.url,
            candidates=part,
            total_candidates=len(made),
            rate=args.rate,
            duration=args.duration,
            drain_timeout=args.drain_timeout,
            join_timeout=args.join_timeout,
            join_concurrency=max(1, args.join_concurrency // len(parts)),
            cpus=cpus,
            use_uvloop=not args.no_uvloop,
            worker=i,
            http_base=http_base,
            monitor_url=monitor_url,
            hr_token=hr_token,
            monitor_groups=mon_groups[i],
            monitor_wait=args.monitor_wait,
            end_concurrency=max(1, args.end_concurrency // len(parts)),
            end_timeout=args.end_timeout,
        )
        p = ctx.Process(target=generator_main, args=(cfg, child), daemon=True)
        p.start()
        child.close()
        procs.append(p)
        pipes.append(parent)

    def collect(kind: str, timeout: float) -> dict[int, Any]:
        got: dict[int, Any] = {}
        deadline = time.monotonic() + timeout
        while len(got) < len(pipes):
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"generators did not report {kind!r} within {timeout:.0f} s")
            for conn in wait([p for i, p in enumerate(pipes) if i not in got], left):
                i = pipes.index(conn)  # type: ignore[arg-type]
                try:
                    msg = conn.recv()  # type: ignore[union-attr]
                except EOFError:
                    raise RuntimeError(f"generator {i} died before {kind!r}") from None
                if msg[0] == "failed":
                    raise RuntimeError(f"generator {i} failed:\n{msg[1]}")
                if msg[0] != kind:
                    raise RuntimeError(f"generator {i}: expected {kind!r}, got {msg[0]!r}")
                got[i] = msg[1]
        return got

    try:
        join_budget = args.join_timeout * 2 + len(made) / 20 + 30
        t_join = time.monotonic()
        collect("ready", join_budget)
        join_s = time.monotonic() - t_join
        hub_cpu0 = proc_cpu_s(env.hub_pid)
        redis_cpu0 = proc_cpu_s(env.redis_pid)
        t0_wall = time.time() + 1.0
        for p in pipes:
            p.send(("go", t0_wall))
        collect("drained", 1.0 + args.duration + args.drain_timeout + 60)
        hub_cpu1 = proc_cpu_s(env.hub_pid)
        redis_cpu1 = proc_cpu_s(env.redis_pid)
        window_s = time.time() - t0_wall
        for p in pipes:
            p.send(("close",))
        # monitors settle, then the end/exit sample (in rounds of the concurrency), then close
        rounds = math.ceil((args.end_n + args.exit_n) / max(1, args.end_concurrency // len(parts)))
        results = collect("result", 60 + args.monitor_wait + rounds * 2 * args.end_timeout)
    finally:
        for p in procs:
            p.join(5)
            if p.is_alive():
                p.terminate()
                p.join(5)
        for conn in pipes:
            conn.close()
    return {
        "results": [results[i] for i in sorted(results)],
        "hub_cpu_s": None if hub_cpu0 is None or hub_cpu1 is None else hub_cpu1 - hub_cpu0,
        "redis_cpu_s": None
        if redis_cpu0 is None or redis_cpu1 is None
        else redis_cpu1 - redis_cpu0,
        "measure_window_s": window_s,
        "join_phase_s": join_s,
    }


def summarise(
    args: argparse.Namespace,
    run: dict[str, Any],
    check: dict[str, Any],
    hub_problems: list[str],
) -> dict[str, Any]:
    results = run["results"]
    lat = sorted(x for r in results for x in r["latencies"])
    lags = sorted(x for r in results for x in r["lags"])
    join_ms = sorted(x for r in results for x in r["join_ms"])
    per_iv = {iv: v for r in results for iv, v in r["per_interview"].items()}
    sent = sum(v[1] for v in per_iv.values())
    acked = sum(v[2] for v in per_iv.values())
    acked_in_window = sum(r["acked_in_window"] for r in results)
    hub_cpu = run["hub_cpu_s"]
    redis_cpu = run["redis_cpu_s"]
    window = run["measure_window_s"]
    gen_cpu = [r["gen_cpu_s"] for r in results]
    offered = args.candidates * args.rate
    achieved = acked_in_window / args.duration
    gen_util_max = max(gen_cpu) / window if window > 0 else 0.0
    # everything pinned to the load CPUs: the generators, and our redis-server if we pinned it
    load_cpus = len(args.load_cpu_set) if args.load_cpu_set else os.cpu_count() or 1
    load_busy = sum(gen_cpu) + ((redis_cpu or 0.0) if args.load_cpu_set else 0.0)
    load_util = load_busy / (window * load_cpus) if window > 0 else 0.0
    lag_p99 = percentile(lags, 99)
    generator_limited = gen_util_max > 0.9 or load_util > 0.9 or lag_p99 > 50
    samples = [s for r in results for s in r["error_samples"]][:10]
    close_codes: dict[str, int] = {}
    for r in results:
        for code in r["close_codes"]:
            close_codes[str(code)] = close_codes.get(str(code), 0) + 1

    def per_1000(cpu: float | None) -> float | None:
        return None if cpu is None or not acked else round(cpu / acked * 1000, 4)

    def merged(name: str) -> dict[str, float]:
        return stats(x for r in results for x in r[name])

    mon = merged("mon_lat")
    end_cand = merged("end_cand")
    end_mon = merged("end_mon")
    end_http = merged("end_http")
    exit_mon = merged("exit_mon")
    exit_cand = merged("exit_cand")
    counts = {k: sum(r["end_counts"][k] for r in results) for k in results[0]["end_counts"]}
    end_failures = sum(v for k, v in counts.items() if k.endswith("_failures"))

    return {
        "candidates": args.candidates,
        "rate": args.rate,
        "duration_s": args.duration,
        "procs": len(results),
        "offered_chunks_per_s": round(offered, 1),
        "achieved_chunks_per_s": round(achieved, 1),
        "sent": sent,
        "acked": acked,
        "acked_in_window": acked_in_window,
        "unacked": sent - acked,
        "p50_ms": round(percentile(lat, 50), 2),
        "p90_ms": round(percentile(lat, 90), 2),
        "p99_ms": round(percentile(lat, 99), 2),
        "p999_ms": round(percentile(lat, 99.9), 2),
        "max_ms": round(lat[-1], 2) if lat else 0.0,
        "mean_ms": round(sum(lat) / len(lat), 2) if lat else 0.0,
        "stored": check["stored"],
        "lost": check["lost"],
        "duplicated": check["duplicated"],
        "corrupted": check["corrupted"],
        "stored_unacked": check["stored_unacked"],
        "sessions_not_released": check["sessions_not_released"],
        "hub_cpu_s": None if hub_cpu is None else round(hub_cpu, 3),
        "hub_cpu_s_per_1000_chunks": per_1000(hub_cpu),
        "hub_cpu_util": None if hub_cpu is None else round(hub_cpu / window, 3),
        "redis_cpu_s": None if redis_cpu is None else round(redis_cpu, 3),
        "redis_cpu_s_per_1000_chunks": per_1000(redis_cpu),
        "measure_window_s": round(window, 3),
        "gen_cpu_util_max": round(gen_util_max, 3),
        "load_cpu_util": round(load_util, 3),
        "gen_lag_p99_ms": round(lag_p99, 2),
        "gen_lag_max_ms": round(lags[-1], 2) if lags else 0.0,
        "gen_loop_lag_max_ms": round(max(r["loop_lag_max_ms"] for r in results), 2),
        "generator_limited": generator_limited,
        "join_phase_s": round(run["join_phase_s"], 2),
        "join_p50_ms": round(percentile(join_ms, 50), 2),
        "join_p99_ms": round(percentile(join_ms, 99), 2),
        "join_failures": sum(r["join_failures"] for r in results),
        "errors": sum(r["errors"] for r in results),
        "error_samples": samples,
        "close_codes": close_codes,
        "hub_log_problems": len(hub_problems),
        "hub_log_samples": hub_problems[:5],
        "redis_check_problems": check["problems"][:5],
        "hub_cpu_pinned": args.hub_cpu or None,
        "load_cpu_pinned": ",".join(map(str, sorted(args.load_cpu_set)))
        if args.load_cpu_set
        else None,
        # HR monitors: chunk -> monitor (candidate sent it -> a monitor socket received it)
        "monitors_per": args.monitors_per,
        "monitors": sum(r["monitors"] for r in results),
        "monitor_failures": sum(r["monitor_failures"] for r in results),
        "monitor_watch_failures": sum(r["watch_failures"] for r in results),
        "monitor_stuck_sockets": sum(r["stuck_monitors"] for r in results),
        "monitored_interviews": sum(r["watched"] for r in results),
        "monitor_chunks": sum(r["mon_chunks"] for r in results),
        "monitor_missing": sum(r["mon_missing"] for r in results),
        "monitor_duplicates": sum(r["mon_dups"] for r in results),
        "monitor_unexpected": sum(r["mon_unexpected"] for r in results),
        "monitor_settle_s": round(max(r["mon_settle_s"] for r in results), 3),
        "monitor_wait_s": args.monitor_wait,
        "p50_chunk_to_monitor_ms": mon["p50"],
        "p99_chunk_to_monitor_ms": mon["p99"],
        "max_chunk_to_monitor_ms": mon["max"],
        # after streaming: HR ends M interviews over HTTP, M other candidates exit
        "end_sample": args.end_n,
        "exit_sample": args.exit_n,
        "end_concurrency": sum(r["end_concurrency"] for r in results),
        **counts,
        "end_exit_failures": end_failures,
        "monitor_event_duplicates": sum(r["mon_event_dups"] for r in results),
        "p50_end_to_candidate_ms": end_cand["p50"],
        "p99_end_to_candidate_ms": end_cand["p99"],
        "max_end_to_candidate_ms": end_cand["max"],
        "p50_end_to_monitor_ms": end_mon["p50"],
        "p99_end_to_monitor_ms": end_mon["p99"],
        "max_end_to_monitor_ms": end_mon["max"],
        "p50_end_http_ms": end_http["p50"],
        "p99_end_http_ms": end_http["p99"],
        "max_end_http_ms": end_http["max"],
        "p50_exit_to_monitor_ms": exit_mon["p50"],
        "p99_exit_to_monitor_ms": exit_mon["p99"],
        "max_exit_to_monitor_ms": exit_mon["max"],
        "p50_exit_to_candidate_ms": exit_cand["p50"],
        "p99_exit_to_candidate_ms": exit_cand["p99"],
        "max_exit_to_candidate_ms": exit_cand["max"],
    }


def print_human(s: dict[str, Any]) -> None:
    def fmt(v: Any, unit: str = "") -> str:
        return "n/a" if v is None else f"{v}{unit}"

    print(
        f"\n== interview-hub bench: {s['candidates']} candidates x {s['rate']} chunks/s "
        f"x {s['duration_s']} s ({s['procs']} generator process(es))"
    )
    print(
        f"throughput : offered {s['offered_chunks_per_s']}/s, achieved {s['achieved_chunks_per_s']}"
        f"/s acked in window; sent {s['sent']}, acked {s['acked']}, unacked {s['unacked']}"
    )
    print(
        f"latency    : chunk->ack p50 {s['p50_ms']} ms, p90 {s['p90_ms']} ms, p99 {s['p99_ms']} ms,"
        f" p99.9 {s['p999_ms']} ms, max {s['max_ms']} ms"
    )
    print(
        f"redis      : stored {s['stored']}, lost {s['lost']}, duplicated {s['duplicated']}, "
        f"corrupted {s['corrupted']}, stored but unacked {s['stored_unacked']}"
    )
    print(
        f"hub cpu    : {fmt(s['hub_cpu_s'], ' s')} over {s['measure_window_s']} s "
        f"(util {fmt(s['hub_cpu_util'])}), {fmt(s['hub_cpu_s_per_1000_chunks'], ' s')} per 1,000 "
        f"chunks; redis {fmt(s['redis_cpu_s_per_1000_chunks'], ' s')} per 1,000 chunks"
    )
    print(
        f"generator  : cpu util {s['gen_cpu_util_max']} (load cpus {s['load_cpu_util']}), "
        f"send lag p99 {s['gen_lag_p99_ms']} ms "
        f"max {s['gen_lag_max_ms']} ms, loop lag max {s['gen_loop_lag_max_ms']} ms"
    )
    print(
        f"joins      : {s['join_phase_s']} s for all, p50 {s['join_p50_ms']} ms, "
        f"p99 {s['join_p99_ms']} ms, failures {s['join_failures']}"
    )
    if s["monitors"]:
        print(
            f"monitors   : {s['monitors']} sockets watching {s['monitored_interviews']} "
            f"interviews ({s['monitors_per']} per socket) "
            f"(failures {s['monitor_failures']}, watch failures {s['monitor_watch_failures']}); "
            f"chunks {s['monitor_chunks']}, missing {s['monitor_missing']}, duplicates "
            f"{s['monitor_duplicates']}; chunk->monitor p50 {s['p50_chunk_to_monitor_ms']} ms, "
            f"p99 {s['p99_chunk_to_monitor_ms']} ms, max {s['max_chunk_to_monitor_ms']} ms"
        )
    if s["end_sample"] or s["exit_sample"]:
        print(
            f"end        : {s['end_requests']} ended over HTTP ({s['end_concurrency']} at a "
            f"time): ->candidate p50 {s['p50_end_to_candidate_ms']} ms p99 "
            f"{s['p99_end_to_candidate_ms']} max {s['max_end_to_candidate_ms']}; ->monitor p50 "
            f"{s['p50_end_to_monitor_ms']} ms p99 {s['p99_end_to_monitor_ms']} max "
            f"{s['max_end_to_monitor_ms']}"
        )
        print(
            f"exit       : {s['exit_requests']} exited: confirm->monitor p50 "
            f"{s['p50_exit_to_monitor_ms']} ms p99 {s['p99_exit_to_monitor_ms']} max "
            f"{s['max_exit_to_monitor_ms']}; confirm->candidate p50 "
            f"{s['p50_exit_to_candidate_ms']} ms; failures {s['end_exit_failures']}"
        )
    if s["sessions_not_released"]:
        print(
            f"hub state  : {s['sessions_not_released']} interviews still hold a socket session "
            "after every client closed (disconnect not recorded)"
        )
    print(f"errors     : {s['errors']} {s['error_samples'][:3] if s['errors'] else ''}")
    if s["close_codes"]:
        print(f"closes     : unexpected close codes {s['close_codes']}")
    if s["hub_log_problems"]:
        print(
            f"hub log    : {s['hub_log_problems']} problem lines, e.g. {s['hub_log_samples'][:2]}"
        )
    if s["redis_check_problems"]:
        print(f"check      : {s['redis_check_problems']}")
    if s["generator_limited"]:
        print(
            "warning    : the load generator looks saturated (a process or the load CPUs > 90 %"
            " busy, or send lag p99 > 50 ms); the numbers measure the generator too: try "
            "--procs K with --load-cpu spanning K CPUs"
        )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m loadtests.bench",
        description="Stream answer chunks from many candidates; measure acks, CPU, integrity.",
    )
    p.add_argument("--candidates", type=int, default=50)
    p.add_argument("--rate", type=float, default=10.0, help="chunks per second per candidate")
    p.add_argument("--duration", type=float, default=10.0, help="streaming seconds")
    p.add_argument("--url", help="a running hub (ws://host:port[/ws/candidate])")
    p.add_argument("--redis-url", help="with --url: the hub's Redis, to create interviews")
    p.add_argument("--secret", help="with --url: the hub's HUB_SECRET")
    p.add_argument("--master-keys", help="with --url: the hub's HUB_MASTER_KEYS")
    p.add_argument("--hub-pid", type=int, help="with --url: the hub's pid, for its CPU time")
    p.add_argument("--hub-cpu", help="CPU list for the hub (default 0 on 2+ cores)")
    p.add_argument("--load-cpu", help="CPU list for redis and the generators (default 1)")
    p.add_argument("--no-pin", action="store_true", help="pin nothing")
    p.add_argument("--procs", type=int, default=1, help="generator processes")
    p.add_argument("--drain-timeout", type=float, default=15.0)
    p.add_argument("--join-timeout", type=float, default=20.0)
    p.add_argument("--join-concurrency", type=int, default=64)
    p.add_argument("--no-uvloop", action="store_true")
    p.add_argument("--keep-tmp", action="store_true", help="keep the temp dir (hub log)")
    p.add_argument(
        "--monitors-per",
        type=int,
        default=10,
        help="one HR monitor socket per K candidates, watching their interviews (0: none)",
    )
    p.add_argument(
        "--monitor-wait",
        type=float,
        default=10.0,
        help="after the acks: seconds to wait for monitors to receive every acked chunk",
    )
    p.add_argument(
        "--end-sample",
        type=int,
        help="after streaming, HR ends M interviews and M other candidates exit "
        "(default 10%% of the candidates, at least 1; 0: none)",
    )
    p.add_argument("--end-concurrency", type=int, default=20, help="ends/exits in flight at a time")
    p.add_argument("--end-timeout", type=float, default=10.0, help="per end/exit, seconds")
    args = p.parse_args(argv)
    if args.candidates < 1 or args.rate <= 0 or args.duration <= 0 or args.procs < 1:
        p.error("--candidates, --rate, --duration and --procs must be positive")
    if args.monitors_per < 0 or (args.end_sample or 0) < 0 or args.end_concurrency < 1:
        p.error("--monitors-per and --end-sample must be >= 0, --end-concurrency >= 1")
    if args.end_sample is None:
        args.end_sample = max(1, round(args.candidates * 0.1))
    args.end_n = min(args.end_sample, args.candidates)
    args.exit_n = min(args.end_sample, args.candidates - args.end_n)
    if args.url and not (args.redis_url and args.secret and args.master_keys):
        p.error("--url needs --redis-url, --secret and --master-keys (the hub's settings)")
    if args.url and not args.url.startswith(("ws://127.0.0.1", "ws://localhost", "ws://[::1]")):
        p.error("the benchmark only talks to a hub on this machine (ws://127.0.0.1:PORT)")
    args.procs = min(args.procs, args.candidates)
    ncpu = len(os.sched_getaffinity(0))
    if args.no_pin:
        args.hub_cpu = None
        args.load_cpu = None
    elif not args.url and ncpu >= 2:
        online = sorted(os.sched_getaffinity(0))
        args.hub_cpu = args.hub_cpu or str(online[0])
        args.load_cpu = args.load_cpu or str(online[1])
    args.load_cpu_set = parse_cpus(args.load_cpu) if args.load_cpu else None
    if args.url:
        args.hub_cpu = None  # not ours to pin
    return args


async def _create(env: Environment, n: int, org: str) -> list[dict[str, Any]]:
    return await create_interviews(
        env.redis_url, env.secret, n, questions=1, org=org, master_keys=env.master_keys
    )


async def _hr_login(env: Environment) -> tuple[str, str, str]:
    """A fresh organisation and admin user (in Redis), logged in over HTTP: (org, user, token)."""
    tag = secrets.token_hex(4)
    org, user, password = f"bench-{tag}", f"bench-admin-{tag}", secrets.token_urlsafe(16)
    store = Store.from_url(env.redis_url)
    try:
        await Accounts(store, 3600).add_user(user, password, org, ["admin"], now_ms())
    finally:
        await store.close()
    token = await login(hub_base(env.url)[0], user, password)
    return org, user, token


async def _check(env: Environment, per_iv: dict[str, tuple[int, int, int]]) -> dict[str, Any]:
    acked = {iv: {q: a} for iv, (q, _sent, a) in per_iv.items()}
    result = await check_chunks(env.redis_url, acked, master_keys=env.master_keys)
    # every socket is closed now: the hub should record each disconnect (bounded wait)
    deadline = time.monotonic() + 5
    while True:
        held = await held_sessions(env.redis_url, per_iv)
        if not held or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.25)
    result["sessions_not_released"] = len(held)
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    env = Environment(args)
    hub_problems: list[str] = []
    try:
        env.start()
        print(
            f"hub {env.url} (pid {env.hub_pid or 'unknown'}, cpu {args.hub_cpu or 'any'}); "
            f"redis {env.redis_url}; generators on cpu "
            f"{sorted(args.load_cpu_set) if args.load_cpu_set else 'any'}",
            flush=True,
        )
        org, token = "loadtest", ""
        if args.monitors_per or args.end_n:
            org, user, token = asyncio.run(_hr_login(env))
            print(f"HR: organisation {org}, admin {user} logged in", flush=True)
        made = asyncio.run(_create(env, args.candidates, org))
        print(f"created {len(made)} interviews; joining and streaming ...", flush=True)
        run = run_generators(args, env, made, token)
        per_iv = {iv: v for r in run["results"] for iv, v in r["per_interview"].items()}
        check = asyncio.run(_check(env, per_iv))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        env.stop()
        return 2
    except Exception as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        hub_problems = env.stop()
        for line in hub_problems[:20]:
            print(f"  hub: {line}", file=sys.stderr)
        return 2
    hub_problems = env.stop()
    summary = summarise(args, run, check, hub_problems)
    summary["hub_log_notifications"] = env.notifications
    summary["hub_stop_s"] = None if env.stop_s is None else round(env.stop_s, 2)
    summary["hub_killed"] = env.killed  # SIGTERM did not stop it within 15 s
    print_human(summary)
    if env.killed:
        print("hub stop   : the hub did not exit within 15 s of SIGTERM; it was killed")
    print(json.dumps(summary, ensure_ascii=False), flush=True)
    failed = ("lost", "duplicated", "corrupted", "monitor_missing", "monitor_duplicates")
    return 1 if any(summary[k] for k in (*failed, "end_exit_failures")) else 0


if __name__ == "__main__":
    raise SystemExit(main())
