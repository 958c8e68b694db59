"""The message router fuzzed over live sockets: every frame gets its documented answer.

``tests/protocol/test_fuzz.py`` fuzzes the pure decoders. Here the frames go through a
running ``interview-hub serve`` (relaxed rate and bad-message limits, so one socket can
take many inputs): the candidate socket (hypothesis, then a seeded bulk run of
``INTERVIEW_HUB_FUZZ_FRAMES`` frames, default 100,000) and the HR monitor socket. The hub
must answer each frame as SPEC §1.4/§11-§13/§15 say, keep serving a healthy session,
store exactly the chunks it acknowledged, and not grow its memory. ``docs/fuzzing.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import msgpack
import pytest
import websockets
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from client.candidate import CandidateClient
from client.monitor import MonitorClient
from protocol import SUBPROTOCOL
from protocol.codec import (
    MAX_SAFE_INT,
    ProtocolError,
    decode_client,
    decode_monitor_client,
    decode_server,
    encode,
)
from protocol.messages import (
    CLIENT_TYPES,
    MONITOR_CLIENT_TYPES,
    MONITOR_SERVER_TYPES,
    SERVER_TYPES,
    AnswerSaved,
    Authenticate,
    Behind,
    CancelExit,
    ChunkAcked,
    Completed,
    ConfirmExit,
    EndDone,
    EndInterview,
    Exited,
    ExitPreviewed,
    FinishAnswer,
    Join,
    Joined,
    LiveChunk,
    LiveEvent,
    QuestionStarted,
    Refused,
    RequestExit,
    SendChunk,
    Unwatch,
    Watch,
    Watching,
)
from protocol.reasons import Reason
from server.interviews import create_interview
from tests.conftest import PHONE, Hub, interview_body, make_org, now_ms, spec, start_hub

# a fuzz run: its own command (README, "Long runs")
pytestmark = pytest.mark.long

RELAXED = {
    "HUB_COMMANDS_PER_S": "100000",
    "HUB_COMMAND_BURST": "100000",
    "HUB_MAX_BAD_MESSAGES": "1000000000",
    "HUB_MAX_USELESS_CHUNKS": "1000000000",
    "HUB_CHUNKS_PER_S": "0",  # no flow control: the fuzz is about answers, not rates
}
MAX_MESSAGE = 64 * 1024  # HUB_MAX_MESSAGE_BYTES default: bigger frames are closed with 1009
MAX_CHUNK = 16_384  # HUB_MAX_CHUNK_BYTES default
REPLY_WAIT_S = 10.0  # "bounded wait": an answer that takes longer is a failure
QUESTIONS = 3
KNOWN_REASONS = {str(r) for r in Reason}
SERVER_ONLY = sorted(SERVER_TYPES)
MONITOR_ONLY = sorted(set(MONITOR_CLIENT_TYPES) | set(MONITOR_SERVER_TYPES))


@pytest.fixture(scope="module")
def fuzz_hub(redis_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """A hub of this module's own, with the rate and bad-message limits relaxed."""
    running = start_hub(redis_server.url, tmp_path_factory.mktemp("fuzzhub"), **RELAXED)
    yield running
    running.stop()


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def assert_refusal_well_formed(msg: Refused) -> None:
    assert msg.reason in KNOWN_REASONS or msg.reason.startswith("permission_denied:"), msg
    assert msg.message.get("en") and msg.message.get("zh-CN"), msg


async def new_interview(store: Any, settings_: Any, questions: int = QUESTIONS) -> tuple[str, str]:
    created = await create_interview(store, settings_, spec(questions), now_ms())
    return created.interview_id, created.token


async def open_candidate(hub: Hub, token: str) -> tuple[Any, QuestionStarted]:
    """A raw joined candidate socket and the question the join opened."""
    ws = await websockets.connect(
        hub.ws, subprotocols=[SUBPROTOCOL], max_size=None, compression=None
    )
    await ws.send(encode(Join(token, PHONE, "fuzz")))
    joined = decode_server(await asyncio.wait_for(ws.recv(), REPLY_WAIT_S))
    assert isinstance(joined, Joined), joined
    question = decode_server(await asyncio.wait_for(ws.recv(), REPLY_WAIT_S))
    assert isinstance(question, QuestionStarted), question
    return ws, question


def close_code(ws: Any, exc: websockets.ConnectionClosed | None = None) -> int:
    if exc is not None and exc.rcvd is not None:
        return int(exc.rcvd.code)
    return int(ws.close_code) if ws.close_code is not None else -1


# --- 1. hypothesis: one frame at a time, each answer predicted exactly ----------------------

EDGE_INTS = [
    -(2**63),
    -(2**31),
    -2,
    -1,
    0,
    1,
    2,
    3,
    2**31,
    2**32,
    MAX_SAFE_INT,
    MAX_SAFE_INT + 1,
    2**63 - 1,
    2**64 - 1,
]
ints = st.one_of(st.sampled_from(EDGE_INTS), st.integers(-(2**63), 2**64 - 1))
small_ints = st.one_of(st.integers(-1, 4), st.sampled_from(EDGE_INTS))
texts = st.text(max_size=12)
blobs = st.binary(max_size=12)
scalars = st.one_of(
    ints,
    texts,
    blobs,
    st.booleans(),
    st.none(),
    st.floats(),
    st.builds(msgpack.ExtType, st.integers(0, 127), st.binary(max_size=3)),
    st.builds(msgpack.Timestamp, st.integers(0, 2**32 - 1)),  # ext -1
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(texts, blobs, st.integers(0, 3)), inner, max_size=4),
    ),
    max_leaves=8,
)
chunk_data = st.one_of(
    texts,
    blobs,
    st.sampled_from(
        [
            "x" * MAX_CHUNK,
            "x" * (MAX_CHUNK + 1),
            "答" * 5461,  # 16,383 bytes of UTF-8
            "答" * 5462,  # 16,386 bytes: too large although 5,462 characters
            b"\x00" * (MAX_CHUNK + 1),
            "ab\x08\x08",
            "",
            b"",
        ]
    ),
)
ids = st.one_of(texts, st.sampled_from(["", "0", "a" * 16, "x:y", "*", "{iv:x}"]))
offsets = st.one_of(
    texts,
    st.sampled_from(
        ["", "0", "0-0", "1-1", "-", "+", "$", ">", " 1", "1_0", "99999999999999999999-0"]
    ),
)
FIELDS: dict[str, dict[str, Any]] = {
    "join": {
        "token": st.one_of(texts, st.just("a" * 16 + ".s")),
        "identity": texts,
        "device": texts,
    },
    "chunk": {"q": small_ints, "seq": small_ints, "data": chunk_data},
    "finish": {"q": small_ints, "last_seq": small_ints},
    "exit_request": {},
    "exit_cancel": {},
    "exit_confirm": {},
    "auth": {"token": texts},
    "watch": {"interview_id": ids, "after_event": offsets, "after_chunk": offsets},
    "unwatch": {"interview_id": ids},
    "end": {"interview_id": ids, "confirm": st.booleans(), "note": texts},
}
for _name, _cls in {**SERVER_TYPES, **MONITOR_SERVER_TYPES}.items():
    FIELDS.setdefault(_name, {f: values for f in _cls.__dataclass_fields__})
TYPE_NAMES = st.one_of(
    st.sampled_from(sorted(CLIENT_TYPES)),  # the candidate's own, most often
    st.sampled_from(sorted(CLIENT_TYPES)),
    st.sampled_from(SERVER_ONLY + MONITOR_ONLY),
    st.sampled_from(["", "Chunk", "CHUNK", " chunk", "chunk\x00", "exit", "x" * 60]),
    texts,
)


@st.composite
def protocol_maps(draw: st.DrawFn) -> dict[Any, Any]:
    """A map near the protocol's shape: right or wrong type names, fields, keys and values."""
    name = draw(TYPE_NAMES)
    items: list[tuple[Any, Any]] = []
    how = draw(st.sampled_from(["str"] * 6 + ["bin", "missing", "wrong"]))
    if how == "str":
        items.append(("type", name))
    elif how == "bin":
        items.append((b"type", name.encode()))
    elif how == "wrong":
        items.append(("type", draw(values)))
    for fname, strategy in FIELDS.get(name, {}).items():
        roll = draw(st.integers(0, 11))
        if roll == 0:
            continue  # a required field missing (or an optional one left out)
        key: Any = fname.encode() if roll == 1 else fname
        items.append((key, draw(values) if roll == 2 else draw(strategy)))
    if draw(st.integers(0, 7)) == 0:
        items.append((draw(st.one_of(texts, blobs)), draw(values)))  # an unknown field
    return dict(draw(st.permutations(items)))


valid_commands = st.one_of(
    st.fixed_dictionaries(
        {
            "type": st.just("chunk"),
            "q": st.integers(0, 2),
            "seq": st.integers(0, 6),
            "data": chunk_data,
        }
    ),
    st.fixed_dictionaries(
        {"type": st.just("finish"), "q": st.integers(0, 2), "last_seq": st.integers(0, 6)}
    ),
    st.fixed_dictionaries(
        {"type": st.sampled_from(["exit_request", "exit_cancel", "exit_confirm"])}
    ),
)


@st.composite
def frames(draw: st.DrawFn) -> bytes | str:
    """One websocket message: mostly msgpack maps near the protocol, some anything else."""
    kind = draw(
        st.sampled_from(
            ["valid"] * 4 + ["map"] * 8 + ["strbin", "trailing", "other", "raw", "text"]
        )
    )
    if kind == "valid":  # well-formed commands, so the stateful answers are reached too
        return bytes(msgpack.packb(draw(valid_commands), use_bin_type=True))
    if kind == "map":
        return bytes(msgpack.packb(draw(protocol_maps()), use_bin_type=True))
    if kind == "strbin":  # bytes packed as str: bin data under a str header (invalid UTF-8)
        return bytes(msgpack.packb(draw(protocol_maps()), use_bin_type=False))
    if kind == "trailing":
        return bytes(msgpack.packb(draw(protocol_maps()))) + draw(st.binary(min_size=1, max_size=4))
    if kind == "other":  # a top level that is not a map
        return bytes(msgpack.packb(draw(values), use_bin_type=True))
    if kind == "raw":
        return draw(st.binary(max_size=48))
    return draw(st.text(max_size=24))  # a text frame


@dataclass
class FuzzedInterview:
    ws: Any
    interview_id: str
    current_q: int
    last: dict[int, int] = field(default_factory=dict)  # highest stored seq by question
    gap_reported: dict[int, int] = field(default_factory=dict)
    sent_max: dict[int, int] = field(default_factory=dict)  # per q: the highest seq sent
    exit_requested: bool = False
    stored: dict[tuple[int, int], str | bytes] = field(default_factory=dict)


def refusal(reason: str, refused_type: str, expected_seq: int = 0) -> tuple[Any, ...]:
    return ("refused", reason, refused_type, expected_seq)


def describe(msg: Any) -> tuple[Any, ...]:
    """What a server message says, in the shape the prediction uses."""
    if isinstance(msg, Refused):
        assert_refusal_well_formed(msg)
        return refusal(msg.reason, msg.refused_type, msg.expected_seq)
    if isinstance(msg, ChunkAcked):
        return ("ack", msg.q, msg.seq)
    if isinstance(msg, AnswerSaved):
        return ("answer_saved", msg.q, msg.status, msg.last_seq)
    if isinstance(msg, QuestionStarted):
        return ("question", msg.q, msg.acked_seq)
    if isinstance(msg, ExitPreviewed):
        return ("exit_preview", msg.current_q, msg.saved_seq)
    if isinstance(msg, Exited):
        return ("exited", msg.partial_q)
    if isinstance(msg, Completed):
        return ("completed",)
    return ("unexpected", repr(msg))


def predict(iv: FuzzedInterview, frame: bytes | str) -> tuple[list[tuple[Any, ...]], int | None]:
    """The messages (and close code) SPEC §1.4, §2, §6 and §11 promise for ``frame``.

    Updates the model of the interview as the hub must: what is stored, gaps reported, the
    open question, a pending exit.
    """
    if isinstance(frame, str):
        return [refusal("malformed", "")], None  # text frames are not part of v1
    if len(frame) > MAX_MESSAGE:
        return [], 1009
    try:
        msg = decode_client(frame)
    except ProtocolError as exc:
        return [refusal(str(exc.reason), exc.msg_type)], None
    q = iv.current_q
    if isinstance(msg, Join):
        return [refusal("already_joined", "join")], None
    if isinstance(msg, SendChunk):
        size = len(msg.data.encode()) if isinstance(msg.data, str) else len(msg.data)
        if msg.q != q:
            return [refusal("not_current_question", "chunk")], None
        if msg.seq < 1:
            return [refusal("bad_field", "chunk")], None
        if size > MAX_CHUNK:
            return [refusal("chunk_too_large", "chunk")], None
        last = iv.last.get(q, 0)
        iv.sent_max[q] = max(iv.sent_max.get(q, 0), msg.seq)
        if msg.seq == iv.gap_reported.get(q, -2) + 1:
            del iv.gap_reported[q]  # the client resends as told: a new gap is news (§6.3)
        if msg.seq > last + 1:
            if iv.gap_reported.get(q) == last:
                return [], None  # one seq_gap per gap (§6.3)
            iv.gap_reported[q] = last
            return [refusal("seq_gap", "chunk", last + 1)], None
        answer: list[Any]
        if msg.seq <= last:
            answer = [("ack", q, last)]  # a duplicate: acknowledged again, not stored
        else:
            last = iv.last[q] = msg.seq
            iv.stored[(q, msg.seq)] = msg.data
            answer = [("ack", q, msg.seq)]
        if last < iv.sent_max[q] and iv.gap_reported.get(q) != last:
            # everything sent is written and something above is missing: said again (§6.3)
            iv.gap_reported[q] = last
            answer.append(refusal("seq_gap", "chunk", last + 1))
        return answer, None
    if isinstance(msg, FinishAnswer):
        stored = iv.last.get(q, 0)
        if msg.q != q:
            return [refusal("not_current_question", "finish")], None
        if stored < msg.last_seq:
            return [refusal("answer_incomplete", "finish", stored + 1)], None
        iv.exit_requested = False
        iv.current_q = q + 1
        saved = ("answer_saved", q, "answered", stored)
        if q + 1 == QUESTIONS:
            return [saved, ("completed",)], 4001
        return [saved, ("question", q + 1, 0)], None
    if isinstance(msg, RequestExit):
        iv.exit_requested = True
        return [("exit_preview", q, iv.last.get(q, 0))], None
    if isinstance(msg, CancelExit):
        iv.exit_requested = False
        return [], None  # exit_cancel has no reply (§2.5)
    assert isinstance(msg, ConfirmExit)
    if not iv.exit_requested:
        return [refusal("no_exit_requested", "exit_confirm")], None
    return [("exited", q)], 4000


class CandidateRouterFuzz:
    """Drives one frame at a time through a joined socket, with a barrier after it.

    After the frame come ``finish{q: 2^53-1}`` (it waits for the socket's chunks in flight,
    then is refused ``not_current_question``) and a sentinel of an unknown type that names
    the frame's number; everything before the barrier's refusal is the frame's answer.
    """

    def __init__(self, hub: Hub, store: Any, settings_: Any) -> None:
        self.hub, self.store, self.settings = hub, store, settings_
        self.interviews: list[FuzzedInterview] = []
        self.current: FuzzedInterview | None = None
        self.count = 0
        self.outcomes: Counter[str] = Counter()

    async def interview(self) -> FuzzedInterview:
        if self.current is None:
            iv_id, token = await new_interview(self.store, self.settings)
            ws, question = await open_candidate(self.hub, token)
            self.current = FuzzedInterview(ws, iv_id, question.q)
            self.interviews.append(self.current)
        return self.current

    async def drop_current(self) -> None:
        if self.current is not None:
            with contextlib.suppress(Exception):
                await self.current.ws.close()
            self.current = None

    async def run_one(self, frame: bytes | str) -> None:
        iv = await self.interview()
        try:
            await self._run(iv, frame)
        except BaseException:
            # the model of this interview may be off now: the next example starts afresh
            with contextlib.suppress(ValueError):
                self.interviews.remove(iv)
            await self.drop_current()
            raise

    async def _run(self, iv: FuzzedInterview, frame: bytes | str) -> None:
        self.count += 1
        tag = f"sentinel-{self.count}"
        expected, expected_close = predict(iv, frame)
        with contextlib.suppress(websockets.ConnectionClosed):
            await iv.ws.send(frame)
            if expected_close != 1009:
                # (after an oversized frame nothing more: frames the hub never reads make
                # its kernel reset the connection, and the 1009 close frame may be lost)
                await iv.ws.send(encode(FinishAnswer(MAX_SAFE_INT, 0)))
                await iv.ws.send(msgpack.packb({"type": tag}))
        got: list[tuple[Any, ...]] = []
        closed: int | None = None
        while True:
            try:
                data = await asyncio.wait_for(iv.ws.recv(), REPLY_WAIT_S)
            except TimeoutError:
                raise AssertionError(
                    f"no answer within {REPLY_WAIT_S} s to {frame!r:.200}; got {got}"
                ) from None
            except websockets.ConnectionClosed as exc:
                closed = close_code(iv.ws, exc)
                break
            assert isinstance(data, bytes), f"the hub sent a text frame: {data!r}"
            msg = decode_server(data)
            if isinstance(msg, Refused) and msg.refused_type == tag:
                assert msg.reason == "unknown_type" and msg.fatal is False
                break
            if isinstance(msg, Refused) and closed is None:
                assert msg.fatal is False, f"fatal refusal {msg} for {frame!r:.200}"
            got.append(describe(msg))
        if closed is None:
            barrier = got.pop() if got else None
            assert barrier == refusal("not_current_question", "finish"), (frame, got, barrier)
        assert (got, closed) == (expected, expected_close), f"frame {frame!r:.300}"
        self.outcomes[expected[0][0] if expected else "nothing"] += 1
        if expected and expected[0][0] == "refused":
            self.outcomes["refused:" + expected[0][1]] += 1
        if closed is not None:
            self.outcomes[f"close:{closed}"] += 1
            self.current = None


HYPOTHESIS_EXAMPLES = 3000


async def test_every_fuzzed_frame_on_a_joined_socket_gets_its_documented_answer(
    fuzz_hub: Hub, store: Any, settings: Any
) -> None:
    """Hypothesis frames near the protocol get exactly the answer (fact, refusal with its reason, nothing, close code) that the spec promises, and only acknowledged chunks are stored, once."""
    fuzz = CandidateRouterFuzz(fuzz_hub, store, settings)
    loop = asyncio.get_running_loop()

    @hsettings(
        max_examples=HYPOTHESIS_EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )
    @given(frame=frames())
    @example(frame=b"\x00" * (MAX_MESSAGE + 1))  # over the size limit: 1009
    @example(frame=b"\x91" * 3000 + b"\xc0")  # nesting too deep
    @example(frame=msgpack.packb({"type": "chunk", "q": 0, "seq": 1, "data": "x" * 40_000}))
    @example(frame=msgpack.packb({"type": "exit_request"}))
    @example(frame=msgpack.packb({"type": "exit_confirm"}))
    @example(frame=msgpack.packb({"type": "chunk", "q": 0, "seq": MAX_SAFE_INT, "data": "x"}))
    @example(frame=msgpack.packb({"type": "chunk", "q": 0, "seq": MAX_SAFE_INT + 1, "data": ""}))
    def check(frame: bytes | str) -> None:
        asyncio.run_coroutine_threadsafe(fuzz.run_one(frame), loop).result(120)

    started = time.monotonic()
    await asyncio.to_thread(check)
    elapsed = time.monotonic() - started
    await fuzz.drop_current()
    assert fuzz_hub.process.poll() is None, fuzz_hub.log()
    # the frames reached every branch: refusals of each kind, facts, silences and closes
    for outcome in (
        "refused:malformed",
        "refused:bad_field",
        "refused:unknown_type",
        "refused:seq_gap",
        "refused:not_current_question",
        "ack",
        "nothing",
        "close:4000",
        "close:4001",
        "close:1009",
    ):
        assert fuzz.outcomes[outcome] > 0, dict(fuzz.outcomes)
    for iv in fuzz.interviews:
        chunks = await store.chunks(iv.interview_id)
        assert [((c["q"], c["seq"]), c["data"]) for c in chunks] == list(iv.stored.items())
    print(f"\nhypothesis: {fuzz.count} frames in {elapsed:.1f} s; {dict(fuzz.outcomes)}")


# --- 2. bulk: a seeded random run over several live sockets, pipelined -----------------------

FUZZ_FRAMES = int(os.environ.get("INTERVIEW_HUB_FUZZ_FRAMES", "100000"))
BULK_SEED = 20_261_126
BULK_SOCKETS = 4
BATCH = 100  # frames between two sentinels; the sender stays at most two batches ahead
# (so each reply is matched to its batch; see docs/fuzzing.md for the 1008 finding, now fixed)
RSS_GROWTH_LIMIT_KB = 150 * 1024
CANDIDATE_FUZZ_REFUSALS = {
    "already_joined",
    "not_current_question",
    "bad_field",
    "chunk_too_large",
    "seq_gap",
    "answer_too_long",
    "answer_incomplete",
    "no_exit_requested",
    "malformed",
    "unknown_type",
    "too_large",
}
CANDIDATE_FUZZ_CLOSES = {4000: Exited, 4001: Completed, 1009: None}


def random_value(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.randrange(12 if depth < 2 else 9)
    if roll == 0:
        return rng.choice(EDGE_INTS)
    if roll == 1:
        return rng.randint(-1, 5)
    if roll == 2:
        return "".join(
            chr(rng.choice((rng.randrange(32, 127), rng.randrange(0x4E00, 0x4F00))))
            for _ in range(rng.randrange(8))
        )
    if roll == 3:
        return rng.randbytes(rng.randrange(8))
    if roll == 4:
        return rng.choice((True, False, None))
    if roll == 5:
        return rng.random() * 1e6
    if roll == 6:
        return msgpack.ExtType(rng.randint(0, 127), rng.randbytes(rng.randrange(2)))
    if roll == 7:
        return rng.choice(["chunk", "join", "", "0", PHONE])
    if roll == 8:
        return rng.choice(SERVER_ONLY + MONITOR_ONLY + sorted(CLIENT_TYPES))
    if roll == 9:
        return [random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {
        rng.choice(["q", "seq", "data", "type", b"q", "x", 1]): random_value(rng, depth + 1)
        for _ in range(rng.randrange(4))
    }


def random_map(rng: random.Random, type_names: list[str], fields: dict[str, list[str]]) -> bytes:
    """A map with a known or unknown type and right, wrong or missing fields."""
    name = rng.choice(type_names) if rng.random() < 0.9 else str(random_value(rng))[:50]
    obj: dict[Any, Any] = {"type": name} if rng.random() < 0.9 else {b"type": name.encode()}
    for f in fields.get(name, []):
        if rng.random() < 0.9:
            obj[f if rng.random() < 0.95 else f.encode()] = random_value(rng)
    if rng.random() < 0.15:
        obj[rng.choice(["extra", b"q", "Type", ""])] = random_value(rng)
    return bytes(msgpack.packb(obj, use_bin_type=rng.random() < 0.9))


def mutate(data: bytes, rng: random.Random, seeds: list[bytes]) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(5)
        if op == 0 and b:
            b[rng.randrange(len(b))] = rng.randrange(256)
        elif op == 1:
            b.insert(rng.randrange(len(b) + 1), rng.randrange(256))
        elif op == 2 and b:
            del b[rng.randrange(len(b))]
        elif op == 3:
            b += rng.randbytes(rng.randint(1, 8))
        else:
            i = rng.randrange(len(b) + 1)
            b[i:i] = rng.choice(seeds)[: rng.randint(0, 12)]
    return bytes(b)


CANDIDATE_FIELDS = {
    name: list(cls.__dataclass_fields__) for name, cls in {**CLIENT_TYPES, **SERVER_TYPES}.items()
}


@dataclass
class BulkStats:
    frames: int = 0
    replies: Counter[str] = field(default_factory=Counter)
    closes: Counter[int] = field(default_factory=Counter)
    interviews: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


async def bulk_socket(
    worker: int, frames_wanted: int, hub: Hub, store: Any, settings_: Any, stats: BulkStats
) -> None:
    """One fuzzing client: joins, sends batches of mixed frames, reconnects after a close."""
    rng = random.Random(BULK_SEED + worker)
    sent = 0
    while sent < frames_wanted:
        iv_id, token = await new_interview(store, settings_, questions=20)
        stats.interviews.append(iv_id)
        ws, question = await open_candidate(hub, token)
        state: dict[str, Any] = {"q": question.q, "sentinel": 0, "closed": None}
        progressed = asyncio.Event()

        async def read(
            ws: Any = ws, state: dict[str, Any] = state, progressed: asyncio.Event = progressed
        ) -> None:
            last: Any = None
            try:
                async for data in ws:
                    if not isinstance(data, bytes):
                        stats.problems.append(f"text frame from the hub: {data!r}")
                        continue
                    try:
                        msg = decode_server(data)
                    except ProtocolError as exc:
                        stats.problems.append(f"undecodable reply {data!r:.100}: {exc}")
                        continue
                    last = msg
                    if isinstance(msg, Refused):
                        if msg.refused_type.startswith("sentinel-"):
                            state["sentinel"] = int(msg.refused_type.split("-")[1])
                            progressed.set()
                            continue
                        stats.replies["refused:" + msg.reason] += 1
                        if msg.reason == "seq_gap":  # go back, as a client resending would
                            state["resend_from"] = msg.expected_seq
                        if msg.reason not in CANDIDATE_FUZZ_REFUSALS or msg.fatal:
                            stats.problems.append(f"refusal {msg}")
                        if not (msg.message.get("en") and msg.message.get("zh-CN")):
                            stats.problems.append(f"refusal without messages {msg}")
                        continue
                    stats.replies[msg.TYPE] += 1
                    if isinstance(msg, QuestionStarted):
                        state["q"] = msg.q
                    elif not isinstance(
                        msg, ChunkAcked | AnswerSaved | ExitPreviewed | Exited | Completed
                    ):
                        stats.problems.append(f"unexpected fact {msg}")
            except websockets.ConnectionClosed:
                pass
            finally:
                code = close_code(ws)
                state["closed"] = code
                stats.closes[code] += 1
                if state.get("ours") and code == 1000:
                    pass  # this client closed it, done with its frames
                elif code not in CANDIDATE_FUZZ_CLOSES:
                    stats.problems.append(f"closed with {code} after {last}")
                elif CANDIDATE_FUZZ_CLOSES[code] is not None and not isinstance(
                    last, CANDIDATE_FUZZ_CLOSES[code]
                ):
                    stats.problems.append(f"close {code} after {last}, not its message")
                progressed.set()

        reader = asyncio.create_task(read())
        next_seq: defaultdict[int, int] = defaultdict(lambda: 1)
        batch_no = 0
        try:
            while sent < frames_wanted and state["closed"] is None:
                batch_no += 1
                while state["sentinel"] < batch_no - 2 and state["closed"] is None:
                    progressed.clear()
                    try:
                        await asyncio.wait_for(progressed.wait(), 30)
                    except TimeoutError:
                        raise AssertionError(
                            f"socket {worker}: no progress for 30 s at batch {batch_no}"
                        ) from None
                q = state["q"]
                resend_from = state.pop("resend_from", None)
                if resend_from:
                    next_seq[q] = resend_from
                seeds = [
                    encode(SendChunk(q, next_seq[q], "seed")),
                    encode(SendChunk(q, next_seq[q], b"\x00\xff")),
                    encode(FinishAnswer(q, 0)),
                    encode(RequestExit()),
                    encode(CancelExit()),
                    encode(ConfirmExit()),
                    encode(Join(token, PHONE, "again")),
                    msgpack.packb({"type": "ack", "q": q, "seq": 1}),
                    msgpack.packb({"type": "watch", "interview_id": iv_id}),
                ]
                out: list[bytes | str] = []
                for _ in range(min(BATCH, frames_wanted - sent)):
                    roll = rng.random()
                    if roll < 0.35:  # a valid chunk: in order mostly, some replays and gaps
                        kind = rng.random()
                        if kind < 0.94:
                            seq = next_seq[q]
                            next_seq[q] += 1
                        elif kind < 0.99:
                            seq = rng.randint(1, next_seq[q])
                        else:
                            seq = next_seq[q] + rng.randint(1, 5)
                        data: str | bytes = (
                            f"c{seq}" if rng.random() < 0.7 else rng.randbytes(rng.randrange(32))
                        )
                        out.append(encode(SendChunk(q, seq, data)))
                    elif roll < 0.65:
                        out.append(mutate(rng.choice(seeds), rng, seeds))
                    elif roll < 0.83:
                        out.append(rng.randbytes(rng.randrange(64)))
                    elif roll < 0.88:
                        out.append(str(random_value(rng)))  # a text frame
                    elif roll < 0.99999:
                        out.append(random_map(rng, sorted(CANDIDATE_FIELDS), CANDIDATE_FIELDS))
                    else:
                        out.append(b"\x00" * (MAX_MESSAGE + 1))  # closed with 1009
                        break  # the last frame this socket sends (see CandidateRouterFuzz)
                oversized = len(out[-1]) > MAX_MESSAGE
                if not oversized:
                    out.append(msgpack.packb({"type": f"sentinel-{batch_no}"}))
                try:
                    for frame in out:
                        await ws.send(frame)
                except websockets.ConnectionClosed:
                    pass
                sent += len(out) - (not oversized)
                stats.frames += len(out) - (not oversized)
                if oversized:
                    await asyncio.wait_for(reader, REPLY_WAIT_S)  # 1009 comes next
                    break
            while state["sentinel"] < batch_no and state["closed"] is None:
                progressed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(progressed.wait(), 30)
                if not progressed.is_set():
                    raise AssertionError(f"socket {worker}: the last batch got no answer")
        finally:
            state["ours"] = True
            await ws.close()
            await reader


async def test_bulk_fuzz_over_live_sockets_keeps_the_hub_and_a_healthy_session_intact(
    fuzz_hub: Hub, store: Any, settings: Any
) -> None:
    """INTERVIEW_HUB_FUZZ_FRAMES mixed frames on several sockets: only documented answers and closes, the healthy session's chunks stored once each, fuzzed answers contiguous, the hub alive with bounded RSS."""
    healthy_id, healthy_token = await new_interview(store, settings, questions=1)
    healthy = CandidateClient(fuzz_hub.ws, healthy_token, PHONE, device="healthy")
    await healthy.join()
    rss_before = rss_kb(fuzz_hub.process.pid)
    stop = asyncio.Event()
    sent_healthy: list[str | bytes] = []

    async def stream_healthy() -> None:
        while not stop.is_set():
            i = len(sent_healthy)
            data: str | bytes = f"healthy {i} " if i % 3 else f"bin{i}".encode()
            sent_healthy.append(data)
            await healthy.send_text(data)
            await asyncio.sleep(0.002)

    stats = BulkStats()
    per_socket = [FUZZ_FRAMES // BULK_SOCKETS] * BULK_SOCKETS
    per_socket[0] += FUZZ_FRAMES - sum(per_socket)
    streamer = asyncio.create_task(stream_healthy())
    started = time.monotonic()
    try:
        await asyncio.gather(
            *(bulk_socket(i, n, fuzz_hub, store, settings, stats) for i, n in enumerate(per_socket))
        )
    finally:
        stop.set()
        await streamer
    elapsed = time.monotonic() - started
    await healthy.wait_acked(30)
    rss_after = rss_kb(fuzz_hub.process.pid)

    assert stats.problems == [], stats.problems[:20]
    assert stats.frames == FUZZ_FRAMES
    assert fuzz_hub.process.poll() is None, fuzz_hub.log()
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"{fuzz_hub.http}/healthz", timeout=10)).status_code == 200
    # the healthy session went on undisturbed: everything acknowledged, stored once, in order
    assert healthy.close_code is None
    assert not [m for m in healthy.received if isinstance(m, Refused)]
    stored = await store.chunks(healthy_id)
    assert [c["seq"] for c in stored] == list(range(1, len(sent_healthy) + 1))
    assert [c["data"] for c in stored] == sent_healthy
    await healthy.close()
    # the fuzzed interviews: each answer is seq 1, 2, 3 ... with no hole and no duplicate
    stored_fuzz = 0
    for iv_id in stats.interviews:
        by_q: defaultdict[int, list[int]] = defaultdict(list)
        for c in await store.chunks(iv_id):
            by_q[c["q"]].append(c["seq"])
        for q, seqs in by_q.items():
            assert seqs == list(range(1, len(seqs) + 1)), (iv_id, q, seqs[:50])
            stored_fuzz += len(seqs)
    growth = rss_after - rss_before
    assert growth < RSS_GROWTH_LIMIT_KB, f"hub RSS grew by {growth} kB"
    assert stats.replies["ack"] > 0 and stats.replies["refused:malformed"] > 0
    print(
        f"\nbulk: {stats.frames} frames on {BULK_SOCKETS} sockets in {elapsed:.1f} s "
        f"({stats.frames / elapsed:.0f}/s); {len(stats.interviews)} fuzzed interviews, "
        f"{stored_fuzz} of their chunks stored; healthy chunks {len(sent_healthy)}; "
        f"hub RSS {rss_before} -> {rss_after} kB ({growth:+d} kB); closes {dict(stats.closes)}; "
        f"replies {dict(stats.replies.most_common())}"
    )


# --- 3. the monitor socket ---------------------------------------------------------------------

MONITOR_FRAMES = int(os.environ.get("INTERVIEW_HUB_FUZZ_MONITOR_FRAMES", "4000"))
MONITOR_FIELDS = {
    name: list(cls.__dataclass_fields__)
    for name, cls in {**MONITOR_CLIENT_TYPES, **MONITOR_SERVER_TYPES, **CLIENT_TYPES}.items()
}
ASYNC_MONITOR_FACTS = (LiveEvent, LiveChunk, Behind)  # stream entries: replayed or live


def monitor_frame(rng: random.Random, known: list[str]) -> bytes | str:
    roll = rng.random()
    iv = rng.choice([*known, "", "0", "nope", "a" * 16, "x:y", str(random_value(rng))[:20]])
    offset = rng.choice(
        ["", "", "0", "0-0", "1-0", "abc", "1-2-3", " 1", "-5", "99999999999999999999-0", "+"]
    )
    if roll < 0.4:
        msg: Any = rng.choice(
            [
                Watch(iv, offset, rng.choice(["", "0", offset])),
                Unwatch(iv),
                EndInterview(iv, rng.random() < 0.5, "fuzz"),
                Authenticate("not-a-session"),
            ]
        )
        frame = encode(msg)
        return frame if rng.random() < 0.6 else mutate(frame, rng, [frame])
    if roll < 0.75:
        return random_map(rng, sorted(MONITOR_FIELDS), MONITOR_FIELDS)
    if roll < 0.9:
        return rng.randbytes(rng.randrange(48))
    if roll < 0.95:
        return str(random_value(rng))
    if roll < 0.98:  # over the monitor's 4 KiB but under the transport's 64 KiB: too_large
        return encode(Watch("x" * rng.randint(4100, 60_000)))
    return encode(EndInterview(iv, True, "n" * rng.choice([1000, 1100, 4000])))


def predict_monitor(frame: bytes | str, known: set[str]) -> list[list[tuple[Any, ...]]]:
    """The answers (any one of them) SPEC §15 allows for one frame on an authenticated monitor."""
    if isinstance(frame, str):
        return [[refusal("malformed", "")]]
    try:
        msg = decode_monitor_client(frame)
    except ProtocolError as exc:
        return [[refusal(str(exc.reason), exc.msg_type)]]
    if isinstance(msg, Authenticate | Unwatch):
        return [[]]  # already authenticated: nothing to answer; an unwatch has no reply
    if isinstance(msg, Watch):
        if msg.interview_id and msg.interview_id not in known:
            return [[refusal("not_found", "watch")]]
        watching = ("watching", msg.interview_id)
        return [[watching], [watching, refusal("bad_field", "watch")]]  # a bad offset
    assert isinstance(msg, EndInterview)
    if msg.interview_id not in known:
        return [[refusal("not_found", "end")]]
    if not msg.confirm:
        return [[refusal("confirm_required", "end")]]
    return [
        [("end_done", msg.interview_id)],
        [refusal("interview_ended", "end")],
        [refusal("not_endable", "end")],
    ]


def describe_monitor(msg: Any) -> tuple[Any, ...]:
    if isinstance(msg, Refused):
        assert_refusal_well_formed(msg)
        assert msg.fatal is False, msg
        return refusal(msg.reason, msg.refused_type, msg.expected_seq)
    if isinstance(msg, Watching):
        return ("watching", msg.interview_id)
    if isinstance(msg, EndDone):
        return ("end_done", msg.interview_id)
    return ("unexpected", repr(msg))


async def test_fuzzed_monitor_commands_get_refusals_and_others_are_still_served(
    fuzz_hub: Hub, redis_server: Any
) -> None:
    """An authenticated monitor sent fuzzed commands gets only the answers §15 allows (refusals, watching, end_done), 1009 for an oversized frame; a candidate and another monitor carry on."""
    org = await make_org(fuzz_hub, redis_server.url)
    url = f"ws://127.0.0.1:{fuzz_hub.port}/ws/monitor"
    async with httpx.AsyncClient(base_url=fuzz_hub.http) as http:
        created = [
            (
                await http.post(
                    "/api/hr/interviews", json=interview_body(2), headers=org.auth("admin")
                )
            ).json()
            for _ in range(3)
        ]
    watched, victims = created[0], [c["interview_id"] for c in created[1:]]
    candidate = CandidateClient(fuzz_hub.ws, watched["token"], PHONE, device="healthy")
    await candidate.join()
    bystander = MonitorClient(url, org.tokens["recruiter"])
    await bystander.connect()
    await bystander.watch(watched["interview_id"])
    fuzzed = MonitorClient(url, org.tokens["admin"])
    await fuzzed.connect()
    assert fuzzed.ws is not None
    known = {watched["interview_id"], *victims}
    rng = random.Random(BULK_SEED)
    sent_chunks: list[str] = []
    outcomes: Counter[str] = Counter()
    started = time.monotonic()
    for batch_start in range(0, MONITOR_FRAMES, 100):
        batch = [monitor_frame(rng, victims) for _ in range(min(100, MONITOR_FRAMES - batch_start))]
        for n, frame in enumerate(batch):
            await fuzzed.ws.send(frame)
            await fuzzed.ws.send(msgpack.packb({"type": f"sentinel-{batch_start + n}"}))
        text = f"typing {batch_start} "  # the candidate keeps answering meanwhile
        sent_chunks.append(text)
        await candidate.send_text(text)
        for n, frame in enumerate(batch):
            group: list[tuple[Any, ...]] = []
            while True:
                msg = await fuzzed.next_message(REPLY_WAIT_S)
                if isinstance(msg, Refused) and msg.refused_type == f"sentinel-{batch_start + n}":
                    break
                if not isinstance(msg, ASYNC_MONITOR_FACTS):
                    group.append(describe_monitor(msg))
            allowed = predict_monitor(frame, known)
            assert group in allowed, f"frame {frame!r:.200}: got {group}, allowed {allowed}"
            outcomes[
                group[0][1]
                if group and group[0][0] == "refused"
                else (group[0][0] if group else "nothing")
            ] += 1
    elapsed = time.monotonic() - started
    # the bystander was served all along: every chunk, once, in order, no refusal
    sent_chunks.append("the end")
    await candidate.send_text("the end")
    seen: list[str] = []
    while len(seen) < len(sent_chunks):
        seen.append((await bystander.next_of(LiveChunk, 20)).data)
    assert seen == sent_chunks
    assert not [m for m in bystander.received if isinstance(m, Refused)]
    # the fuzzed monitor itself can still watch, and gets a chunk written right after
    # `watching` (once lost: "from now" was fixed after `watching` went out)
    await fuzzed.watch(watched["interview_id"])
    sent_chunks.append("live again")
    await candidate.send_text("live again")
    await fuzzed.next_of(LiveChunk, 20, data="live again")
    # a frame over the transport's limit closes the fuzzed monitor (1009), nobody else
    await fuzzed.ws.send(b"\x00" * (MAX_MESSAGE + 1))
    with pytest.raises(ConnectionError):
        while True:
            await fuzzed.next_message(REPLY_WAIT_S)
    assert fuzzed.close_code == 1009
    await candidate.send_text("after the close")
    assert (await bystander.next_of(LiveChunk, 20, data="after the close")).seq == len(
        sent_chunks
    ) + 1
    assert candidate.close_code is None and fuzz_hub.process.poll() is None
    await candidate.close()
    await bystander.close()
    assert outcomes["malformed"] and outcomes["bad_field"] and outcomes["not_found"]
    assert outcomes["too_large"] and outcomes["watching"]
    print(f"\nmonitor: {MONITOR_FRAMES} frames in {elapsed:.1f} s; {dict(outcomes)}")
