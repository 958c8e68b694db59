"""The msgpack codec: round trips, golden bytes shared with the web client, strict limits."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgpack
import pytest

from protocol.codec import (
    DEFAULT_LIMITS,
    MAX_SAFE_INT,
    BadField,
    Limits,
    MalformedMessage,
    MessageTooLarge,
    ProtocolError,
    UnknownMessageType,
    decode_client,
    decode_server,
    encode,
    to_wire,
)
from protocol.messages import (
    CLIENT_TYPES,
    SERVER_TYPES,
    AnswerSaved,
    CancelExit,
    ChunkAcked,
    Completed,
    ConfirmExit,
    Ended,
    Exited,
    ExitPreviewed,
    FinishAnswer,
    Join,
    Joined,
    Message,
    Progress,
    QuestionStarted,
    Refused,
    RequestExit,
    SendChunk,
    TakenOver,
)
from protocol.reasons import Reason

GOLDEN_PATH = Path(__file__).resolve().parent.parent / "fixtures" / "golden.json"
GOLDEN: list[dict[str, Any]] = json.loads(GOLDEN_PATH.read_text(encoding="utf-8"))

CLIENT_SAMPLES: list[Message] = [
    Join(token="tok", identity="110101199003071234", device="Firefox"),
    Join(token="tok", identity="13800138000"),
    SendChunk(q=0, seq=1, data="第一段回答"),
    SendChunk(q=2, seq=3, data=b"\x00\xff\x10"),
    SendChunk(q=1, seq=1, data=b""),
    FinishAnswer(q=2, last_seq=7),
    FinishAnswer(q=0, last_seq=0),
    RequestExit(),
    CancelExit(),
    ConfirmExit(),
]

SERVER_SAMPLES: list[Message] = [
    ChunkAcked(q=1, seq=MAX_SAFE_INT),
    Joined(
        interview_id="iv-1",
        mode="resume",
        candidate="李雷",
        position="Backend",
        progress=Progress(1, 1, 4),
        second_entry=True,
        reentry_window_s=3600,
        resume_grace_s=60,
    ),
    QuestionStarted(
        q=3, text="Why us?", total=4, time_limit_s=90, deadline_ms=1767225600000, acked_seq=2
    ),
    AnswerSaved(q=0, status="partial", last_seq=-1, progress=Progress(0, 1, 3)),
    ExitPreviewed(
        progress=Progress(2, 0, 3),
        current_q=2,
        saved_seq=5,
        reentry_allowed=True,
        reentry_until_ms=9,
    ),
    Exited(progress=Progress(2, 1, 3), partial_q=2, reentry_allowed=False, reentry_until_ms=0),
    Completed(progress=Progress(0, 0, 0)),
    Ended(by="hr-1", note="duplicate application"),
    TakenOver(device="iPad"),
    Refused(
        reason="seq_gap",
        message={"en": "a", "zh-CN": "乙"},
        refused_type="chunk",
        expected_seq=4,
        fatal=True,
    ),
    Refused(reason="malformed"),
]


def _pack(obj: Any) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)  # type: ignore[no-any-return]


def _from_json(value: Any) -> Any:
    """The golden files' JSON form back to wire values: {"$bin": hex} is bytes."""
    if isinstance(value, dict):
        if set(value) == {"$bin"}:
            return bytes.fromhex(value["$bin"])
        return {k: _from_json(v) for k, v in value.items()}
    return value


def _message_from_wire(wire: dict[str, Any]) -> Message:
    """Build the dataclass straight from a wire map, without going through the codec."""
    cls: Any = {**CLIENT_TYPES, **SERVER_TYPES}[wire["type"]]
    kwargs = {k: v for k, v in wire.items() if k != "type"}
    if "progress" in kwargs:
        p = kwargs["progress"]
        kwargs["progress"] = Progress(p["answered"], p["partial"], p["total"])
    msg: Message = cls(**kwargs)
    return msg


def _raises(
    data: bytes, exc: type[ProtocolError], reason: Reason, *, server: bool = False, **kw: Any
) -> ProtocolError:
    decode = decode_server if server else decode_client
    with pytest.raises(exc) as info:
        decode(data, **kw)
    assert type(info.value) is exc
    assert info.value.reason is reason
    assert isinstance(info.value, ProtocolError)
    return info.value


# --- messages --------------------------------------------------------------------------


def test_progress_percent_rounds_down() -> None:
    """Progress.percent is answered*100 // total, so 1 of 3 is 33, not 34."""
    assert Progress(1, 0, 3).percent == 33
    assert Progress(2, 1, 3).percent == 66
    assert Progress(3, 0, 3).percent == 100


def test_progress_percent_of_empty_interview_is_100() -> None:
    """An interview with no questions counts as 100 % done rather than dividing by zero."""
    assert Progress(0, 0, 0).percent == 100


def test_progress_to_wire_carries_percent() -> None:
    """Progress goes on the wire with all four keys, percent included."""
    assert Progress(1, 2, 4).to_wire() == {"answered": 1, "partial": 2, "total": 4, "percent": 25}


def test_type_names_are_unique_across_directions() -> None:
    """No type name is used by both a client command and a server fact."""
    assert not CLIENT_TYPES.keys() & SERVER_TYPES.keys()
    assert len(CLIENT_TYPES) == 6
    assert len(SERVER_TYPES) == 10


def test_samples_cover_every_type() -> None:
    """The round-trip samples include every message type of each direction."""
    assert {m.TYPE for m in CLIENT_SAMPLES} == set(CLIENT_TYPES)
    assert {m.TYPE for m in SERVER_SAMPLES} == set(SERVER_TYPES)


# --- round trips -----------------------------------------------------------------------


@pytest.mark.parametrize("msg", CLIENT_SAMPLES, ids=repr)
def test_client_message_round_trips(msg: Message) -> None:
    """decode_client(encode(m)) == m for every client command."""
    decoded = decode_client(encode(msg))
    assert decoded == msg
    assert type(decoded) is type(msg)


@pytest.mark.parametrize("msg", SERVER_SAMPLES, ids=repr)
def test_server_message_round_trips(msg: Message) -> None:
    """decode_server(encode(m)) == m for every server fact."""
    decoded = decode_server(encode(msg))
    assert decoded == msg
    assert type(decoded) is type(msg)


def test_binary_chunk_stays_bytes_and_text_stays_str() -> None:
    """Chunk data keeps its kind: bin decodes to bytes, str to str."""
    as_bytes = decode_client(encode(SendChunk(0, 1, b"abc")))
    as_text = decode_client(encode(SendChunk(0, 1, "abc")))
    assert isinstance(as_bytes, SendChunk) and type(as_bytes.data) is bytes
    assert isinstance(as_text, SendChunk) and type(as_text.data) is str


def test_to_wire_puts_type_first_then_fields_in_order() -> None:
    """to_wire emits 'type' first and the fields in declaration order (the bytes depend on it)."""
    wire = to_wire(FinishAnswer(q=1, last_seq=2))
    assert list(wire.items()) == [("type", "finish"), ("q", 1), ("last_seq", 2)]


def test_to_wire_writes_defaults_explicitly() -> None:
    """Optional fields are always written, so every Refused has the same keys."""
    assert to_wire(Refused(reason="malformed")) == {
        "type": "refused",
        "reason": "malformed",
        "message": {},
        "refused_type": "",
        "expected_seq": 0,
        "fatal": False,
    }


def test_optional_fields_may_be_omitted_on_the_wire() -> None:
    """A Join without device and a Refused with only a reason decode with the defaults."""
    assert decode_client(_pack({"type": "join", "token": "t", "identity": "i"})) == Join("t", "i")
    assert decode_server(_pack({"type": "refused", "reason": "x"})) == Refused("x")


def test_decoded_progress_recomputes_percent() -> None:
    """The wire 'percent' is informative: the decoded Progress derives it from its counts."""
    data = _pack({"type": "completed", "progress": {"answered": 1, "partial": 0, "total": 4}})
    msg = decode_server(data)
    assert msg == Completed(Progress(1, 0, 4))
    assert isinstance(msg, Completed) and msg.progress.percent == 25


# --- golden bytes ----------------------------------------------------------------------


def test_golden_covers_every_message_type() -> None:
    """golden.json has at least one entry for every message type of both directions."""
    types = {entry["message"]["type"] for entry in GOLDEN}
    assert types == set(CLIENT_TYPES) | set(SERVER_TYPES)
    assert len({entry["name"] for entry in GOLDEN}) == len(GOLDEN)


@pytest.mark.parametrize("entry", GOLDEN, ids=[e["name"] for e in GOLDEN])
def test_golden_encode_matches_bytes(entry: dict[str, Any]) -> None:
    """Encoding the golden message gives exactly the golden bytes."""
    msg = _message_from_wire(_from_json(entry["message"]))
    assert encode(msg).hex() == entry["hex"]


@pytest.mark.parametrize("entry", GOLDEN, ids=[e["name"] for e in GOLDEN])
def test_golden_decode_matches_fields(entry: dict[str, Any]) -> None:
    """Decoding the golden bytes gives the golden message, field by field."""
    wire = _from_json(entry["message"])
    data = bytes.fromhex(entry["hex"])
    decode = decode_client if wire["type"] in CLIENT_TYPES else decode_server
    msg = decode(data)
    assert wire["type"] == msg.TYPE
    assert msg == _message_from_wire(wire)
    assert to_wire(msg) == wire  # includes the wire 'percent' of every progress map


@pytest.mark.parametrize("entry", GOLDEN, ids=[e["name"] for e in GOLDEN])
def test_golden_is_self_consistent(entry: dict[str, Any]) -> None:
    """Each golden entry's JSON map packs to its hex with plain msgpack (what JS will check)."""
    assert _pack(_from_json(entry["message"])).hex() == entry["hex"]


# --- size and framing ------------------------------------------------------------------


def test_default_limits() -> None:
    """The candidate socket accepts 64 KiB messages with at most 16 items per container."""
    assert Limits(max_message_bytes=65536, max_items=16, max_str_bytes=65536) == DEFAULT_LIMITS


def test_too_large_is_refused_before_parsing() -> None:
    """More bytes than max_message_bytes raises MessageTooLarge, even if they are garbage."""
    err = _raises(
        b"\xc1" * (DEFAULT_LIMITS.max_message_bytes + 1), MessageTooLarge, Reason.TOO_LARGE
    )
    assert "65537" in err.detail


def test_size_limit_is_inclusive() -> None:
    """A message of exactly max_message_bytes decodes; one byte less of limit refuses it."""
    data = encode(SendChunk(0, 1, "x" * 100))
    assert decode_client(data, Limits(max_message_bytes=len(data))) == SendChunk(0, 1, "x" * 100)
    _raises(data, MessageTooLarge, Reason.TOO_LARGE, limits=Limits(max_message_bytes=len(data) - 1))


def test_too_large_applies_to_decode_server() -> None:
    """decode_server enforces the size limit too."""
    data = encode(Ended("hr", "n" * 100))
    _raises(
        data, MessageTooLarge, Reason.TOO_LARGE, server=True, limits=Limits(max_message_bytes=50)
    )


@pytest.mark.parametrize(
    "data",
    [b"", b"\xc1", b"\x85\xa4type", b"\xd9", b"\xdb\xff\xff\xff\xff"],
    ids=["empty", "never_used_byte", "truncated_map", "truncated_str8", "str32_huge_length"],
)
def test_not_msgpack_is_malformed(data: bytes) -> None:
    """Bytes that are not one complete msgpack object raise MalformedMessage."""
    _raises(data, MalformedMessage, Reason.MALFORMED)


def test_truncated_message_is_malformed() -> None:
    """A valid message cut short by one byte is malformed."""
    _raises(encode(FinishAnswer(1, 2))[:-1], MalformedMessage, Reason.MALFORMED)


@pytest.mark.parametrize("tail", [b"\x00", b"\xc0", b"\x81\xa1a\x01"])
def test_trailing_bytes_are_malformed(tail: bytes) -> None:
    """Anything after the first msgpack object makes the message malformed."""
    _raises(encode(RequestExit()) + tail, MalformedMessage, Reason.MALFORMED)


@pytest.mark.parametrize(
    "obj",
    [["join", "t", "i"], "join", 1, None, True, 1.5, b"join"],
    ids=["array", "str", "int", "nil", "bool", "float", "bin"],
)
def test_non_map_top_level_is_malformed(obj: Any) -> None:
    """A message must be a map: any other top-level msgpack value is malformed."""
    _raises(_pack(obj), MalformedMessage, Reason.MALFORMED)
    _raises(_pack(obj), MalformedMessage, Reason.MALFORMED, server=True)


def test_str_input_is_malformed_not_a_crash() -> None:
    """Passing a str instead of bytes (e.g. a text frame) raises MalformedMessage."""
    with pytest.raises(MalformedMessage):
        decode_client("\x81\xa4type\xacexit_request")  # type: ignore[arg-type]


# --- ext types -------------------------------------------------------------------------


def test_timestamp_top_level_is_malformed() -> None:
    """A msgpack Timestamp (ext -1) is refused as malformed."""
    _raises(_pack(msgpack.Timestamp(1_700_000_000, 5)), MalformedMessage, Reason.MALFORMED)


def test_timestamp_in_field_is_malformed() -> None:
    """A Timestamp hidden in a field value is refused as malformed, not turned into a datetime."""
    data = _pack({"type": "join", "token": msgpack.Timestamp(1, 0), "identity": "i"})
    _raises(data, MalformedMessage, Reason.MALFORMED)


def test_application_ext_type_is_malformed() -> None:
    """Any application ext type with a payload is malformed."""
    data = _pack({"type": "chunk", "q": 0, "seq": 1, "data": msgpack.ExtType(5, b"abc")})
    _raises(data, MalformedMessage, Reason.MALFORMED)
    _raises(_pack(msgpack.ExtType(1, b"x")), MalformedMessage, Reason.MALFORMED)


def test_empty_ext_never_becomes_a_field_value() -> None:
    """A zero-length ext slips past the ext limit but is still refused as a wrong field type."""
    data = _pack({"type": "chunk", "q": 0, "seq": 1, "data": msgpack.ExtType(5, b"")})
    _raises(data, BadField, Reason.BAD_FIELD)
    _raises(b"\xc7\x00\x05", MalformedMessage, Reason.MALFORMED)


# --- keys and item counts --------------------------------------------------------------


@pytest.mark.parametrize(
    "obj",
    [
        {1: "join"},
        {"type": "exit_request", 7: 1},
        {"type": "exit_request", None: 1},
        {"type": "exit_request", 1.5: 1},
    ],
    ids=["int_only", "int_extra", "nil_key", "float_key"],
)
def test_non_string_map_keys_are_malformed(obj: dict[Any, Any]) -> None:
    """Map keys that are neither str nor bin are malformed."""
    _raises(_pack(obj), MalformedMessage, Reason.MALFORMED)


def test_non_string_key_in_nested_map_is_malformed() -> None:
    """The key check applies inside nested maps too (Refused.message)."""
    data = _pack({"type": "refused", "reason": "x", "message": {1: "a"}})
    _raises(data, MalformedMessage, Reason.MALFORMED, server=True)


def test_bin_type_key_is_not_the_type() -> None:
    """A bin key b'type' is not the str key 'type': the message has no type."""
    data = _pack({b"type": "exit_request"})
    err = _raises(data, BadField, Reason.BAD_FIELD)
    assert err.msg_type == ""


def test_bin_extra_key_is_a_bad_field() -> None:
    """A bin key besides the declared fields is an unknown field."""
    _raises(_pack({"type": "exit_request", b"x": 1}), BadField, Reason.BAD_FIELD)


def test_mixed_bin_and_str_extra_keys_are_a_bad_field() -> None:
    """Unknown keys of mixed kinds (bin and str) raise BadField, never a bare TypeError."""
    _raises(_pack({"type": "exit_request", b"a": 1, "b": 2}), BadField, Reason.BAD_FIELD)


def test_too_many_map_items_is_malformed() -> None:
    """A map with more than max_items entries is malformed before any field is read."""
    obj: dict[str, Any] = {"type": "exit_request", **{f"k{i}": i for i in range(16)}}
    assert len(obj) == 17
    _raises(_pack(obj), MalformedMessage, Reason.MALFORMED)


def test_map_of_max_items_passes_the_item_limit() -> None:
    """A map of exactly max_items entries passes the limit (and then fails on unknown fields)."""
    obj: dict[str, Any] = {"type": "exit_request", **{f"k{i}": i for i in range(15)}}
    assert len(obj) == 16
    _raises(_pack(obj), BadField, Reason.BAD_FIELD)


def test_too_many_array_items_is_malformed() -> None:
    """An array in a field with more than max_items entries is malformed."""
    data = _pack({"type": "chunk", "q": 0, "seq": 1, "data": list(range(17))})
    _raises(data, MalformedMessage, Reason.MALFORMED)


def test_item_limit_is_configurable() -> None:
    """Limits.max_items applies: a 4-entry Join is malformed with max_items=3."""
    data = encode(Join("t", "i", "d"))
    _raises(data, MalformedMessage, Reason.MALFORMED, limits=Limits(max_items=3))
    assert decode_client(data, Limits(max_items=4)) == Join("t", "i", "d")


def test_string_length_limit_is_configurable() -> None:
    """Limits.max_str_bytes applies to every str, counted in UTF-8 bytes, not characters."""
    token = "身份证号码身份证号码"  # 10 characters, 30 bytes
    data = encode(Join(token, "i", ""))
    _raises(data, MalformedMessage, Reason.MALFORMED, limits=Limits(max_str_bytes=29))
    assert decode_client(data, Limits(max_str_bytes=30)) == Join(token, "i", "")


def test_deeply_nested_input_is_malformed() -> None:
    """Thousands of nested arrays hit the unpacker's stack limit and are malformed, not a crash."""
    _raises(b"\x91" * 60_000 + b"\xc0", MalformedMessage, Reason.MALFORMED)
    _raises(b"\x81\xa1a" * 20_000 + b"\xc0", MalformedMessage, Reason.MALFORMED)


def test_moderately_nested_field_is_a_bad_field() -> None:
    """Nesting the unpacker accepts still never reaches a message: the field type is wrong."""
    nested: Any = "x"
    for _ in range(200):
        nested = [nested]
    data = _pack({"type": "join", "token": "t", "identity": "i", "device": nested})
    err = _raises(data, BadField, Reason.BAD_FIELD)
    assert err.msg_type == "join"


# --- type ------------------------------------------------------------------------------


def test_missing_type_is_a_bad_field() -> None:
    """A map without 'type' raises BadField."""
    _raises(_pack({"token": "t", "identity": "i"}), BadField, Reason.BAD_FIELD)
    _raises(_pack({}), BadField, Reason.BAD_FIELD, server=True)


@pytest.mark.parametrize("value", [1, None, True, b"join", ["join"], {"t": "join"}, 1.0])
def test_non_string_type_is_a_bad_field(value: Any) -> None:
    """A 'type' that is not a str (even bin b'join') raises BadField."""
    _raises(_pack({"type": value, "token": "t", "identity": "i"}), BadField, Reason.BAD_FIELD)


def test_unknown_type_raises_unknown_message_type() -> None:
    """A type no message has raises UnknownMessageType carrying the type name."""
    err = _raises(_pack({"type": "drop_tables"}), UnknownMessageType, Reason.UNKNOWN_TYPE)
    assert err.msg_type == "drop_tables"
    _raises(_pack({"type": ""}), UnknownMessageType, Reason.UNKNOWN_TYPE, server=True)


def test_unknown_type_name_is_truncated() -> None:
    """A long unknown type is cut to 40 characters in msg_type and in the detail."""
    err = _raises(_pack({"type": "x" * 5000}), UnknownMessageType, Reason.UNKNOWN_TYPE)
    assert err.msg_type == "x" * 40
    assert len(err.detail) < 100


def test_type_names_are_case_sensitive() -> None:
    """'JOIN' is not 'join'."""
    _raises(
        _pack({"type": "JOIN", "token": "t", "identity": "i"}),
        UnknownMessageType,
        Reason.UNKNOWN_TYPE,
    )


@pytest.mark.parametrize("msg", SERVER_SAMPLES, ids=repr)
def test_client_cannot_send_server_facts(msg: Message) -> None:
    """decode_client refuses every server type as unknown: a client cannot forge server facts."""
    err = _raises(encode(msg), UnknownMessageType, Reason.UNKNOWN_TYPE)
    assert err.msg_type == msg.TYPE


@pytest.mark.parametrize("msg", CLIENT_SAMPLES, ids=repr)
def test_server_side_decoder_refuses_client_commands(msg: Message) -> None:
    """decode_server refuses every client type as unknown."""
    _raises(encode(msg), UnknownMessageType, Reason.UNKNOWN_TYPE, server=True)


# --- fields ----------------------------------------------------------------------------


def test_unknown_extra_field_is_a_bad_field() -> None:
    """A field the message does not declare raises BadField naming it."""
    err = _raises(
        _pack({"type": "finish", "q": 0, "last_seq": 1, "admin": True}), BadField, Reason.BAD_FIELD
    )
    assert err.msg_type == "finish"
    assert "admin" in err.detail


def test_extra_field_on_field_less_message_is_a_bad_field() -> None:
    """Commands without fields take no fields at all."""
    _raises(_pack({"type": "exit_confirm", "session": "s"}), BadField, Reason.BAD_FIELD)


def test_server_fact_with_extra_field_is_a_bad_field() -> None:
    """decode_server is as strict about unknown fields."""
    _raises(
        _pack({"type": "ack", "q": 0, "seq": 1, "x": 0}), BadField, Reason.BAD_FIELD, server=True
    )


@pytest.mark.parametrize(
    ("obj", "missing"),
    [
        ({"type": "join", "identity": "i"}, "token"),
        ({"type": "join", "token": "t"}, "identity"),
        ({"type": "chunk", "q": 0, "seq": 1}, "data"),
        ({"type": "chunk", "q": 0, "data": "x"}, "seq"),
        ({"type": "finish", "last_seq": 1}, "q"),
    ],
)
def test_missing_required_client_field_is_a_bad_field(obj: dict[str, Any], missing: str) -> None:
    """Leaving out a required field raises BadField naming the field."""
    err = _raises(_pack(obj), BadField, Reason.BAD_FIELD)
    assert missing in err.detail
    assert err.msg_type == obj["type"]


@pytest.mark.parametrize(
    "msg", [m for m in SERVER_SAMPLES if to_wire(m).keys() - {"type"}], ids=repr
)
def test_missing_required_server_field_is_a_bad_field(msg: Message) -> None:
    """Leaving out the first field of any server fact raises BadField."""
    wire = to_wire(msg)
    first = next(k for k in wire if k != "type")
    del wire[first]
    _raises(_pack(wire), BadField, Reason.BAD_FIELD, server=True)


@pytest.mark.parametrize(
    "obj",
    [
        {"type": "chunk", "q": "0", "seq": 1, "data": "x"},
        {"type": "chunk", "q": True, "seq": 1, "data": "x"},
        {"type": "chunk", "q": 0, "seq": False, "data": "x"},
        {"type": "chunk", "q": 0.0, "seq": 1, "data": "x"},
        {"type": "chunk", "q": None, "seq": 1, "data": "x"},
        {"type": "chunk", "q": 0, "seq": 1, "data": 5},
        {"type": "chunk", "q": 0, "seq": 1, "data": None},
        {"type": "chunk", "q": 0, "seq": 1, "data": ["x"]},
        {"type": "chunk", "q": 0, "seq": 1, "data": {"x": "y"}},
        {"type": "join", "token": b"t", "identity": "i"},
        {"type": "join", "token": "t", "identity": 13800138000},
        {"type": "join", "token": "t", "identity": "i", "device": None},
        {"type": "finish", "q": 0, "last_seq": True},
        {"type": "finish", "q": [0], "last_seq": 1},
    ],
    ids=[
        "str_for_int",
        "bool_true_for_int",
        "bool_false_for_int",
        "float_for_int",
        "nil_for_int",
        "int_for_data",
        "nil_for_data",
        "array_for_data",
        "map_for_data",
        "bin_for_str",
        "int_for_str",
        "nil_for_optional_str",
        "bool_for_last_seq",
        "array_for_int",
    ],
)
def test_wrong_client_field_type_is_a_bad_field(obj: dict[str, Any]) -> None:
    """A client field of the wrong msgpack type (bool for int included) raises BadField."""
    err = _raises(_pack(obj), BadField, Reason.BAD_FIELD)
    assert err.msg_type == obj["type"]


GOOD_PROGRESS = {"answered": 1, "partial": 0, "total": 3, "percent": 33}


@pytest.mark.parametrize(
    "obj",
    [
        {"type": "refused", "reason": "x", "fatal": 1},
        {"type": "refused", "reason": "x", "fatal": "true"},
        {"type": "refused", "reason": 1},
        {"type": "refused", "reason": "x", "message": ["en", "a"]},
        {"type": "refused", "reason": "x", "message": {"en": 1}},
        {"type": "refused", "reason": "x", "message": {b"en": "a"}},
        {"type": "refused", "reason": "x", "expected_seq": True},
        {"type": "completed", "progress": 33},
        {"type": "completed", "progress": {"answered": 1, "total": 3}},
        {"type": "completed", "progress": {**GOOD_PROGRESS, "answered": True}},
        {"type": "completed", "progress": {**GOOD_PROGRESS, "total": "3"}},
        {"type": "completed", "progress": {**GOOD_PROGRESS, "partial": -2}},
        {"type": "completed", "progress": {**GOOD_PROGRESS, "total": MAX_SAFE_INT + 1}},
        {
            "type": "exited",
            "progress": GOOD_PROGRESS,
            "partial_q": 0,
            "reentry_allowed": 1,
            "reentry_until_ms": 0,
        },
    ],
    ids=[
        "int_for_bool",
        "str_for_bool",
        "int_for_str",
        "array_for_str_map",
        "int_in_str_map",
        "bin_key_in_str_map",
        "bool_for_int",
        "int_for_progress",
        "progress_missing_key",
        "bool_in_progress",
        "str_in_progress",
        "negative_in_progress",
        "huge_in_progress",
        "int_for_reentry_allowed",
    ],
)
def test_wrong_server_field_type_is_a_bad_field(obj: dict[str, Any]) -> None:
    """A server field of the wrong type, including inside a progress map, raises BadField."""
    err = _raises(_pack(obj), BadField, Reason.BAD_FIELD, server=True)
    assert err.msg_type == obj["type"]


@pytest.mark.parametrize(
    "progress",
    [{**GOOD_PROGRESS, "admin": True}, {**GOOD_PROGRESS, "percent": "33%"}],
    ids=["unknown_key", "str_percent"],
)
def test_progress_map_is_as_strict_as_a_message(progress: dict[str, Any]) -> None:
    """A progress map with an unknown key or a non-int percent raises BadField."""
    _raises(
        _pack({"type": "completed", "progress": progress}), BadField, Reason.BAD_FIELD, server=True
    )


@pytest.mark.parametrize("value", [-1, 0, 1, 2**31, 2**32, MAX_SAFE_INT])
def test_ints_in_range_are_accepted(value: int) -> None:
    """Ints from -1 up to 2**53 - 1 inclusive decode."""
    assert decode_client(_pack({"type": "finish", "q": value, "last_seq": value})) == FinishAnswer(
        value, value
    )


@pytest.mark.parametrize("value", [-2, -(2**31), -(2**63), MAX_SAFE_INT + 1, 2**63, 2**64 - 1])
def test_ints_out_of_range_are_a_bad_field(value: int) -> None:
    """Ints below -1 or above 2**53 - 1 (not exact in JavaScript) raise BadField."""
    _raises(_pack({"type": "chunk", "q": 0, "seq": value, "data": "x"}), BadField, Reason.BAD_FIELD)
    _raises(_pack({"type": "ack", "q": value, "seq": 0}), BadField, Reason.BAD_FIELD, server=True)


def test_max_safe_int_is_two_to_the_53() -> None:
    """The upper int bound is JavaScript's Number.MAX_SAFE_INTEGER, 2**53 - 1."""
    assert MAX_SAFE_INT == 2**53 - 1


# --- the error family ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (ProtocolError, Reason.MALFORMED),
        (MessageTooLarge, Reason.TOO_LARGE),
        (MalformedMessage, Reason.MALFORMED),
        (UnknownMessageType, Reason.UNKNOWN_TYPE),
        (BadField, Reason.BAD_FIELD),
    ],
)
def test_each_error_class_carries_its_reason(exc: type[ProtocolError], reason: Reason) -> None:
    """Every ProtocolError subclass carries the reason code the peer is told."""
    err = exc("detail", "join")
    assert err.reason is reason
    assert isinstance(err, ProtocolError)
    assert (err.detail, err.msg_type, str(err)) == ("detail", "join", "detail")


def test_msg_type_is_empty_when_unreadable() -> None:
    """Errors raised before the type is known have an empty msg_type."""
    assert _raises(b"\xc1", MalformedMessage, Reason.MALFORMED).msg_type == ""
    assert _raises(_pack({"x": 1}), BadField, Reason.BAD_FIELD).msg_type == ""


def test_malformed_chains_the_unpacker_error() -> None:
    """MalformedMessage keeps msgpack's exception as its cause, for the hub's log."""
    err = _raises(b"\xc1", MalformedMessage, Reason.MALFORMED)
    assert err.__cause__ is not None


# --- the HR monitor socket ---------------------------------------------------------------

from protocol.codec import decode_monitor_client, decode_monitor_server  # noqa: E402
from protocol.messages import (  # noqa: E402
    Authenticate,
    Behind,
    EndDone,
    EndInterview,
    LiveChunk,
    LiveEvent,
    MonitorReady,
    Unwatch,
    Watch,
    Watching,
)


@pytest.mark.parametrize(
    "msg",
    [
        Authenticate("tok"),
        Watch("iv1", "0", "1-0"),
        Watch(""),
        Unwatch("iv1"),
        EndInterview("iv1", True, "bye"),
    ],
)
def test_monitor_commands_round_trip(msg: object) -> None:
    """Every monitor command survives encode → decode_monitor_client unchanged."""
    assert decode_monitor_client(encode(msg)) == msg


@pytest.mark.parametrize(
    "msg",
    [
        MonitorReady("u", "org", ["interview.view"]),
        Watching("iv1", {"state": "invited", "answers": [{"q": 0}]}),
        LiveEvent("", "iv1", "1-0", 5, "joined", {"mode": "start", "nested": {"a": [1]}}),
        LiveChunk("iv1", "2-0", 6, 0, 1, "text"),
        LiveChunk("iv1", "2-1", 6, 0, 2, b"\x00bin"),
        Behind("iv1", "events"),
        EndDone("iv1", "ended"),
    ],
)
def test_monitor_facts_round_trip(msg: object) -> None:
    """Every monitor fact survives encode → decode_monitor_server unchanged."""
    assert decode_monitor_server(encode(msg)) == msg


def test_monitor_decoders_keep_their_direction() -> None:
    """A monitor cannot send a fact or a candidate command; wrong shapes are bad fields."""
    with pytest.raises(UnknownMessageType):
        decode_monitor_client(encode(EndDone("iv1", "ended")))
    with pytest.raises(UnknownMessageType):
        decode_monitor_client(_pack({"type": "chunk", "q": 0, "seq": 1, "data": "x"}))
    with pytest.raises(BadField):
        decode_monitor_server(_pack({"type": "ready", "user": "u", "org": "o", "permissions": [1]}))
    with pytest.raises(BadField):
        decode_monitor_server(
            _pack({"type": "watching", "interview_id": "i", "summary": {b"k": 2}})
        )
    with pytest.raises(MessageTooLarge):
        decode_monitor_client(encode(Authenticate("x" * 5000)))
