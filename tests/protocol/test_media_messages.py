"""v2 adds media signalling to the candidate socket; v1 stays exactly as it was."""

from __future__ import annotations

import pytest

from protocol import SUBPROTOCOL, SUBPROTOCOL_V2
from protocol.codec import (
    BadField,
    UnknownMessageType,
    decode_client,
    decode_monitor_server,
    decode_server,
    encode,
)
from protocol.messages import (
    LiveMedia,
    MediaAnswer,
    MediaOffer,
    MediaState,
    MediaStop,
    Ping,
    Pong,
)


def test_v2_is_a_new_name() -> None:
    """The media messages come with a subprotocol of their own."""
    assert (SUBPROTOCOL, SUBPROTOCOL_V2) == ("interview-hub.v1", "interview-hub.v2")


@pytest.mark.parametrize(
    "msg", [MediaOffer("v=0\r\nm=video 9"), MediaStop(), MediaStop("no_camera"), Ping()]
)
def test_media_commands_round_trip_in_v2_only(msg: MediaOffer | MediaStop | Ping) -> None:
    """A media command decodes on a v2 socket and is an unknown type on a v1 socket."""
    assert decode_client(encode(msg), media=True) == msg
    with pytest.raises(UnknownMessageType):
        decode_client(encode(msg))


@pytest.mark.parametrize(
    "msg",
    [MediaAnswer("v=0"), MediaState("failed", "ice_failed"), MediaState("connected"), Pong()],
)
def test_media_facts_round_trip_in_v2_only(msg: MediaAnswer | MediaState | Pong) -> None:
    """A media fact decodes for a v2 client and is an unknown type for a v1 decoder."""
    assert decode_server(encode(msg), media=True) == msg
    with pytest.raises(UnknownMessageType):
        decode_server(encode(msg))


def test_media_fields_are_strict() -> None:
    """An SDP must be a str; unknown fields are refused as everywhere else."""
    import msgpack

    with pytest.raises(BadField):
        decode_client(msgpack.packb({"type": "media_offer", "sdp": b"v=0"}), media=True)
    with pytest.raises(BadField):
        decode_client(msgpack.packb({"type": "media_stop", "why": "x"}), media=True)


def test_live_media_reaches_a_monitor_as_bytes() -> None:
    """A monitor's media entry carries the JPEG or PCM bytes and the audio level."""
    msg = LiveMedia("iv", "1-0", 5, 0, "jpeg", 0, b"\xff\xd8\xff\xd9")
    assert decode_monitor_server(encode(msg)) == msg


def test_the_heartbeat_is_two_empty_maps() -> None:
    """ping and pong carry nothing but their type (SPEC §16.1)."""
    assert encode(Ping()) == bytes.fromhex("81a474797065a470696e67")
    assert encode(Pong()) == bytes.fromhex("81a474797065a4706f6e67")
