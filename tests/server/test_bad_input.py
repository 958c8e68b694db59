"""Hostile and broken input: each gets its reason or close code; the hub serves everyone else."""

from __future__ import annotations

import asyncio
import contextlib

import msgpack
import pytest
import websockets

from client.candidate import CandidateClient, ClientClosed, JoinRefused
from protocol import SUBPROTOCOL
from protocol.codec import decode_server, encode
from protocol.messages import CancelExit, ChunkAcked, FinishAnswer, Join, Refused, SendChunk
from tests.conftest import PHONE, Hub, start_hub


async def streaming_bystander(hub: Hub, token: str, count: int) -> CandidateClient:
    """Another candidate streaming while the bad input arrives; returns it when done."""
    c = CandidateClient(hub.ws, token, PHONE)
    await c.join()
    for i in range(count):
        await c.send_text(f"b{i}")
        await asyncio.sleep(0.005)
    await c.wait_acked()
    return c


async def joined_client(hub: Hub, make_interview) -> tuple[str, CandidateClient]:
    iv_id, token = await make_interview(questions=2)
    c = CandidateClient(hub.ws, token, PHONE)
    await c.join()
    return iv_id, c


async def test_bad_messages_get_reasons_and_nothing_stored_is_lost(
    hub: Hub, make_interview, store
) -> None:
    """Malformed, unknown, wrong-typed and server-only messages are refused; the hub and stored chunks survive."""
    iv_id, c = await joined_client(hub, make_interview)
    _, other_token = await make_interview(questions=1)
    bystander = asyncio.create_task(streaming_bystander(hub, other_token, 50))
    await c.send_text("kept")
    await c.wait_acked()
    assert c.ws is not None
    cases = [
        (b"\xc1", "malformed"),  # never-used msgpack byte
        (b"\x92\x01\x02", "malformed"),  # an array, not a map
        (msgpack.packb({"type": "chunk", "q": 0, "seq": 2}) + b"\x00", "malformed"),  # trailing
        (msgpack.packb({"type": "teleport"}), "unknown_type"),
        (msgpack.packb({"type": "joined", "interview_id": "x"}), "unknown_type"),  # server-only
        (msgpack.packb({"type": "chunk", "q": "0", "seq": 2, "data": "x"}), "bad_field"),
        (msgpack.packb({"type": "chunk", "q": 0, "seq": True, "data": "x"}), "bad_field"),
        (msgpack.packb({"type": "chunk", "q": 0, "seq": 2, "data": "x", "admin": 1}), "bad_field"),
        (msgpack.packb({"type": "chunk", "q": 0, "seq": 2**60, "data": "x"}), "bad_field"),
        (msgpack.packb({"type": "chunk", "q": 5, "seq": 1, "data": "x"}), "not_current_question"),
        (encode(SendChunk(0, 1, "x" * 20_000)), "chunk_too_large"),
        (encode(SendChunk(0, 1, "答" * 6_000)), "chunk_too_large"),  # 18,000 bytes of UTF-8
        (encode(Join("a.b", "c")), "already_joined"),
    ]
    for data, reason in cases:
        await c.ws.send(data)
        refusal = await c.expect(Refused)
        assert refusal.reason == reason, data
        assert refusal.fatal is False
        assert refusal.message["en"] and refusal.message["zh-CN"]
    await c.ws.send("a text frame")
    assert (await c.expect(Refused)).reason == "malformed"
    # still serving this socket: the next good chunk is stored and acknowledged
    await c.send_text("after the noise")
    await c.wait_acked()
    done = await bystander
    await done.close()
    await c.close()
    chunks = await store.chunks(iv_id)
    assert [x["data"] for x in chunks] == ["kept", "after the noise"]
    assert len(await store.chunks(done.joined.interview_id)) == 50


async def test_seq_gap_is_refused_with_the_expected_seq_and_replays_are_stored_once(
    hub: Hub, make_interview, store
) -> None:
    """A gap gets seq_gap with expected_seq (once); a replayed chunk is re-acknowledged, stored once."""
    iv_id, c = await joined_client(hub, make_interview)
    await c.send(SendChunk(0, 1, "one"))
    await c.send(SendChunk(0, 3, "three"))
    await c.send(SendChunk(0, 4, "four"))
    refusal = await c.expect(Refused)
    assert (refusal.reason, refusal.expected_seq) == ("seq_gap", 2)
    await c.send(SendChunk(0, 1, "one again"))  # a replay: acknowledged, not stored again
    await c.send(SendChunk(0, 2, "two"))
    await c.send(SendChunk(0, 3, "three"))
    await c.send(SendChunk(0, 4, "four"))
    for _ in range(50):
        if c.acked.get(0) == 4:
            break
        await asyncio.sleep(0.05)
    assert c.acked[0] == 4
    acks = [m for m in c.received if isinstance(m, ChunkAcked)]
    assert [a.seq for a in acks] == sorted(a.seq for a in acks)  # cumulative, never backwards
    gaps = [m for m in c.received if isinstance(m, Refused) and m.reason == "seq_gap"]
    assert len(gaps) == 1
    await c.close()
    chunks = await store.chunks(iv_id)
    assert [(x["seq"], x["data"]) for x in chunks] == [
        (1, "one"),
        (2, "two"),
        (3, "three"),
        (4, "four"),
    ]


async def test_a_resend_that_reaches_the_hub_behind_a_newer_chunk_is_not_lost_for_good(
    hub: Hub, make_interview
) -> None:
    """BUG (found by loadtests.fault_bench: a candidate whose chunks stopped being acked on an open socket until it reconnected): after seq_gap{2}, the client resends 2 and 3 as SPEC §6.5 says while it keeps typing, and its next chunk (4) reaches the hub first, in the same batch; the batch stops at 4 (§6.2), the resend is dropped, and the gap is not reported again (once per gap, §6.3), so nothing is ever stored on this socket again."""
    _, c = await joined_client(hub, make_interview)
    await c.send(SendChunk(0, 1, "one"))
    deadline = asyncio.get_running_loop().time() + 30
    while c.acked.get(0, 0) < 1:
        assert asyncio.get_running_loop().time() < deadline, "chunk 1 was never acked"
        await asyncio.sleep(0.02)
    await c.send(SendChunk(0, 3, "three"))
    refusal = await c.expect(Refused)
    assert (refusal.reason, refusal.expected_seq) == ("seq_gap", 2)
    # the newly typed chunk 4, then the resend of 2 and 3: one write, read together
    assert c.ws is not None
    for msg in (SendChunk(0, 4, "four"), SendChunk(0, 2, "two"), SendChunk(0, 3, "three")):
        c.ws.protocol.send_binary(encode(msg))
    c.ws.transport.write(b"".join(c.ws.protocol.data_to_send()))
    # the client did what it must; it has to hear of it: the chunks acked, or the gap again
    deadline = asyncio.get_running_loop().time() + 30
    gaps = 1
    while c.acked.get(0, 0) < 2 and gaps == 1:
        if asyncio.get_running_loop().time() > deadline:
            break  # a bound for the silence only: the hub answers a batch at once
        await asyncio.sleep(0.05)
        gaps = sum(1 for m in c.received if isinstance(m, Refused) and m.reason == "seq_gap")
    assert c.acked.get(0, 0) >= 2 or gaps > 1, "the resend was dropped and nothing said so"
    await c.close()


async def test_finish_with_missing_chunks_is_refused(hub: Hub, make_interview) -> None:
    """Finishing an answer whose chunks are not all stored gets answer_incomplete with the next seq."""
    _, c = await joined_client(hub, make_interview)
    await c.send(SendChunk(0, 1, "one"))
    await c.wait_acked()
    await c.send(FinishAnswer(0, 3))
    refusal = await c.expect(Refused)
    assert (refusal.reason, refusal.expected_seq) == ("answer_incomplete", 2)
    await c.close()


async def test_oversized_message_closes_1009_and_others_go_on(
    hub: Hub, make_interview, store
) -> None:
    """A frame over the size limit closes that socket with 1009; another candidate keeps streaming."""
    _, c = await joined_client(hub, make_interview)
    _, other_token = await make_interview(questions=1)
    bystander = asyncio.create_task(streaming_bystander(hub, other_token, 30))
    assert c.ws is not None
    await c.ws.send(b"\x00" * (70 * 1024))
    with pytest.raises(ClientClosed):
        while True:
            await c.next_message()
    assert c.close_code == 1009
    done = await bystander
    assert len(await store.chunks(done.joined.interview_id)) == 30
    await done.close()


async def test_too_many_bad_messages_close_4005(hub: Hub, make_interview) -> None:
    """A socket that keeps sending garbage is closed with 4005 after max_bad_messages."""
    _, c = await joined_client(hub, make_interview)
    assert c.ws is not None
    for _ in range(12):
        try:
            await c.ws.send(b"\xc1")
        except websockets.ConnectionClosed:
            break
    with pytest.raises(ClientClosed):
        while True:
            await c.next_message()
    assert c.close_code == 4005


async def test_commands_before_join_are_refused(hub: Hub) -> None:
    """A chunk or exit before the join gets not_joined; the join must come first."""
    async with websockets.connect(hub.ws, subprotocols=[SUBPROTOCOL]) as ws:
        await ws.send(encode(SendChunk(0, 1, "x")))
        msg = decode_server(await ws.recv())
        assert isinstance(msg, Refused) and msg.reason == "not_joined"
        await ws.send(msgpack.packb({"type": "exit_request"}))
        msg = decode_server(await ws.recv())
        assert isinstance(msg, Refused) and msg.reason == "not_joined"


async def test_handshake_needs_subprotocol_and_allowed_origin(hub: Hub) -> None:
    """No subprotocol, or a foreign Origin, is refused at the handshake (cross-site hijacking)."""
    with pytest.raises(websockets.InvalidStatus) as no_proto:
        async with websockets.connect(hub.ws):
            pass
    assert no_proto.value.response.status_code == 403
    with pytest.raises(websockets.InvalidStatus) as foreign:
        async with websockets.connect(
            hub.ws, subprotocols=[SUBPROTOCOL], origin="https://evil.example"
        ):
            pass
    assert foreign.value.response.status_code == 403
    assert b"origin_not_allowed" in foreign.value.response.body
    assert b"subprotocol_required" in no_proto.value.response.body
    async with websockets.connect(hub.ws, subprotocols=[SUBPROTOCOL], origin=hub.http) as ws:
        assert ws.subprotocol == SUBPROTOCOL


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("someone_elses_interview", "identity_mismatch"),
        ("garbage_token", "link_invalid"),
        ("forged_secret", "link_invalid"),
        ("wrong_phone", "identity_mismatch"),
    ],
)
async def test_bad_tokens_and_identities_are_refused(
    hub: Hub, make_interview, case: str, reason: str
) -> None:
    """Another person's token, a garbage or forged token, a wrong phone: refused with a reason and 4004."""
    iv_id, token = await make_interview(questions=1)
    identity = PHONE
    if case == "someone_elses_interview":
        _, token = await make_interview(questions=1, phone="13711112222", id_number="")
    elif case == "garbage_token":
        token = "not-a-token"
    elif case == "forged_secret":
        token = f"{iv_id}.forgedsecret"
    elif case == "wrong_phone":
        identity = "13900000000"
    c = CandidateClient(hub.ws, token, identity)
    with pytest.raises(JoinRefused) as refused:
        await c.join()
    assert refused.value.reason == reason
    assert c.close_code == 4004


async def test_identity_lockout_after_repeated_failures(hub: Hub, make_interview) -> None:
    """Five wrong identities lock the interview's identity check: too_many_attempts, even for the right one."""
    _, token = await make_interview(questions=1)
    for _ in range(5):
        with pytest.raises(JoinRefused) as wrong:
            await CandidateClient(hub.ws, token, "000").join()
        assert wrong.value.reason == "identity_mismatch"
    with pytest.raises(JoinRefused) as locked:
        await CandidateClient(hub.ws, token, PHONE).join()
    assert locked.value.reason == "too_many_attempts"


async def test_expired_link_is_refused(hub: Hub, make_interview) -> None:
    """A link past its validity is refused with link_expired."""
    _, token = await make_interview(questions=1, link_ttl_s=0)
    with pytest.raises(JoinRefused) as refused:
        await CandidateClient(hub.ws, token, PHONE).join()
    assert refused.value.reason == "link_expired"


async def test_a_resent_chunk_is_acknowledged_again(hub: Hub, make_interview, store) -> None:
    """A chunk sent again after its ack is acknowledged again and stored once."""
    iv_id, c = await joined_client(hub, make_interview)
    await c.send_text("once")
    await c.wait_acked()
    await c.send(SendChunk(0, 1, "once"))  # as a client that missed the ack would
    for _ in range(100):
        if sum(1 for m in c.received if isinstance(m, ChunkAcked) and m.seq == 1) == 2:
            break
        await asyncio.sleep(0.05)
    assert sum(1 for m in c.received if isinstance(m, ChunkAcked) and m.seq == 1) == 2
    await c.close()
    assert [x["data"] for x in await store.chunks(iv_id)] == ["once"]


async def test_join_timeout_cannot_be_dodged(redis_server, tmp_path) -> None:
    """A socket that never joins is closed with 4006 at the join timeout, even if it keeps talking."""
    own_hub = start_hub(redis_server.url, tmp_path, HUB_JOIN_TIMEOUT_S="1.5")
    try:
        async with websockets.connect(own_hub.ws, subprotocols=[SUBPROTOCOL]) as ws:

            async def keep_talking() -> None:
                with contextlib.suppress(websockets.ConnectionClosed):
                    while True:
                        await ws.send(msgpack.packb({"type": "exit_request"}))
                        await asyncio.sleep(0.2)

            talker = asyncio.create_task(keep_talking())
            refusals = []
            with pytest.raises(websockets.ConnectionClosed) as closed:
                while True:
                    refusals.append(decode_server(await ws.recv()))
            talker.cancel()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4006
            assert {r.reason for r in refusals} == {"not_joined"}
            assert refusals[-1].fatal is True
    finally:
        own_hub.stop()


async def test_a_flood_of_commands_is_throttled_then_closed(
    hub: Hub, make_interview, store
) -> None:
    """Commands beyond the rate get rate_limited, count as bad messages, and a flood is closed with 4005."""
    _, c = await joined_client(hub, make_interview)
    assert c.ws is not None
    for _ in range(60):
        try:
            await c.ws.send(encode(CancelExit()))
        except websockets.ConnectionClosed:
            break
    reasons = []
    with pytest.raises(ClientClosed):
        while True:
            msg = await c.next_message()
            if isinstance(msg, Refused):
                reasons.append(msg.reason)
    assert "rate_limited" in reasons
    assert c.close_code == 4005
    assert reasons.count("rate_limited") <= 11  # closed at the bad-message limit, not served on


async def test_a_client_that_reads_is_never_closed_for_not_reading(
    hub: Hub, make_interview
) -> None:
    """1,000 pipelined chunks that each get a refusal (seq 0: bad_field, not counted as bad): a client that reads them all stays connected (no 1008)."""
    _, token = await make_interview(questions=2)
    async with websockets.connect(hub.ws, subprotocols=[SUBPROTOCOL], max_size=None) as ws:
        await ws.send(encode(Join(token, PHONE)))
        await ws.recv()  # joined
        await ws.recv()  # question 0
        for _ in range(1, 1001):
            await ws.send(encode(SendChunk(0, 0, "x")))
        refusals = 0
        while refusals < 1000:
            msg = decode_server(await asyncio.wait_for(ws.recv(), 10))
            assert isinstance(msg, Refused) and msg.reason == "bad_field"
            refusals += 1
        assert ws.close_code is None
