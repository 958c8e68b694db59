"""Locust scenario: candidates who join, stream answers, drop and resume, finish and exit.

    INTERVIEW_HUB_REDIS_URL=redis://127.0.0.1:6379/0 INTERVIEW_HUB_SECRET=$HUB_SECRET \\
        INTERVIEW_HUB_MASTER_KEYS=$HUB_MASTER_KEYS \\
        locust -f loadtests/locustfile.py --headless -u 200 -r 50 -t 60s --host ws://127.0.0.1:8000

Each simulated candidate takes an interview from a pool, joins over the candidate socket
(``/ws/candidate``, subprotocol ``interview-hub.v1``, msgpack via ``protocol.codec``) and
streams answer chunks at a steady pace. Now and then it drops the connection without a
close handshake and resumes: it joins again and resends every chunk the hub's
``QuestionStarted.acked_seq`` does not cover. Now and then it asks to exit (and either
cancels or confirms). An answer of a few dozen chunks is closed with ``finish``; after the
last question, or after an exit, the user takes the next interview from the pool.

Interviews. At test start (locust's ``test_start`` event, on every process that runs
users) the locustfile creates them itself, in the hub's Redis, with
``server.interviews.create_interview`` -- run as ``python -m loadtests.interviews create``
in a subprocess so no asyncio loop runs inside gevent. It needs:

    INTERVIEW_HUB_REDIS_URL   the Redis the hub uses (the hub's REDIS_URL)
    INTERVIEW_HUB_SECRET      the hub's HUB_SECRET (it keys the identity hashes)
    INTERVIEW_HUB_MASTER_KEYS the hub's HUB_MASTER_KEYS (data keys are wrapped with it)

and refills the pool the same way when it runs dry. Or prepare a list beforehand and
point at it (the pool is then not refilled; one interview serves one user run):

    python -m loadtests.interviews --redis-url ... --secret ... create --count 2000 \\
        --questions 3 --out pool.json
    INTERVIEW_HUB_INTERVIEWS=pool.json locust -f loadtests/locustfile.py ...

At test stop, when INTERVIEW_HUB_REDIS_URL is set, every interview's chunk stream is
checked against what the users saw acknowledged: ``lost`` (acked, not in Redis) and
``duplicated`` (a (q, seq) stored twice) show up as failures named ``verify: lost`` and
``verify: duplicated`` (and make locust exit 1).

Tuning (environment, all optional):

    INTERVIEW_HUB_POOL              interviews created at start (default 3 x users + 20)
    INTERVIEW_HUB_QUESTIONS         questions per interview (default 3)
    INTERVIEW_HUB_CHUNK_INTERVAL_S  seconds between chunks of one user (default 0.2)
    INTERVIEW_HUB_ANSWER_CHUNKS     chunks per answer, "min-max" (default 20-60)
    INTERVIEW_HUB_DROP_P            per chunk: drop the connection and resume (0.005)
    INTERVIEW_HUB_EXIT_P            per chunk: ask to exit (0.002)
    INTERVIEW_HUB_CANCEL_P          of those exits: cancel instead of confirm (0.3)
    INTERVIEW_HUB_ORIGIN            an Origin header to send (default: none)

Request statistics: ``chunk→ack`` (per chunk, send to the first ack covering it; a chunk
resent after a reconnect is timed from its resend), ``join``, ``resume``, ``finish``
(finish -> next question), ``exit_request`` (-> preview), ``exit`` (confirm -> exited),
and failures such as ``connection lost``, ``refused:<reason>`` or ``exit: unacked``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import OrderedDict, deque
from pathlib import Path
from typing import Any

import gevent
import gevent.event
import gevent.lock
import gevent.queue
import websocket
from locust import User, constant, events, task
from locust.exception import StopUser

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from loadtests.interviews import payload  # noqa: E402
from protocol import SUBPROTOCOL  # noqa: E402
from protocol.codec import decode_server, encode  # noqa: E402
from protocol.messages import (  # noqa: E402
    AnswerSaved,
    CancelExit,
    ChunkAcked,
    Completed,
    ConfirmExit,
    Exited,
    ExitPreviewed,
    FinishAnswer,
    Join,
    Joined,
    QuestionStarted,
    Refused,
    RequestExit,
    SendChunk,
)

log = logging.getLogger("interview_hub.locust")


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "")
    return float(raw) if raw else default


def _answer_range() -> tuple[int, int]:
    raw = os.environ.get("INTERVIEW_HUB_ANSWER_CHUNKS", "20-60")
    lo, _, hi = raw.partition("-")
    return int(lo), int(hi or lo)


REDIS_URL = os.environ.get("INTERVIEW_HUB_REDIS_URL", "")
SECRET = os.environ.get("INTERVIEW_HUB_SECRET", "")
PREPARED = os.environ.get("INTERVIEW_HUB_INTERVIEWS", "")
QUESTIONS = int(_env_float("INTERVIEW_HUB_QUESTIONS", 3))
CHUNK_INTERVAL_S = _env_float("INTERVIEW_HUB_CHUNK_INTERVAL_S", 0.2)
ANSWER_CHUNKS = _answer_range()
DROP_P = _env_float("INTERVIEW_HUB_DROP_P", 0.005)
EXIT_P = _env_float("INTERVIEW_HUB_EXIT_P", 0.002)
CANCEL_P = _env_float("INTERVIEW_HUB_CANCEL_P", 0.3)
ORIGIN = os.environ.get("INTERVIEW_HUB_ORIGIN", "")
TIMEOUT_S = 15.0
MAX_RESUME_TRIES = 3

# --- the interview pool, and what users saw acknowledged (for the check at test stop) ----

POOL: deque[dict[str, Any]] = deque()
_pool_lock = gevent.lock.Semaphore()
_next_index = [int(time.time() * 1000) % 10**7 * 10]  # distinct phone numbers per run
_refill_size = [50]
ACKED: dict[str, dict[int, int]] = {}  # interview id -> {q: highest acked seq}
OPEN: set[Any] = set()  # live connections, closed at test stop


def _subprocess_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), *sys.path]))}


def create_batch(count: int) -> list[dict[str, Any]]:
    """Create ``count`` interviews in the hub's Redis (in a subprocess: no asyncio here)."""
    first = _next_index[0]
    _next_index[0] += count
    cmd = [sys.executable, "-m", "loadtests.interviews", "--redis-url", REDIS_URL]
    cmd += ["--secret", SECRET, "create", "--count", str(count)]
    cmd += ["--questions", str(QUESTIONS), "--first-index", str(first)]
    out = subprocess.run(
        cmd, cwd=ROOT, env=_subprocess_env(), capture_output=True, timeout=300, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"creating interviews failed: {out.stderr.decode()[-2000:]}")
    made: list[dict[str, Any]] = json.loads(out.stdout)
    return made


def take_interview() -> dict[str, Any] | None:
    with _pool_lock:
        if not POOL and REDIS_URL and SECRET and not PREPARED:
            try:
                POOL.extend(create_batch(_refill_size[0]))
            except Exception as exc:
                log.error("%s", exc)
        return POOL.popleft() if POOL else None


@events.test_start.add_listener
def on_test_start(environment: Any, **_: Any) -> None:
    runner = environment.runner
    if runner is not None and type(runner).__name__ == "MasterRunner":
        return  # the workers run the users and make their own interviews
    if PREPARED:
        with open(PREPARED, encoding="utf-8") as fh:
            POOL.extend(json.load(fh))
        log.info("loaded %d prepared interviews from %s", len(POOL), PREPARED)
        return
    if not (REDIS_URL and SECRET):
        raise RuntimeError(
            "set INTERVIEW_HUB_REDIS_URL and INTERVIEW_HUB_SECRET (the hub's Redis and "
            "HUB_SECRET), or INTERVIEW_HUB_INTERVIEWS to a prepared list"
        )
    users = getattr(environment.parsed_options, "num_users", None) or 100
    size = int(_env_float("INTERVIEW_HUB_POOL", users * 3 + 20))
    _refill_size[0] = max(20, users // 2)
    started = time.monotonic()
    POOL.extend(create_batch(size))
    log.info("created %d interviews in %.1f s", size, time.monotonic() - started)


@events.test_stop.add_listener
def on_test_stop(environment: Any, **_: Any) -> None:
    for conn in list(OPEN):
        conn.abort()
    if not ACKED or not REDIS_URL:
        return
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(ACKED, fh)
        path = fh.name
    try:
        cmd = [sys.executable, "-m", "loadtests.interviews", "--redis-url", REDIS_URL]
        cmd += ["verify", "--acked", path]
        out = subprocess.run(
            cmd, cwd=ROOT, env=_subprocess_env(), capture_output=True, timeout=300, check=False
        )
        result = json.loads(out.stdout) if out.stdout.strip() else None
    finally:
        os.unlink(path)
    if result is None:
        log.error("verify failed: %s", out.stderr.decode()[-2000:])
        return
    summary = {k: v for k, v in result.items() if k != "problems"}
    log.info("verify: %s", json.dumps(summary))
    print(f"interview-hub verify: {json.dumps(summary)}", file=sys.stderr)
    for p in result["problems"][:10]:
        log.error("verify: %s", p)
    for name in ("lost", "duplicated", "corrupted"):
        if result[name]:
            environment.events.request.fire(
                request_type="verify",
                name=f"verify: {name}",
                response_time=0,
                response_length=result[name],
                exception=RuntimeError(f"{result[name]} chunks {name}"),
            )
            environment.process_exit_code = 1


# --- one candidate socket ------------------------------------------------------------------


class Closed(Exception):
    def __init__(self, code: int | None, why: str = "") -> None:
        super().__init__(f"socket closed ({code}) {why}".strip())
        self.code = code


class Connection:
    """A websocket-client socket with a reader greenlet: acks go to the user, the rest queue."""

    def __init__(self, user: Candidate, url: str) -> None:
        self.user = user
        options: dict[str, Any] = {"subprotocols": [SUBPROTOCOL], "enable_multithread": True}
        if ORIGIN:
            options["origin"] = ORIGIN
        else:
            options["suppress_origin"] = True
        self.ws = websocket.create_connection(url, timeout=TIMEOUT_S, **options)
        self.ws.settimeout(None)
        self.inbox: gevent.queue.Queue[Any] = gevent.queue.Queue()
        self.closed = False
        self.close_code: int | None = None
        OPEN.add(self)
        self.reader = gevent.spawn(self._read)

    def _read(self) -> None:
        try:
            while True:
                opcode, frame = self.ws.recv_data_frame(True)
                if opcode == websocket.ABNF.OPCODE_BINARY:
                    msg = decode_server(frame.data if hasattr(frame, "data") else frame)
                    if type(msg) is ChunkAcked:
                        self.user.on_ack(msg)
                    else:
                        self.inbox.put(msg)
                elif opcode == websocket.ABNF.OPCODE_CLOSE:
                    data = frame.data
                    if len(data) >= 2:
                        self.close_code = int.from_bytes(data[:2], "big")
                    break
        except Exception as exc:
            # closed under us (drop, abort, network): the user notices via `closed`
            if not self.closed:
                log.debug("reader ended: %r", exc)
        finally:
            self.closed = True
            OPEN.discard(self)
            self.inbox.put(None)
            self.user.acked_event.set()

    def send(self, msg: Any) -> None:
        self.ws.send_binary(encode(msg))

    def next(self, timeout: float = TIMEOUT_S) -> Any:
        """The next non-ack message; Closed when the socket closed, Empty on timeout."""
        msg = self.inbox.get(timeout=timeout)
        if msg is None:
            self.inbox.put(None)
            raise Closed(self.close_code)
        return msg

    def poll(self) -> list[Any]:
        """Messages already queued (without waiting)."""
        out = []
        while not self.inbox.empty():
            msg = self.inbox.get_nowait()
            if msg is None:
                self.inbox.put(None)
                break
            out.append(msg)
        return out

    def abort(self) -> None:
        """Lose the connection: no close handshake, as a network failure would."""
        self.closed = True
        with contextlib.suppress(Exception):
            self.ws.shutdown()
        OPEN.discard(self)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.ws.close(timeout=2)
        self.abort()


# --- the user --------------------------------------------------------------------------------


class Candidate(User):
    wait_time = constant(0)

    def on_start(self) -> None:
        host = (self.host or self.environment.host or "ws://127.0.0.1:8000").rstrip("/")
        if host.startswith("http"):
            host = "ws" + host[4:]
        self.url = host if host.count("/") > 2 else f"{host}/ws/candidate"
        self.conn: Connection | None = None
        self.iv: dict[str, Any] = {}
        self.q = -1
        self.next_seq = 1
        self.outbox: OrderedDict[int, tuple[str, float]] = OrderedDict()
        self.acked_event = gevent.event.Event()  # set by every ack (and by a socket closing)

    # statistics
    def fire(
        self, name: str, started: float, length: int = 0, exc: Exception | None = None
    ) -> None:
        self.environment.events.request.fire(
            request_type="ws",
            name=name,
            response_time=(time.perf_counter() - started) * 1000,
            response_length=length,
            exception=exc,
            context={},
        )

    def fail(self, name: str, exc: Exception | str) -> None:
        self.fire(
            name, time.perf_counter(), 0, exc if isinstance(exc, Exception) else Exception(exc)
        )

    def on_ack(self, ack: ChunkAcked) -> None:
        if ack.q != self.q:
            return
        now = time.perf_counter()
        outbox = self.outbox
        while outbox:
            seq = next(iter(outbox))
            if seq > ack.seq:
                break
            _, (data, sent) = outbox.popitem(last=False)
            self.environment.events.request.fire(
                request_type="ws",
                name="chunk→ack",
                response_time=(now - sent) * 1000,
                response_length=len(data),
                exception=None,
                context={},
            )
        acked = ACKED.setdefault(self.iv["interview_id"], {})
        if ack.seq > acked.get(self.q, 0):
            acked[self.q] = ack.seq
        self.acked_event.set()

    # the flow
    @task
    def take_interviews(self) -> None:
        iv = take_interview()
        if iv is None:
            self.fail("take interview", "the interview pool is empty")
            raise StopUser()
        try:
            self.run_interview(iv)
        except (Closed, gevent.queue.Empty, OSError, websocket.WebSocketException) as exc:
            self.fail("interview aborted", exc)
        finally:
            if self.conn is not None:
                self.conn.close()
                self.conn = None

    def on_stop(self) -> None:
        if getattr(self, "conn", None) is not None:
            self.conn.abort()

    def join(self, name: str) -> QuestionStarted | Completed:
        started = time.perf_counter()
        self.conn = Connection(self, self.url)
        self.conn.send(Join(self.iv["token"], self.iv["identity"], "locust"))
        first = self.conn.next()
        if isinstance(first, Refused):
            raise Closed(self.conn.close_code, f"join refused: {first.reason}")
        if not isinstance(first, Joined):
            raise Closed(self.conn.close_code, f"expected joined, got {type(first).__name__}")
        nxt = self.conn.next()
        while isinstance(nxt, AnswerSaved):
            nxt = self.conn.next()
        if not isinstance(nxt, QuestionStarted | Completed):
            raise Closed(self.conn.close_code, f"expected question, got {type(nxt).__name__}")
        self.fire(name, started)
        return nxt

    def open_question(self, qs: QuestionStarted) -> None:
        """Adopt the server's view of the open question; keep only what it lacks."""
        if qs.q != self.q:
            self.q = qs.q
            self.outbox.clear()
            self.next_seq = qs.acked_seq + 1
        else:
            while self.outbox and next(iter(self.outbox)) <= qs.acked_seq:
                self.outbox.popitem(last=False)
            self.next_seq = max(self.next_seq, qs.acked_seq + 1)
        if qs.acked_seq:
            acked = ACKED.setdefault(self.iv["interview_id"], {})
            acked[qs.q] = max(acked.get(qs.q, 0), qs.acked_seq)

    def run_interview(self, iv: dict[str, Any]) -> None:
        self.iv = iv
        self.q = -1
        self.outbox.clear()
        try:
            nxt = self.join("join")
        except Exception as exc:
            self.fail("join", exc)
            return
        while isinstance(nxt, QuestionStarted):
            self.open_question(nxt)
            target = random.randint(*ANSWER_CHUNKS)
            due = time.perf_counter()
            while self.next_seq <= target:
                due += CHUNK_INTERVAL_S
                gevent.sleep(max(0.0, due - time.perf_counter()))
                self.check_inbox()
                if self.conn is None or self.conn.closed:
                    self.fail(
                        "connection lost", Closed(self.conn.close_code if self.conn else None)
                    )
                    if not self.resume():
                        return
                    continue
                r = random.random()
                if r < DROP_P:
                    self.conn.abort()
                    if not self.resume():
                        return
                    continue
                if r < DROP_P + EXIT_P:
                    if self.exit():
                        return
                    continue
                self.send_chunk()
            nxt = self.finish()
            if nxt is None:
                return

    def send_chunk(self) -> None:
        assert self.conn is not None
        seq = self.next_seq
        self.next_seq += 1
        data = payload(self.iv["interview_id"], self.q, seq)
        self.outbox[seq] = (data, time.perf_counter())
        with contextlib.suppress(Exception):  # kept in the outbox; resent after a resume
            self.conn.send(SendChunk(self.q, seq, data))

    def check_inbox(self) -> None:
        if self.conn is None:
            return
        for msg in self.conn.poll():
            if isinstance(msg, Refused):
                self.fail(f"refused:{msg.reason}", f"{msg.reason} ({msg.refused_type})")
            else:
                self.fail("unexpected message", type(msg).__name__)

    def resume(self) -> bool:
        """Join again after a lost connection and resend what the server lacks."""
        for attempt in range(MAX_RESUME_TRIES):
            if self.conn is not None:
                self.conn.abort()
            try:
                nxt = self.join("resume")
            except Exception as exc:
                self.fail("resume", exc)
                gevent.sleep(0.5 * (attempt + 1))
                continue
            if isinstance(nxt, Completed):
                return False
            self.open_question(nxt)
            now = time.perf_counter()
            try:
                for seq, (data, _) in list(self.outbox.items()):
                    self.outbox[seq] = (data, now)
                    self.conn.send(SendChunk(self.q, seq, data))  # type: ignore[union-attr]
            except Exception as exc:
                self.fail("resume", exc)
                continue
            return True
        return False

    def wait_acked(self, timeout: float = TIMEOUT_S) -> bool:
        deadline = time.perf_counter() + timeout
        while self.outbox and time.perf_counter() < deadline:
            if self.conn is None or self.conn.closed:
                return False
            self.acked_event.clear()
            if self.outbox:
                self.acked_event.wait(max(0.0, deadline - time.perf_counter()))
        return not self.outbox

    def finish(self) -> QuestionStarted | None:
        assert self.conn is not None
        started = time.perf_counter()
        if not self.wait_acked():
            self.fail("finish", "chunks not acknowledged before finish")
            if not self.resume() or not self.wait_acked():
                return None
        self.conn.send(FinishAnswer(self.q, self.next_seq - 1))
        saved = self.conn.next()
        if not isinstance(saved, AnswerSaved):
            self.fail("finish", f"expected answer_saved, got {saved!r}")
            return None
        nxt = self.conn.next()
        self.fire("finish", started)
        if isinstance(nxt, QuestionStarted):
            return nxt
        if not isinstance(nxt, Completed):
            self.fail("finish", f"expected question or completed, got {type(nxt).__name__}")
        return None

    def exit(self) -> bool:
        """Ask to exit; cancel or confirm. True when the candidate left."""
        assert self.conn is not None
        started = time.perf_counter()
        self.conn.send(RequestExit())
        preview = self.conn.next()
        if not isinstance(preview, ExitPreviewed):
            self.fail("exit_request", f"expected exit_preview, got {preview!r}")
            return True
        self.fire("exit_request", started)
        if random.random() < CANCEL_P:
            self.conn.send(CancelExit())
            return False
        started = time.perf_counter()
        self.conn.send(ConfirmExit())
        msg = self.conn.next()
        while isinstance(msg, AnswerSaved):
            msg = self.conn.next()
        if not isinstance(msg, Exited):
            self.fail("exit", f"expected exited, got {msg!r}")
            return True
        self.fire("exit", started)
        # the hub saves (and acks) everything sent before the confirm, then says exited
        if self.outbox:
            self.fail("exit: unacked", f"{len(self.outbox)} chunks unacknowledged at exited")
        return True
