"""The decoders against 100,000 random and mutated inputs: only ProtocolError, never a crash."""

from __future__ import annotations

import random

import msgpack
import pytest

from protocol.codec import ProtocolError, decode_client, decode_monitor_client, encode
from protocol.messages import (
    Authenticate,
    CancelExit,
    ConfirmExit,
    EndInterview,
    FinishAnswer,
    Join,
    RequestExit,
    SendChunk,
    Watch,
)

# a fuzz run: its own command (README, "Long runs")
pytestmark = pytest.mark.long

SEEDS = [
    encode(m)
    for m in (
        Join("abc.def", "13800138000", "phone"),
        SendChunk(0, 1, "答案 part"),
        SendChunk(3, 99, b"\x00\x01"),
        FinishAnswer(2, 7),
        RequestExit(),
        CancelExit(),
        ConfirmExit(),
        Authenticate("tok"),
        Watch("iv", "0", "1-0"),
        EndInterview("iv", True, "note"),
    )
] + [
    msgpack.packb(v)
    for v in ({"type": ["x"]}, [1, {"a": 2}], {"type": "chunk", "q": {}}, 2**64 - 1)
]


def mutate(data: bytes, rng: random.Random) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        op = rng.randrange(5)
        if op == 0 and b:
            b[rng.randrange(len(b))] = rng.randrange(256)  # flip a byte
        elif op == 1:
            b.insert(rng.randrange(len(b) + 1), rng.randrange(256))  # insert
        elif op == 2 and b:
            del b[rng.randrange(len(b))]  # delete
        elif op == 3:
            b += rng.randbytes(rng.randint(1, 16))  # trailing junk
        else:
            i = rng.randrange(len(b) + 1)
            b[i:i] = rng.choice(SEEDS)[: rng.randint(0, 12)]  # splice another message in
    return bytes(b)


def test_decoders_survive_100000_fuzzed_inputs() -> None:
    """100,000 seeded random and mutated messages: each decodes or raises ProtocolError, nothing else."""
    rng = random.Random(2026_11_26)
    outcomes = {"decoded": 0, "refused": 0}
    for i in range(100_000):
        data = rng.randbytes(rng.randint(0, 40)) if i % 4 == 0 else mutate(rng.choice(SEEDS), rng)
        for decode in (decode_client, decode_monitor_client):
            try:
                decode(data)
                outcomes["decoded"] += 1
            except ProtocolError as exc:
                assert exc.reason  # every refusal carries a reason code
                outcomes["refused"] += 1
    assert outcomes["refused"] > 100_000 and outcomes["decoded"] > 0
