"""Benchmark harness: N candidates stream answer chunks at R chunks/s for S seconds.

    python -m loadtests.bench --candidates 500 --rate 10 --duration 30
    python -m loadtests.bench --candidates 2000 --rate 5 --duration 60 --procs 2
    python -m loadtests.bench --url ws://127.0.0.1:8000 --redis-url redis://127.0.0.1:6379/0 \\
        --secret "$HUB_SECRET" --hub-pid "$(pgrep -f 'server.cli serve')" ...

Without ``--url`` it starts its own redis-server (TCP, 127.0.0.1, a temporary directory)
and its own hub (``python -m server.cli serve``), pinned with taskset: by default the hub
on CPU 0, redis-server and the load generator on CPU 1 (machines with 2+ cores). With
``--url`` it drives a running hub and needs the hub's Redis (``--redis-url``) and secret
(``--secret``) to create interviews; hub CPU is measured only with ``--hub-pid``.

Each candidate joins its own interview (one question, no time limit) over a raw
``websockets`` client, then sends R chunks/s of ~40 bytes of text; start offsets are spread
evenly over one send interval. Latency is chunk -> the first (cumulative) ack covering it.
After the run it waits (bounded) for outstanding acks, then counts in Redis, per
interview: ``lost`` (acked but not in the chunk stream), ``duplicated`` (same (q, seq)
stored more than once) and ``corrupted`` (stored data differs from what was sent).

Hub CPU is utime+stime of the hub process from /proc, read just before streaming starts
and after the outstanding acks arrived. The last line printed is one JSON object. Exit
status: 0, or 1 when a chunk was lost, duplicated or corrupted, 2 when the run failed.
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
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request
from array import array
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

import httpx
import websockets

from client.monitor import login
from loadtests.interviews import check_chunks, create_interviews, held_sessions, now_ms, payload
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
from server.embedded import EmbeddedRedis
from server.store import Store

ROOT = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
DEFAULT_SECRET = "bench-secret-" + "0" * 24


# --- small helpers ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def parse_cpus(spec: str) -> set[int]:
    """A taskset-style CPU list: "1", "0,2", "2-3"."""
    cpus: set[int] = set()
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            lo, hi = part.split("-", 1)
            cpus.update(range(int(lo), int(hi) + 1))
        else:
            cpus.add(int(part))
    if not cpus:
        raise ValueError(f"no CPUs in {spec!r}")
    return cpus


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


def pin_all_threads(pid: int, cpus: set[int]) -> None:
    """sched_setaffinity for every thread of ``pid`` (it affects one thread at a time)."""
    try:
        tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        tids = [pid]
    for tid in tids:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(tid, cpus)


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
            Cand(c["interview_id"], c["token"], c["identity"], c["slot"]) for c in cfg.candidates
        ]
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
            "close_codes": [c.close_code for c in self.cands if c.close_code not in (None, 1000)],
        }


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
        self.hub: subprocess.Popen[bytes] | None = None
        self.hub_log: Path | None = None
        self.hub_out: Any = None
        self.url = ""
        self.redis_url = ""
        self.secret = ""
        self.hub_pid: int | None = None
        self.redis_pid: int | None = None

    def start(self) -> None:
        a = self.args
        if a.url:
            self.url = ws_url(a.url)
            self.redis_url = a.redis_url
            self.secret = a.secret
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
        port = free_port()
        env = {
            **os.environ,
            "REDIS_URL": self.redis_url,
            "HUB_SECRET": self.secret,
            "HUB_HOST": "127.0.0.1",
            "HUB_PORT": str(port),
            "PYTHONUNBUFFERED": "1",
        }
        cmd = [sys.executable, "-m", "server.cli", "--data-dir", str(self.tmp / "hub")]
        cmd += ["serve", "--port", str(port), "--log-level", "warning"]
        if a.hub_cpu and shutil.which("taskset"):
            cmd = ["taskset", "-c", a.hub_cpu, *cmd]
        self.hub_log = self.tmp / "hub.log"
        self.hub_out = self.hub_log.open("wb")
        self.hub = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=self.hub_out, stderr=subprocess.STDOUT
        )
        self.hub_pid = self.hub.pid
        if a.hub_cpu and not shutil.which("taskset"):
            pin_all_threads(self.hub_pid, parse_cpus(a.hub_cpu))
        deadline = time.monotonic() + 30
        health = f"http://127.0.0.1:{port}/healthz"
        while time.monotonic() < deadline:
            if self.hub.poll() is not None:
                raise RuntimeError(f"hub exited at start:\n{self.hub_log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(health, timeout=1) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            time.sleep(0.1)
        else:
            raise RuntimeError(f"hub not healthy in 30 s:\n{self.hub_log.read_text()[-3000:]}")
        self.url = f"ws://127.0.0.1:{port}/ws/candidate"

    def stop(self) -> list[str]:
        """Stop what was started; returns the hub's log lines that look like problems."""
        problems: list[str] = []
        if self.hub is not None:
            if self.hub.poll() is None:
                self.hub.terminate()
                try:
                    self.hub.wait(15)
                except subprocess.TimeoutExpired:
                    self.hub.kill()
                    self.hub.wait()
            self.hub_out.close()
        if self.hub_log is not None and self.hub_log.exists():
            for line in self.hub_log.read_text(errors="replace").splitlines():
                if any(w in line for w in ("ERROR", "WARNING", "Traceback", "Exception")):
                    problems.append(line)
            if self.args.keep_tmp:
                print(f"hub log kept at {self.hub_log}", file=sys.stderr)
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


def run_generators(
    args: argparse.Namespace, env: Environment, made: list[dict[str, Any]]
) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    for slot, m in enumerate(made):
        m["slot"] = slot
    parts = [p for p in split(made, args.procs) if p]
    cpus = sorted(args.load_cpu_set) if args.load_cpu_set else None
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
        results = collect("result", 60)
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
    args = p.parse_args(argv)
    if args.candidates < 1 or args.rate <= 0 or args.duration <= 0 or args.procs < 1:
        p.error("--candidates, --rate, --duration and --procs must be positive")
    if args.url and not (args.redis_url and args.secret):
        p.error("--url needs --redis-url and --secret (the hub's HUB_SECRET)")
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


async def _create(env: Environment, n: int) -> list[dict[str, Any]]:
    return await create_interviews(env.redis_url, env.secret, n, questions=1)


async def _check(env: Environment, per_iv: dict[str, tuple[int, int, int]]) -> dict[str, Any]:
    acked = {iv: {q: a} for iv, (q, _sent, a) in per_iv.items()}
    result = await check_chunks(env.redis_url, acked)
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
        made = asyncio.run(_create(env, args.candidates))
        print(f"created {len(made)} interviews; joining and streaming ...", flush=True)
        run = run_generators(args, env, made)
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
    print_human(summary)
    print(json.dumps(summary, ensure_ascii=False), flush=True)
    return 1 if summary["lost"] or summary["duplicated"] or summary["corrupted"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
