"""Abuse benchmark: do well-behaved candidates notice when a few joined sockets flood the hub?

    uv run python -m loadtests.abuse_bench --bystanders 200 --flooders 2 --phase-s 20
    uv run python -m loadtests.abuse_bench --bystanders 200 --flooders 8 \\
        --floods valid,duplicate,closed-question,previous-question,undecodable,text,all

It starts its own redis-server and hub, pinned as loadtests.bench pins them: the hub alone
on CPU 0; redis-server, the bystanders (this process) and the flooders (a process of their
own) on CPU 1. ``--bystanders`` B candidates join their own interviews and send a ~40-byte
chunk 10 times a second each (``--rate``); chunk -> ack latency is measured as in
loadtests.bench. The phases, ``--phase-s`` S seconds each, ``--settle`` seconds apart:

1. baseline: the bystanders alone;
2. one phase per entry of ``--floods`` (default ``all``): K = ``--flooders`` sockets, each
   joined to an interview of its own, flood the hub while the bystanders go on, and a new
   candidate joins every second (join latency: connect -> the open question).

A flood entry is kinds joined by "+", ``all``, or ``none`` (no flooders: the baseline
again, with the joins; on a shared machine, interleave ``none`` phases and compare
neighbours: ``p99_ratio_to_last_quiet``); flooder i floods with kind i mod their number.
The kinds, each answered by the hub's rules (server/hub.py, SPEC §5.5, §13):

  valid              new chunks (1 byte each), as fast as the socket takes them: the hub
                     reads an interview's chunks at HUB_CHUNKS_PER_S (burst
                     HUB_CHUNK_BURST) and bytes at HUB_CHUNK_BYTES_PER_S, and stops
                     reading the socket meanwhile (flow control: nothing is refused)
  duplicate          the acked chunk 1 again and again: acked from memory up to
                     HUB_MAX_USELESS_CHUNKS, then each is a bad message, 4005 after 10
  closed-question    chunks for question 0 while question 2 is open: the same allowance
  previous-question  chunks for the question closed just before the open one: answered
                     not_current_question, never counted (a late chunk racing a time limit
                     is not abuse); only the chunk budget holds them back
  undecodable        binary frames that are not msgpack: bad messages, 4005 after 10
  text               text frames: bad messages, 4005 after 10

A flooder whose socket is closed connects and joins again at once (a resume), as an
abuser would; all traffic is from 127.0.0.1, so the hub runs with
HUB_MAX_CONNECTIONS_PER_IP raised to B + K + 100 (nothing else is changed).

Reported per phase: bystander chunk -> ack p50/p99/max and the ratio of p99 to the
baseline's, the generator's own send and loop lag (a starved generator inflates its
latencies), the CPU used by the hub, redis-server, the bystanders and the flooders, and how
busy each CPU was (on a shared machine, what is not ours is someone else's), join
latency, and what the flooders achieved: frames sent a second (written into the socket,
which includes what waits in kernel buffers), chunks stored a second, joins, closes by
code, replies by kind. After the run every
bystander chunk is checked in Redis (lost, duplicated, reordered, corrupted). The last line
is one JSON object. Exit status 1 when a bystander chunk was lost, duplicated, reordered,
corrupted or never acked, or a bystander socket was closed; 2 when the run failed.
Traffic stays on 127.0.0.1; the run stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from array import array
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import websockets

from client.candidate import CandidateClient
from loadtests.bench import (
    DEFAULT_MASTER_KEYS,
    DEFAULT_SECRET,
    free_port,
    percentile,
    proc_cpu_s,
    stats,
)
from loadtests.interviews import check_chunks, create_interviews, payload
from loadtests.processes import HubProcess, log_problems, parse_cpus, tracebacks
from protocol import SUBPROTOCOL
from protocol.codec import decode_server, encode
from protocol.messages import (
    ChunkAcked,
    FinishAnswer,
    Join,
    Joined,
    QuestionStarted,
    Refused,
    SendChunk,
)
from server.settings import Settings
from server.store import Store
from server.store.embedded import EmbeddedRedis, find_redis_server

FLOOD_KINDS = (
    "valid",
    "duplicate",
    "closed-question",
    "previous-question",
    "undecodable",
    "text",
)
FLOOD_QUESTIONS = 3  # a flood interview: questions 0 and 1 are closed, 2 is open
UNDECODABLE = b"\xc1"  # a byte msgpack never uses
YIELD_EVERY = 32  # frames sent between yields, so a flooder still reads (acks, pings)


def cpu_ticks() -> dict[int, tuple[int, int]]:
    """Per CPU, from /proc/stat: (busy ticks, all ticks) so far; {} where unreadable."""
    ticks: dict[int, tuple[int, int]] = {}
    try:
        lines = Path("/proc/stat").read_text().splitlines()
    except OSError:
        return ticks
    for line in lines:
        name, *values = line.split()
        if name.startswith("cpu") and name[3:].isdigit():
            counts = [int(v) for v in values]
            idle = counts[3] + (counts[4] if len(counts) > 4 else 0)  # idle + iowait
            ticks[int(name[3:])] = (sum(counts[:8]) - idle, sum(counts[:8]))
    return ticks


def cpu_busy(
    before: dict[int, tuple[int, int]], after: dict[int, tuple[int, int]]
) -> dict[str, float]:
    """Each CPU's busy share between two cpu_ticks() readings (every process on it)."""
    return {
        str(cpu): round((after[cpu][0] - b[0]) / max(1, after[cpu][1] - b[1]), 3)
        for cpu, b in before.items()
        if cpu in after
    }


# --- the flooders (a process of their own) -----------------------------------------------


@dataclass
class FloodStats:
    frames: int = 0
    joins: int = 0
    connect_failures: int = 0
    closes: Counter[str] = field(default_factory=Counter)
    replies: Counter[str] = field(default_factory=Counter)

    def add(self, other: FloodStats) -> None:
        self.frames += other.frames
        self.joins += other.joins
        self.connect_failures += other.connect_failures
        self.closes.update(other.closes)
        self.replies.update(other.replies)

    def as_dict(self) -> dict[str, Any]:
        return {
            "frames": self.frames,
            "joins": self.joins,
            "connect_failures": self.connect_failures,
            "closes": dict(sorted(self.closes.items())),
            "replies": dict(sorted(self.replies.items())),
        }


def reply_name(msg: Any) -> str:
    return f"refused {msg.reason}" if isinstance(msg, Refused) else type(msg).__name__


async def recv_until(ws: Any, kind: type[Any], st: FloodStats, timeout: float = 20.0) -> Any:
    """Read messages (counting them) until one of ``kind``; a Refused before it raises."""
    while True:
        msg = decode_server(await asyncio.wait_for(ws.recv(), timeout))
        st.replies[reply_name(msg)] += 1
        if isinstance(msg, kind):
            return msg
        if isinstance(msg, Refused) and msg.fatal:
            raise RuntimeError(f"refused {msg.reason}")


async def prepare(ws: Any, kind: str, q: int, acked: int, st: FloodStats) -> Any:
    """What this kind sends over and over (after any set-up it needs): a frame, or a
    function of the frame number for new chunks."""
    if kind == "valid":
        return lambda n: encode(SendChunk(q, acked + n, "x"))
    if kind == "duplicate":
        if acked == 0:
            await ws.send(encode(SendChunk(q, 1, "x")))
            await recv_until(ws, ChunkAcked, st)
        return encode(SendChunk(q, 1, "x"))
    if kind in ("closed-question", "previous-question"):
        while q < FLOOD_QUESTIONS - 1:  # close questions 0 and 1 (empty answers)
            await ws.send(encode(FinishAnswer(q, 0)))
            q = (await recv_until(ws, QuestionStarted, st)).q
        return encode(SendChunk(0 if kind == "closed-question" else q - 1, 1, "x"))
    if kind == "undecodable":
        return UNDECODABLE
    if kind == "text":
        return "x"
    raise ValueError(kind)


async def flood(url: str, kind: str, cred: dict[str, Any], until: float) -> FloodStats:
    """One flooding socket, connecting and joining again whenever it is closed."""
    st = FloodStats()
    while time.monotonic() < until:
        try:
            ws = await websockets.connect(
                url,
                subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
                compression=None,
                open_timeout=10,
                close_timeout=2,
                ping_interval=None,
                max_size=2**20,
            )
        except Exception:
            st.connect_failures += 1
            await asyncio.sleep(0.1)
            continue
        reader: asyncio.Task[None] | None = None
        try:
            await ws.send(encode(Join(cred["token"], cred["identity"], f"flood-{kind}")))
            await recv_until(ws, Joined, st)
            question = await recv_until(ws, QuestionStarted, st)
            st.joins += 1
            frame = await prepare(ws, kind, question.q, question.acked_seq, st)
            reader = asyncio.create_task(read_replies(ws, st))
            n = 0
            while time.monotonic() < until:
                n += 1
                await ws.send(frame(n) if callable(frame) else frame)
                st.frames += 1
                if n % YIELD_EVERY == 0:
                    await asyncio.sleep(0)
        except (websockets.ConnectionClosed, RuntimeError, TimeoutError):
            pass  # closed by the hub, refused, or no answer: connect again
        except Exception as exc:  # anything else is counted, and tried again
            st.replies[f"error {type(exc).__name__}"] += 1
        finally:
            if time.monotonic() >= until:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(ws.close(), 3)
            else:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(ws.wait_closed(), 3)
                st.closes[str(ws.close_code)] += 1
            if reader is not None:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await reader
    return st


async def read_replies(ws: Any, st: FloodStats) -> None:
    with contextlib.suppress(websockets.ConnectionClosed):
        async for data in ws:
            if isinstance(data, bytes):
                st.replies[reply_name(decode_server(data))] += 1


async def flood_phase(url: str, specs: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    until = time.monotonic() + seconds
    cpu0 = time.process_time()
    results = await asyncio.gather(*(flood(url, s["kind"], s, until) for s in specs))
    per_kind: dict[str, FloodStats] = {}
    total = FloodStats()
    for spec, st in zip(specs, results, strict=True):
        per_kind.setdefault(spec["kind"], FloodStats()).add(st)
        total.add(st)
    return {
        "total": total.as_dict(),
        "per_kind": {k: v.as_dict() for k, v in per_kind.items()},
        "cpu_s": time.process_time() - cpu0,
    }


def flooder_main(url: str, cpus: list[int] | None, nice: int, pipe: Connection) -> None:
    """Entry point of the flooder process: one flood phase per command."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    if cpus:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, set(cpus))
    if nice:
        os.nice(nice)
    try:
        while True:
            cmd = pipe.recv()
            if cmd[0] != "flood":
                break
            pipe.send(("result", asyncio.run(flood_phase(url, cmd[1], cmd[2]))))
    except Exception:
        with contextlib.suppress(Exception):
            pipe.send(("failed", traceback.format_exc()))
    finally:
        pipe.close()


# --- the bystanders and the joins (this process) -------------------------------------------


@dataclass
class Bystander:
    iv: str
    token: str
    identity: str
    slot: int
    ws: Any = None
    q: int = 0
    sent: int = 0
    acked: int = 0
    sent_t: array[float] = field(default_factory=lambda: array("d", [0.0]))
    closed: bool = False
    close_code: int | None = None


class Bystanders:
    def __init__(self, url: str, made: list[dict[str, Any]], rate: float) -> None:
        self.url = url
        self.rate = rate
        self.cands = [
            Bystander(m["interview_id"], m["token"], m["identity"], i) for i, m in enumerate(made)
        ]
        self.lat_t = array("d")  # when each acked chunk was sent
        self.lat_ms = array("d")  # and its chunk -> ack latency
        self.lag_t = array("d")  # when a chunk was due
        self.lag_ms = array("d")  # and how late it was sent
        self.loop_lag: list[tuple[float, float]] = []  # (time, ms late) of a 0.1 s sleep
        self.errors: Counter[str] = Counter()
        self.stop = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []
        self.typing: list[asyncio.Task[None]] = []

    async def join_all(self) -> None:
        sem = asyncio.Semaphore(32)

        async def one(c: Bystander) -> None:
            async with sem:
                c.ws = await websockets.connect(
                    self.url,
                    subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
                    compression=None,
                    open_timeout=20,
                    close_timeout=5,
                    ping_interval=None,
                    max_size=2**20,
                )
                await c.ws.send(encode(Join(c.token, c.identity, "bystander")))
                first = decode_server(await asyncio.wait_for(c.ws.recv(), 20))
                question = decode_server(await asyncio.wait_for(c.ws.recv(), 20))
                if not isinstance(first, Joined) or not isinstance(question, QuestionStarted):
                    raise RuntimeError(f"bystander join failed: {first!r} {question!r}")
                c.q = question.q
                self.tasks.append(asyncio.create_task(self.read(c)))

        await asyncio.gather(*(one(c) for c in self.cands))

    def start(self) -> None:
        t0 = time.monotonic() + 0.2
        self.typing = [asyncio.create_task(self.stream(c, t0)) for c in self.cands]
        self.tasks.append(asyncio.create_task(self.watch_loop()))

    async def read(self, c: Bystander) -> None:
        try:
            async for data in c.ws:
                msg = decode_server(data)
                if type(msg) is ChunkAcked:
                    now = time.monotonic()
                    top = min(msg.seq, c.sent)
                    for s in range(c.acked + 1, top + 1):
                        self.lat_t.append(c.sent_t[s])
                        self.lat_ms.append((now - c.sent_t[s]) * 1000)
                    c.acked = max(c.acked, top)
                else:
                    self.errors[f"unexpected {reply_name(msg)}"] += 1
        except Exception as exc:
            if not c.closed:
                self.errors[f"reader {type(exc).__name__}"] += 1
        finally:
            c.close_code = c.ws.close_code
            if not c.closed:
                c.closed = True
                self.errors[f"closed by the hub ({c.close_code})"] += 1

    async def stream(self, c: Bystander, t0: float) -> None:
        interval = 1.0 / self.rate
        start = t0 + interval * c.slot / len(self.cands)
        k = 0
        while not self.stop.is_set() and not c.closed:
            due = start + k * interval
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if self.stop.is_set() or c.closed:
                return
            k += 1
            now = time.monotonic()
            self.lag_t.append(due)
            self.lag_ms.append((now - due) * 1000)
            c.sent_t.append(now)
            c.sent = k
            try:
                await c.ws.send(encode(SendChunk(c.q, k, payload(c.iv, c.q, k))))
            except Exception as exc:
                self.errors[f"send {type(exc).__name__}"] += 1
                return

    async def watch_loop(self) -> None:
        while not self.stop.is_set():
            t = time.monotonic()
            await asyncio.sleep(0.1)
            self.loop_lag.append((t, (time.monotonic() - t - 0.1) * 1000))

    def window(self, t0: float, t1: float) -> dict[str, Any]:
        """Figures for chunks sent in [t0, t1)."""
        lat = [ms for t, ms in zip(self.lat_t, self.lat_ms, strict=True) if t0 <= t < t1]
        lags = sorted(ms for t, ms in zip(self.lag_t, self.lag_ms, strict=True) if t0 <= t < t1)
        loop = [ms for t, ms in self.loop_lag if t0 <= t < t1]
        return {
            "chunks_acked": len(lat),
            **{f"{k}_ms": v for k, v in stats(lat).items()},
            "gen_send_lag_p99_ms": round(percentile(lags, 99), 2),
            "gen_loop_lag_max_ms": round(max(loop, default=0.0), 2),
        }

    async def finish(self, timeout: float) -> None:
        """Stop typing, wait (bounded) for the last acks, then close every socket."""
        self.stop.set()
        await asyncio.gather(*self.typing)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(c.closed or c.acked >= c.sent for c in self.cands):
                break
            await asyncio.sleep(0.05)
        for c in self.cands:
            c.closed = True

        async def bye(c: Bystander) -> None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(c.ws.close(), 5)

        await asyncio.gather(*(bye(c) for c in self.cands))
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def join_every_second(url: str, creds: list[dict[str, Any]], seconds: float) -> list[Any]:
    """A new candidate joins every second; connect -> the open question, in ms (or the
    error)."""
    results: list[Any] = []

    async def one(cred: dict[str, Any]) -> None:
        client = CandidateClient(url, cred["token"], cred["identity"], "newcomer")
        started = time.monotonic()
        try:
            await asyncio.wait_for(client.join(), 20)
            results.append((time.monotonic() - started) * 1000)
        except Exception as exc:
            results.append(f"{type(exc).__name__}: {exc}"[:200])
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.close(), 5)

    tasks = []
    t0 = time.monotonic()
    for i, cred in enumerate(creds[: max(1, int(seconds))]):
        delay = t0 + i - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(cred)))
    await asyncio.gather(*tasks)
    return results


# --- the run -------------------------------------------------------------------------------


class Environment:
    """redis-server and the hub, started for one run."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="ihub-abuse-"))
        self.redis = EmbeddedRedis(
            self.tmp / "redis", port=free_port(), server_binary=args.redis_server
        )
        self.hub: HubProcess | None = None
        self.max_per_ip = args.bystanders + args.flooders + 100
        self.env = {"HUB_MAX_CONNECTIONS_PER_IP": str(self.max_per_ip)}
        self.settings = Settings.from_env({**os.environ, **self.env})  # the hub's, to report

    def start(self) -> None:
        self.redis.start()
        self.hub = HubProcess(
            port=free_port(),
            redis_url=self.redis.url,
            secret=DEFAULT_SECRET,
            master_keys=DEFAULT_MASTER_KEYS,
            data_dir=self.tmp / "hub",
            log_path=self.tmp / "hub.log",
            cpus=self.args.hub_cpu,
            env=self.env,
        )
        self.hub.start()

    def stop(self) -> None:
        if self.hub is not None:
            self.hub.stop()
        self.redis.stop()
        if self.args.keep_tmp:
            print(f"logs kept in {self.tmp}", file=sys.stderr)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


def floods_of(entry: str) -> list[str]:
    """The kinds of a flood phase: "all", "none" (a baseline again), or kinds joined by "+"."""
    if entry == "none":
        return []
    return list(FLOOD_KINDS) if entry == "all" else entry.split("+")


async def run_async(args: argparse.Namespace, env: Environment, pipe: Connection) -> dict[str, Any]:
    assert env.hub is not None
    url, redis_url = env.hub.ws_url, env.redis.url

    async def create(n: int, questions: int = 1) -> list[dict[str, Any]]:
        return await create_interviews(
            redis_url, DEFAULT_SECRET, n, questions=questions, master_keys=DEFAULT_MASTER_KEYS
        )

    made = await create(args.bystanders)
    phases = [(entry, floods_of(entry)) for entry in args.floods]
    flood_ivs = [await create(args.flooders, FLOOD_QUESTIONS) for _ in phases]
    joiners = [await create(max(1, int(args.phase_s))) for _ in phases]
    bystanders = Bystanders(url, made, args.rate)
    await bystanders.join_all()
    print(f"{len(made)} bystanders joined", flush=True)
    bystanders.start()
    loop = asyncio.get_running_loop()
    store = Store.from_url(redis_url)

    async def stored(ivs: list[dict[str, Any]]) -> int:
        return sum([await store.stored_chunk_count(m["interview_id"]) for m in ivs])

    async def stored_at(when: float, ivs: list[dict[str, Any]]) -> int:
        """What the flood interviews hold at ``when`` (the phase's end, not later: the hub
        goes on reading what the flooders left in their sockets)."""
        await asyncio.sleep(when - time.monotonic())
        return await stored(ivs)

    def cpu() -> dict[str, Any]:
        """CPU seconds so far: the hub, redis-server, this process; and every CPU's ticks."""
        return {
            "hub": proc_cpu_s(env.hub.pid if env.hub else None),
            "redis": proc_cpu_s(env.redis.process.pid),
            "gen": time.process_time(),
            "ticks": cpu_ticks(),
        }

    await asyncio.sleep(args.settle)
    windows: list[dict[str, Any]] = []
    try:
        # baseline
        t0, c0 = time.monotonic(), cpu()
        await asyncio.sleep(args.phase_s)
        t1, c1 = time.monotonic(), cpu()
        windows.append({"t0": t0, "t1": t1, "wall": t1 - t0, "cpu": (c0, c1)})
        for (entry, kinds), ivs, newcomers in zip(phases, flood_ivs, joiners, strict=True):
            await asyncio.sleep(args.settle)
            print(f"flood: {entry} ({len(kinds) and args.flooders} sockets)", flush=True)
            specs = [
                {**m, "kind": kinds[i % len(kinds)]}
                for i, m in enumerate(ivs[: args.flooders] if kinds else [])
            ]
            before = await stored(ivs)
            t0, c0 = time.monotonic(), cpu()
            pipe.send(("flood", specs, args.phase_s))
            result_f = loop.run_in_executor(None, pipe.recv)

            at_end = asyncio.create_task(stored_at(t0 + args.phase_s, ivs))
            joins = await join_every_second(url, newcomers, args.phase_s)
            result = await asyncio.wait_for(result_f, args.phase_s + 60)
            t1, c1 = time.monotonic(), cpu()
            if result[0] != "result":
                raise RuntimeError(f"the flooders failed:\n{result[1]}")
            windows.append(
                {
                    "entry": entry,
                    "kinds": kinds,
                    "t0": t0,
                    "t1": t0 + args.phase_s,
                    "wall": t1 - t0,
                    "cpu": (c0, c1),
                    "joins": joins,
                    "flood": result[1],
                    "stored": await at_end - before,
                }
            )
        await asyncio.sleep(args.settle)
        await bystanders.finish(args.drain_timeout)
    finally:
        await store.close()
    acked = {c.iv: {c.q: c.acked} for c in bystanders.cands}
    check = await check_chunks(redis_url, acked, master_keys=DEFAULT_MASTER_KEYS)
    return summarise(args, env, bystanders, windows, check)


def cpu_figures(w: dict[str, Any], flood_cpu_s: float = 0.0) -> dict[str, Any]:
    """Who used the CPUs in a window: the hub, redis-server, this process (the bystanders),
    the flooders, and every CPU's busy share (anything else on it is another process's)."""
    c0, c1 = w["cpu"]
    seconds = w["wall"]

    def util(name: str) -> float | None:
        a, b = c0[name], c1[name]
        return None if a is None or b is None else round((b - a) / seconds, 3)

    return {
        "hub_cpu_util": util("hub"),
        "redis_cpu_util": util("redis"),
        "gen_cpu_util": util("gen"),
        "flood_cpu_util": round(flood_cpu_s / seconds, 3),
        "cpu_busy": cpu_busy(c0["ticks"], c1["ticks"]),
    }


def summarise(
    args: argparse.Namespace,
    env: Environment,
    bystanders: Bystanders,
    windows: list[dict[str, Any]],
    check: dict[str, Any],
) -> dict[str, Any]:
    base = windows[0]
    baseline = {**bystanders.window(base["t0"], base["t1"]), **cpu_figures(base)}
    floods = []
    quiet_p99 = baseline["p99_ms"]  # of the last phase without a flood
    for w in windows[1:]:
        fig = bystanders.window(w["t0"], w["t1"])
        ok = sorted(x for x in w["joins"] if isinstance(x, float))
        failed = [x for x in w["joins"] if not isinstance(x, float)]
        total = w["flood"]["total"]
        floods.append(
            {
                "floods": w["entry"],
                "kinds": w["kinds"],
                "bystanders": fig,
                "p99_ratio": round(fig["p99_ms"] / baseline["p99_ms"], 2)
                if baseline["p99_ms"]
                else None,
                "p99_ratio_to_last_quiet": round(fig["p99_ms"] / quiet_p99, 2)
                if quiet_p99
                else None,
                **cpu_figures(w, w["flood"]["cpu_s"]),
                "joins": {
                    "attempts": len(w["joins"]),
                    "ok": len(ok),
                    **{f"{k}_ms": v for k, v in stats(ok).items()},
                    "failures": failed[:5],
                },
                "flooders": {
                    "sockets": args.flooders,
                    "frames_per_s": round(total["frames"] / args.phase_s, 1),
                    "chunks_stored_per_s": round(w["stored"] / args.phase_s, 1),
                    "joins_per_s": round(total["joins"] / args.phase_s, 2),
                    **total,
                    "per_kind": w["flood"]["per_kind"],
                },
            }
        )
        if not w["kinds"]:
            quiet_p99 = fig["p99_ms"]
    text = env.hub.log_text() if env.hub else ""
    sent = sum(c.sent for c in bystanders.cands)
    acked = sum(c.acked for c in bystanders.cands)
    s = env.settings
    return {
        "bystanders": args.bystanders,
        "rate": args.rate,
        "phase_s": args.phase_s,
        "flooders": args.flooders,
        "hub_settings": {
            "HUB_CHUNKS_PER_S": s.chunks_per_s,
            "HUB_CHUNK_BURST": s.chunk_burst,
            "HUB_CHUNK_BYTES_PER_S": s.chunk_bytes_per_s,
            "HUB_MAX_USELESS_CHUNKS": s.max_useless_chunks,
            "HUB_MAX_BAD_MESSAGES": s.max_bad_messages,
            "HUB_MAX_CONNECTIONS_PER_IP": env.max_per_ip,
        },
        "baseline": baseline,
        "floods": floods,
        "bystander_sent": sent,
        "bystander_acked": acked,
        "bystander_unacked": sent - acked,
        "bystander_errors": dict(bystanders.errors),
        "lost": check["lost"],
        "duplicated": check["duplicated"],
        "reordered": check["reordered"],
        "corrupted": check["corrupted"],
        "hub_tracebacks": len(tracebacks(text)),
        "hub_traceback_samples": tracebacks(text)[:5],
        "hub_log_problems": len(log_problems(text)[0]),
        "hub_cpu_pinned": args.hub_cpu,
        "load_cpu_pinned": args.load_cpu,
        "flood_cpu_pinned": args.flood_cpu,
        "flood_nice": args.flood_nice,
    }


def print_human(s: dict[str, Any]) -> None:
    b = s["baseline"]
    print(
        f"\n== interview-hub abuse bench: {s['bystanders']} bystanders x {s['rate']}/s, "
        f"{s['flooders']} flooding sockets, {s['phase_s']} s a phase"
    )
    print(
        f"baseline        : p50 {b['p50_ms']} ms, p99 {b['p99_ms']} ms, max {b['max_ms']} ms; "
        f"hub cpu {b['hub_cpu_util']}; cpus busy {b['cpu_busy']}; generator loop lag max "
        f"{b['gen_loop_lag_max_ms']} ms"
    )
    for f in s["floods"]:
        by, fl, j = f["bystanders"], f["flooders"], f["joins"]
        print(
            f"{f['floods']:<16}: p50 {by['p50_ms']} ms, p99 {by['p99_ms']} ms (x{f['p99_ratio']}),"
            f" max {by['max_ms']} ms; hub cpu {f['hub_cpu_util']}; joins {j['ok']}/"
            f"{j['attempts']} p50 {j['p50_ms']} ms max {j['max_ms']} ms; flood "
            f"{fl['frames_per_s']} frames/s, {fl['chunks_stored_per_s']} stored/s, "
            f"{fl['joins_per_s']} joins/s, closes {fl['closes']}; cpus busy {f['cpu_busy']}, "
            f"flooders {f['flood_cpu_util']}, generator loop lag max "
            f"{by['gen_loop_lag_max_ms']} ms"
        )
    print(
        f"bystanders      : sent {s['bystander_sent']}, acked {s['bystander_acked']}, lost "
        f"{s['lost']}, duplicated {s['duplicated']}, errors {s['bystander_errors']}"
    )
    print(f"hub log         : {s['hub_tracebacks']} tracebacks, {s['hub_log_problems']} warnings")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m loadtests.abuse_bench",
        description="Bystanders' chunk -> ack latency without and with a flood of abusive "
        "sockets; join latency during the flood.",
    )
    p.add_argument("--bystanders", type=int, default=200)
    p.add_argument("--rate", type=float, default=10.0, help="chunks per second per bystander")
    p.add_argument("--flooders", type=int, default=2, help="flooding sockets (K)")
    p.add_argument(
        "--floods",
        default="all",
        help="flood phases, comma-separated; each is kinds joined by '+', or 'all' "
        f"(kinds: {', '.join(FLOOD_KINDS)})",
    )
    p.add_argument("--phase-s", type=float, default=20.0, help="seconds of each phase")
    p.add_argument("--settle", type=float, default=3.0, help="seconds between phases")
    p.add_argument("--drain-timeout", type=float, default=30.0)
    p.add_argument("--redis-server", default="", help="redis-server binary (default: PATH's)")
    p.add_argument("--hub-cpu", help="CPU list for the hub (default 0 on 2+ cores)")
    p.add_argument("--load-cpu", help="CPU list for redis and the bystanders (default 1)")
    p.add_argument("--flood-cpu", help="CPU list for the flooders (default: --load-cpu)")
    p.add_argument("--flood-nice", type=int, default=0, help="niceness of the flooder process")
    p.add_argument("--no-pin", action="store_true", help="pin nothing")
    p.add_argument("--keep-tmp", action="store_true", help="keep the temp dir (hub log)")
    args = p.parse_args(argv)
    args.floods = [e.strip() for e in args.floods.split(",") if e.strip()]
    for entry in args.floods:
        unknown = set(floods_of(entry)) - set(FLOOD_KINDS)
        if unknown:
            p.error(f"unknown flood kinds {sorted(unknown)}; known: {', '.join(FLOOD_KINDS)}")
    if args.bystanders < 1 or args.rate <= 0 or args.flooders < 1 or args.phase_s <= 0:
        p.error("--bystanders, --rate, --flooders and --phase-s must be positive")
    args.redis_server = args.redis_server or find_redis_server()
    online = sorted(os.sched_getaffinity(0))
    if args.no_pin or len(online) < 2:
        args.hub_cpu = args.load_cpu = args.flood_cpu = None
    else:
        args.hub_cpu = args.hub_cpu or str(online[0])
        args.load_cpu = args.load_cpu or str(online[1])
        args.flood_cpu = args.flood_cpu or args.load_cpu
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    if args.load_cpu:
        os.sched_setaffinity(0, parse_cpus(args.load_cpu))  # redis-server inherits it
    env = Environment(args)
    flooder: Any = None
    parent, child = mp.get_context("spawn").Pipe()
    try:
        env.start()
        assert env.hub is not None
        cpus = sorted(parse_cpus(args.flood_cpu)) if args.flood_cpu else None
        flooder = mp.get_context("spawn").Process(
            target=flooder_main,
            args=(env.hub.ws_url, cpus, args.flood_nice, child),
            daemon=True,
        )
        flooder.start()
        child.close()
        print(
            f"hub :{env.hub.port} on cpu {args.hub_cpu or 'any'}; redis, bystanders on cpu "
            f"{args.load_cpu or 'any'}; flooders on cpu {args.flood_cpu or 'any'}",
            flush=True,
        )
        summary = asyncio.run(run_async(args, env, parent))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        env.stop()
        return 2
    except Exception as exc:
        print(f"abuse bench failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        traceback.print_exc()
        if env.hub is not None:
            print(env.hub.log_tail(), file=sys.stderr)
        env.stop()
        return 2
    finally:
        with contextlib.suppress(Exception):
            parent.send(("stop",))
        if flooder is not None:
            flooder.join(10)
            if flooder.is_alive():
                flooder.terminate()
    env.stop()
    print_human(summary)
    print(json.dumps(summary, ensure_ascii=False), flush=True)
    failed = ("lost", "duplicated", "reordered", "corrupted", "bystander_unacked")
    return 1 if any(summary[k] for k in failed) or summary["bystander_errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
