"""Replies as they are: redis-py types a reply for either kind of client (a string as
``bytes | str``, a stream's rows as optional). Ours are fixed when made: ``Store.redis``
decodes (its strings are str), ``Store.raw`` does not (bytes). These say which, where a reply
is read: casts for the type checker, nothing is checked at run time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast, overload

from redis.typing import (
    EncodableT,
    FieldT,
    StreamRangeResponse,
    XReadGroupResponse,
    XReadResponse,
    ZSetRangeResponse,
)

Row = tuple[str, dict[str, str]]  # a stream entry from a decoding client: id, fields
RawRow = tuple[bytes, dict[bytes, bytes]]  # the same from ``Store.raw``
StreamsReply = XReadResponse | XReadGroupResponse | None


@overload
def text_value(reply: bytes | str) -> str: ...
@overload
def text_value(reply: bytes | str | None) -> str | None: ...
def text_value(reply: bytes | str | None) -> str | None:
    """A string (or None: no such key or field) from a decoding client."""
    return cast(str | None, reply)


def texts(reply: list[bytes | str] | ZSetRangeResponse) -> list[str]:
    """A list of strings (LRANGE; ZRANGE without scores) from a decoding client."""
    return cast(list[str], reply)


def text_set(reply: set[bytes | str]) -> set[str]:
    """A set (SMEMBERS) from a decoding client."""
    return cast(set[str], reply)


def text_hash(reply: dict[bytes | str, bytes | str]) -> dict[str, str]:
    """A hash (HGETALL) from a decoding client."""
    return cast(dict[str, str], reply)


def text_rows(reply: StreamRangeResponse | None) -> list[Row]:
    """A stream's entries (XRANGE, XREVRANGE) from a decoding client: a list, never None,
    and every entry with its fields (only a pending entry since deleted has none)."""
    return cast(list[Row], reply)


def raw_rows(reply: StreamRangeResponse | None) -> list[RawRow]:
    """A stream's entries from a client that does not decode (``Store.raw``)."""
    return cast(list[RawRow], reply)


def text_streams(reply: StreamsReply) -> list[tuple[str, list[Row]]]:
    """What XREAD or XREADGROUP read from a decoding client (RESP2: a list of [stream,
    entries]; [] for None, when nothing came before the block ran out)."""
    return cast(list[tuple[str, list[Row]]], reply or [])


def raw_streams(reply: StreamsReply) -> list[tuple[bytes, list[RawRow]]]:
    """The same from a client that does not decode."""
    return cast(list[tuple[bytes, list[RawRow]]], reply or [])


def as_fields(mapping: Mapping[str, str]) -> Mapping[FieldT, EncodableT]:
    """String fields and values to write (HSET): redis-py's mapping parameter is invariant
    in its key type, so it refuses a ``dict[str, str]`` it takes as it is."""
    return cast(Mapping[FieldT, EncodableT], mapping)
