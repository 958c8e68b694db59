"""msgpack encoding of the wire messages, with strict limits on what is decoded.

``decode_client`` is what a hub runs on untrusted bytes: it accepts only the client's
commands, and only flat maps of the declared field types. ``decode_server`` is the
client's side. Every way a message can be wrong raises a ``ProtocolError`` carrying the
reason code that the peer is told.

Error family::

    ProtocolError                 (reason: the Reason sent back)
    ├── MessageTooLarge           too_large: more bytes than Limits.max_message_bytes
    ├── MalformedMessage          malformed: not msgpack, trailing bytes, not a map, ext types
    ├── UnknownMessageType        unknown_type: no such type for this direction
    └── BadField                  bad_field: missing, unknown or wrongly typed field
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal, overload

import msgpack  # type: ignore[import-untyped]

from protocol.messages import (
    CLIENT_TYPES,
    MEDIA_CLIENT_TYPES,
    MEDIA_SERVER_TYPES,
    MONITOR_CLIENT_TYPES,
    MONITOR_SERVER_TYPES,
    SERVER_TYPES,
    ClientMessage,
    MediaClientMessage,
    MediaServerMessage,
    Message,
    MonitorClientMessage,
    MonitorServerMessage,
    Progress,
    ServerMessage,
)
from protocol.reasons import Reason

MAX_SAFE_INT = 2**53 - 1  # Number.MAX_SAFE_INTEGER: every client language holds it exactly


@dataclass(frozen=True, slots=True)
class Limits:
    """What the decoder accepts. Defaults suit the candidate socket."""

    max_message_bytes: int = 64 * 1024
    max_items: int = 16  # entries in any map or array
    max_str_bytes: int = 64 * 1024


DEFAULT_LIMITS = Limits()


class ProtocolError(Exception):
    """The peer sent something that breaks the protocol (the peer's fault, not ours)."""

    reason: Reason = Reason.MALFORMED

    def __init__(self, detail: str, msg_type: str = "") -> None:
        super().__init__(detail)
        self.detail = detail
        self.msg_type = msg_type


class MessageTooLarge(ProtocolError):
    reason = Reason.TOO_LARGE


class MalformedMessage(ProtocolError):
    reason = Reason.MALFORMED


class UnknownMessageType(ProtocolError):
    reason = Reason.UNKNOWN_TYPE


class BadField(ProtocolError):
    reason = Reason.BAD_FIELD


# --- field checks, derived once from the dataclasses' annotations ----------------------


def _is_int(v: object) -> bool:
    # bool is an int subclass in Python but a distinct type on the wire
    return type(v) is int and -1 <= v <= MAX_SAFE_INT


_PROGRESS_KEYS = {"answered", "partial", "total"}


def _is_progress(v: object) -> bool:
    if type(v) is not dict or not _PROGRESS_KEYS <= v.keys() <= _PROGRESS_KEYS | {"percent"}:
        return False
    return all(_is_int(x) for x in v.values())


def _is_str_map(v: object) -> bool:
    return type(v) is dict and all(type(k) is str and type(x) is str for k, x in v.items())


def _is_any_map(v: object) -> bool:
    return type(v) is dict and all(type(k) is str for k in v)


def _is_str_list(v: object) -> bool:
    return type(v) is list and all(type(x) is str for x in v)


_CHECKS: dict[str, Any] = {
    "dict[str, Any]": _is_any_map,
    "list[str]": _is_str_list,
    "int": _is_int,
    "str": lambda v: type(v) is str,
    "bool": lambda v: type(v) is bool,
    "str | bytes": lambda v: type(v) is str or type(v) is bytes,
    "bytes": lambda v: type(v) is bytes,
    "Progress": _is_progress,
    "dict[str, str]": _is_str_map,
}


@dataclass(frozen=True, slots=True)
class _FieldSpec:
    name: str
    check: Any
    required: bool
    is_progress: bool
    omit_default: bool  # a later optional field: not on the wire at its default
    default: Any


def _specs(cls: type) -> tuple[_FieldSpec, ...]:
    specs = []
    for f in dataclasses.fields(cls):
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        omit = bool(f.metadata.get("omit_default"))
        check = _CHECKS[str(f.type)]
        specs.append(_FieldSpec(f.name, check, required, f.type == "Progress", omit, f.default))
    return tuple(specs)


_SPECS: dict[type, tuple[_FieldSpec, ...]] = {
    cls: _specs(cls)
    for cls in (
        *CLIENT_TYPES.values(),
        *SERVER_TYPES.values(),
        *MONITOR_CLIENT_TYPES.values(),
        *MONITOR_SERVER_TYPES.values(),
        *MEDIA_CLIENT_TYPES.values(),
        *MEDIA_SERVER_TYPES.values(),
    )
}
_V2_CLIENT_TYPES: dict[str, Any] = {**CLIENT_TYPES, **MEDIA_CLIENT_TYPES}
_V2_SERVER_TYPES: dict[str, Any] = {**SERVER_TYPES, **MEDIA_SERVER_TYPES}


# --- encode ----------------------------------------------------------------------------


def to_wire(msg: Message) -> dict[str, Any]:
    """The map that goes on the wire for ``msg``."""
    out: dict[str, Any] = {"type": msg.TYPE}
    for spec in _SPECS[type(msg)]:
        value = getattr(msg, spec.name)
        if spec.omit_default and value == spec.default:
            continue
        out[spec.name] = value.to_wire() if spec.is_progress else value
    return out


def encode(msg: Message) -> bytes:
    """The msgpack bytes of one message."""
    return msgpack.packb(to_wire(msg), use_bin_type=True)  # type: ignore[no-any-return]


# --- decode ----------------------------------------------------------------------------


def _unpack(data: bytes, limits: Limits) -> dict[str, Any]:
    if len(data) > limits.max_message_bytes:
        raise MessageTooLarge(f"{len(data)} bytes > {limits.max_message_bytes}")
    try:
        obj = msgpack.unpackb(
            data,
            raw=False,
            strict_map_key=True,
            use_list=True,
            max_str_len=limits.max_str_bytes,
            max_bin_len=limits.max_message_bytes,
            max_array_len=limits.max_items,
            max_map_len=limits.max_items,
            max_ext_len=0,
        )
    except Exception as exc:  # msgpack raises several unrelated types for bad input
        raise MalformedMessage(f"not a msgpack message: {type(exc).__name__}") from exc
    if type(obj) is not dict:
        raise MalformedMessage("a message is a map")
    return obj


def _build(obj: dict[str, Any], types: dict[str, Any]) -> Any:
    msg_type = obj.get("type")
    if type(msg_type) is not str:
        raise BadField("missing or non-string 'type'")
    cls = types.get(msg_type)
    if cls is None:
        raise UnknownMessageType(f"unknown type {msg_type[:40]!r}", msg_type[:40])
    specs = _SPECS[cls]
    known = {s.name for s in specs}
    extra = obj.keys() - known - {"type"}
    if extra:
        # keys may be str or bin (strict_map_key allows both): name one without sorting them
        raise BadField(f"unknown field {min(str(k) for k in extra)[:40]!r}", msg_type)
    kwargs: dict[str, Any] = {}
    for spec in specs:
        if spec.name not in obj:
            if spec.required:
                raise BadField(f"missing field {spec.name!r}", msg_type)
            continue
        value = obj[spec.name]
        if not spec.check(value):
            raise BadField(f"field {spec.name!r} has the wrong type", msg_type)
        if spec.is_progress:
            value = Progress(value["answered"], value["partial"], value["total"])
        kwargs[spec.name] = value
    return cls(**kwargs)


def decode_client(
    data: bytes, limits: Limits = DEFAULT_LIMITS, *, media: bool = False
) -> ClientMessage | MediaClientMessage:
    """Decode a command sent by a candidate client (what a hub receives); ``media``: the
    socket speaks v2, which adds the media signalling commands."""
    result: ClientMessage | MediaClientMessage = _build(
        _unpack(data, limits), _V2_CLIENT_TYPES if media else CLIENT_TYPES
    )
    return result


@overload
def decode_server(
    data: bytes, limits: Limits = DEFAULT_LIMITS, *, media: Literal[False] = False
) -> ServerMessage: ...
@overload
def decode_server(
    data: bytes, limits: Limits = DEFAULT_LIMITS, *, media: bool
) -> ServerMessage | MediaServerMessage: ...
def decode_server(
    data: bytes, limits: Limits = DEFAULT_LIMITS, *, media: bool = False
) -> ServerMessage | MediaServerMessage:
    """Decode a fact sent by the server (what a client receives); ``media``: v2."""
    result: ServerMessage | MediaServerMessage = _build(
        _unpack(data, limits), _V2_SERVER_TYPES if media else SERVER_TYPES
    )
    return result


MONITOR_LIMITS = Limits(max_message_bytes=4096, max_items=8, max_str_bytes=1024)
# what a monitor receives can be large (a whole answer's summary): the server is trusted
MONITOR_SERVER_LIMITS = Limits(max_message_bytes=1 << 20, max_items=10_000, max_str_bytes=1 << 20)


def decode_monitor_client(data: bytes, limits: Limits = MONITOR_LIMITS) -> MonitorClientMessage:
    """Decode a command from an HR monitor (what a hub receives on /ws/monitor)."""
    result: MonitorClientMessage = _build(_unpack(data, limits), MONITOR_CLIENT_TYPES)
    return result


def decode_monitor_server(
    data: bytes, limits: Limits = MONITOR_SERVER_LIMITS
) -> MonitorServerMessage:
    """Decode what the hub sends a monitor."""
    result: MonitorServerMessage = _build(_unpack(data, limits), MONITOR_SERVER_TYPES)
    return result
