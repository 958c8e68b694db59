"""Request bodies: a JSON object read with limits on its size and its nesting.

Every JSON endpoint (the candidate's and HR's) reads its body here, and most then read it
into their shape (``read_body``, server/http_models.py). The size limit stops
a body before it is read whole; the depth limit is checked on the bytes before they are
decoded, because Python's JSON decoder recurses once per level and a body of 30,000 ``[``
would end in a RecursionError (a 500) instead of a refusal.
"""

from __future__ import annotations

import json
import logging
from typing import Any, TypeVar

from starlette.requests import ClientDisconnect, Request

from protocol.reasons import Reason
from server.candidates import Refusal
from server.shapes import ShapeError, read

T = TypeVar("T")

log = logging.getLogger("interview_hub.bodies")

MAX_BODY_BYTES = 64 * 1024
# no request body needs more; the JSON decoder recurses, so a deeper one is refused unread
MAX_JSON_DEPTH = 32
OPENERS, CLOSERS = frozenset(b"[{"), frozenset(b"]}")
QUOTE, BACKSLASH = ord('"'), ord("\\")


def nested_deeper_than(raw: bytes | bytearray, limit: int) -> bool:
    """Whether the JSON text nests arrays and objects more than ``limit`` deep (brackets
    inside strings do not count); a loop, not a recursion."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False  # the usual body: too few brackets to matter
    depth, in_string, escaped = 0, False, False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == BACKSLASH:
                escaped = True
            elif byte == QUOTE:
                in_string = False
        elif byte == QUOTE:
            in_string = True
        elif byte in OPENERS:
            depth += 1
            if depth > limit:
                return True
        elif byte in CLOSERS:
            depth -= 1
    return False


async def json_body(request: Request, limit: int = MAX_BODY_BYTES) -> dict[str, Any]:
    """The request's JSON object, read no further than ``limit`` bytes; a body that is not
    a JSON object, or nests deeper than MAX_JSON_DEPTH, is ``malformed``. A client that
    goes away mid-body gets the same refusal, which it never reads (nothing is logged)."""
    if int(request.headers.get("content-length") or 0) > limit:
        raise Refusal(Reason.TOO_LARGE)
    raw = bytearray()
    try:
        async for part in request.stream():
            raw += part
            if len(raw) > limit:
                raise Refusal(Reason.TOO_LARGE)
    except ClientDisconnect:
        log.debug("client went away mid-body: %s %s", request.method, request.url.path)
        raise Refusal(Reason.MALFORMED) from None
    if nested_deeper_than(raw, MAX_JSON_DEPTH):
        raise Refusal(Reason.MALFORMED)
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise Refusal(Reason.MALFORMED) from None
    if not isinstance(data, dict):
        raise Refusal(Reason.MALFORMED)
    return data


async def read_body(request: Request, shape: type[T]) -> T:
    """The request's JSON object (``json_body``: the limits first) read into ``shape``: a
    field missing, of the wrong type or out of its range is ``bad_field``; keys the shape
    does not name are ignored (SPEC §10)."""
    data = await json_body(request)
    try:
        return read(shape, data)
    except ShapeError:
        raise Refusal(Reason.BAD_FIELD) from None


__all__ = ["MAX_BODY_BYTES", "MAX_JSON_DEPTH", "json_body", "nested_deeper_than", "read_body"]
