"""The tamper-evident operation log: how links are made, and how a chain is checked.

Every log stream (one per interview, one per organisation) is a chain: each entry holds
``p``, the link before it, and ``h``, its own link,

    h = sha1(outer ‖ sha1(inner ‖ p ‖ "\\n" ‖ t ‖ "\\n" ‖ e))

where ``inner``/``outer`` are the hub secret XOR the HMAC pads (an HMAC-SHA1 construction;
SHA-1 is the hash Redis scripts have, and as a keyed MAC it is not open to collision
attacks). The last link is kept beside the stream as its head. An edited, removed,
inserted, reordered or cut entry breaks the chain or no longer meets the head, and
rewriting the whole chain needs the secret, which is never stored in Redis.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

GENESIS = "genesis"


@dataclass(frozen=True, slots=True)
class LogKey:
    inner: bytes
    outer: bytes

    @classmethod
    def from_secret(cls, secret: str) -> LogKey:
        key = hashlib.sha256(("oplog:" + secret).encode()).digest().ljust(64, b"\0")
        return cls(bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key))

    def link(self, prev: str, t: str, e: str) -> str:
        inner = hashlib.sha1(self.inner + f"{prev}\n{t}\n{e}".encode()).hexdigest()
        return hashlib.sha1(self.outer + inner.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    entries: int
    first_bad: int = -1  # index of the first entry that does not hold (-1: none)
    first_bad_id: str = ""
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "first_bad": self.first_bad,
            "first_bad_id": self.first_bad_id,
            "reason": self.reason,
        }


def verify(key: LogKey, entries: list[dict[str, str]], head: str | None) -> Verdict:
    """Check a chain: ``entries`` as stored ({id, e, t, p, h}), oldest first."""
    prev = GENESIS
    for i, entry in enumerate(entries):
        if entry.get("p") != prev:
            return Verdict(
                False, len(entries), i, entry.get("id", ""), "does not follow the entry before"
            )
        if key.link(prev, entry.get("t", ""), entry.get("e", "")) != entry.get("h"):
            return Verdict(False, len(entries), i, entry.get("id", ""), "content or link altered")
        prev = entry["h"]
    if (head or GENESIS) != prev:
        at = len(entries)
        return Verdict(
            False, len(entries), at, "", "entries missing at the end (the head is further on)"
        )
    return Verdict(True, len(entries))
