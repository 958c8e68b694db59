"""The operation log's integrity: how entries are sealed, and how a log is checked.

There is one log per interview (scope ``iv:<id>``) and one per organisation
(``org:<org>``), each a Redis stream. Every entry holds its JSON body ``e``, its time
``t`` (ms), its position ``n`` (1, 2, ...) and ``m``, a MAC computed **on the hub**:

    m = HMAC-SHA256(log key, JSON [VERSION, scope, n, stream id, t, e, previous m])

The log key is derived from the hub secret and never leaves the hub: Redis receives the
finished entries only (not the key, not HMAC pads), so nobody who can read or write Redis,
or watch what it is sent (``MONITOR``), can make a MAC. Because the MAC covers the scope,
the position, the stream id and the MAC before it, an entry that is edited, forged,
re-added under another id, moved, or copied from another log fails, and so does every
entry after a removed or inserted one.

Beside the stream is its head ``"<n> <id> <m>"``, which appends compare-and-set. The head
itself proves nothing (anyone who can write Redis can move it back to an earlier genuine
entry, or delete log and head together): cutting the tail or deleting a log is caught by
the signed checkpoints that every hub anchors outside Redis (server/anchors.py), which
``verify`` takes as its last argument.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

VERSION = "ih-log/2"
# Domain separation: identity hashes are HMAC(secret, normalised number), which is only
# upper-case letters and digits, so it can never equal this label.
KEY_LABEL = b"interview-hub/operation-log/mac-key/v2"


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is asking, from where: what the operation log says of each entry's author."""

    ip: str = ""
    device: str = ""
    device_id: str = ""  # a candidate device's own id (join): never logged, never shown
    actor: str = "candidate"
    role: str = "candidate"
    proof: str = ""  # the identity proof used, masked: "phone 138****8000" (candidates)

    def entry(
        self, action: str, outcome: str, detail: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The log entry of ``action`` by this caller ("ok" or the refusal's reason): the
        one place an entry is built (the store seals its personal fields and chains it)."""
        entry: dict[str, Any] = {
            "action": action,
            "outcome": outcome,
            "actor": self.actor,
            "role": self.role,
            "ip": self.ip,
            "device": self.device,
        }
        if self.proof:
            entry["proof"] = self.proof
        if detail:
            entry["detail"] = detail
        return entry


SYSTEM = Caller(actor="system", role="system")  # the hub itself: timers, automatic reports


@dataclass(frozen=True, slots=True)
class LogKey:
    """The MAC key of the operation logs (kept out of reprs, so out of tracebacks)."""

    key: bytes = field(repr=False)

    @classmethod
    def from_secret(cls, secret: str) -> LogKey:
        return cls(hmac.new(secret.encode(), KEY_LABEL, hashlib.sha256).digest())

    def mac(self, scope: str, n: int, entry_id: str, t: str, body: str, prev: str) -> str:
        message = json.dumps(
            [VERSION, scope, n, entry_id, t, body, prev], ensure_ascii=False, separators=(",", ":")
        )
        return hmac.new(self.key, message.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class Head:
    """The last entry of a log as its head key holds it; ``raw`` is what is compared."""

    n: int = 0
    id: str = "0-0"
    mac: str = ""
    raw: str = ""

    @classmethod
    def of(cls, n: int, entry_id: str, mac: str) -> Head:
        return cls(n, entry_id, mac, f"{n} {entry_id} {mac}")

    @classmethod
    def decode(cls, raw: str | None) -> Head:
        """The head as stored; one that does not parse (someone wrote it) chains from the
        start, so the log fails verification instead of blocking the hub."""
        if not raw:
            return cls()
        parts = raw.split(" ")
        if len(parts) == 3 and parts[0].isdigit() and _stream_id(parts[1]) is not None:
            return cls(int(parts[0]), parts[1], parts[2], raw)
        return cls(raw=raw)


@dataclass(frozen=True, slots=True)
class Sealed:
    """One entry ready for XADD with its explicit id."""

    id: str
    t: str
    n: int
    e: str
    m: str

    def fields(self) -> list[str]:
        return [self.id, self.t, str(self.n), self.e, self.m]


def _stream_id(value: str) -> tuple[int, int] | None:
    ms, dash, seq = value.partition("-")
    if not dash or not ms.isdigit() or not seq.isdigit():
        return None
    return int(ms), int(seq)


def next_id(after: str, now: int) -> str:
    """A stream id above ``after``: ``<now>-0``, or the same millisecond's next one when
    the clock is not past it (ids always grow, so they can be covered by the MAC)."""
    ms, seq = _stream_id(after) or (0, 0)
    return f"{now}-0" if now > ms else f"{ms}-{seq + 1}"


def later_id(a: str, b: str) -> str:
    return a if (_stream_id(a) or (0, 0)) >= (_stream_id(b) or (0, 0)) else b


def seal(
    key: LogKey, scope: str, head: Head, entries: Iterable[tuple[str, int]], floor: str = "0-0"
) -> tuple[list[Sealed], Head]:
    """Chain ``entries`` (JSON body, time ms) after ``head``; ids above ``floor`` too (the
    stream's last id, when someone added entries the head does not know)."""
    out: list[Sealed] = []
    n, last, prev = head.n, later_id(head.id, floor), head.mac
    for body, now in entries:
        n += 1
        entry_id = next_id(last, now)
        mac = key.mac(scope, n, entry_id, str(now), body, prev)
        out.append(Sealed(entry_id, str(now), n, body, mac))
        last, prev = entry_id, mac
    return out, (Head.of(n, last, prev) if out else head)


def body(entry: dict[str, Any]) -> str:
    """An entry's JSON as stored (compact, UTF-8 kept)."""
    return json.dumps(entry, separators=(",", ":"), ensure_ascii=False)


class Anchor(Protocol):
    """What a verified checkpoint says (server/anchors.py): entry ``n`` of the log is
    ``id`` with MAC ``mac``."""

    @property
    def n(self) -> int: ...
    @property
    def id(self) -> str: ...
    @property
    def mac(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    entries: int
    first_bad: int = -1  # index of the first entry that does not hold (-1: none)
    first_bad_id: str = ""
    reason: str = ""
    problem: str = ""  # a stable code for ``reason`` (see PROBLEMS)
    anchored: int = 0  # entries pinned by a signed checkpoint (the rest are newer)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "first_bad": self.first_bad,
            "first_bad_id": self.first_bad_id,
            "reason": self.reason,
            "problem": self.problem,
            "anchored": self.anchored,
        }


PROBLEMS = {
    "old_format": "written before entries were sealed on the hub (not verifiable)",
    "malformed": "fields missing or not numbers",
    "out_of_place": "its position is not where it stands (an entry before it was removed or "
    "inserted, or entries were swapped)",
    "mac": "its MAC does not hold: edited, forged, re-added under another id, or copied "
    "from another log",
    "no_head": "the head is missing",
    "head": "the head does not name the last entry (entries cut, or the head moved)",
    "anchor_mismatch": "a signed checkpoint names another entry here",
    "missing_tail": "entries that a signed checkpoint anchors are gone",
    "missing_log": "the log is gone, but signed checkpoints anchor entries of it",
    "bad_anchor": "a checkpoint for this log does not verify with the public key",
    "unanchored": "no signed checkpoint covers this log, so a cut or deleted log cannot be "
    "told from a whole one (hubs must share HUB_LOG_ANCHOR_DIR; a new log is anchored "
    "within a second)",
}


def verify(
    key: LogKey,
    scope: str,
    entries: Sequence[dict[str, str]],
    head: str | None,
    anchors: Iterable[Anchor] = (),
    bad_anchors: int = 0,
    *,
    need_checkpoint: bool = False,
) -> Verdict:
    """Check a log: ``entries`` as stored ({id, e, t, n, m}), oldest first, its head, and
    the signed checkpoints of its scope (already checked against the public key;
    ``bad_anchors`` counts those that were not). ``need_checkpoint``: a log that no
    checkpoint covers is not ok (``unanchored``): nothing then tells a cut or deleted log
    from a whole one."""
    count = len(entries)

    def bad(i: int, entry_id: str, problem: str, detail: str = "") -> Verdict:
        reason = PROBLEMS[problem] + (f" ({detail})" if detail else "")
        return Verdict(False, count, i, entry_id, reason, problem, anchored)

    pinned = sorted(anchors, key=lambda a: a.n)
    anchored = 0
    prev = ""
    for i, entry in enumerate(entries):
        entry_id = entry.get("id", "")
        if "m" not in entry and "h" in entry:
            return bad(i, entry_id, "old_format")
        n, t = entry.get("n", ""), entry.get("t", "")
        if not n.isdigit() or not t.isdigit() or "e" not in entry or "m" not in entry:
            return bad(i, entry_id, "malformed")
        if int(n) != i + 1:
            return bad(i, entry_id, "out_of_place", f"it says entry {n}, it stands at {i + 1}")
        if not hmac.compare_digest(
            key.mac(scope, i + 1, entry_id, t, entry["e"], prev), entry["m"]
        ):
            return bad(i, entry_id, "mac")
        prev = entry["m"]
    for anchor in pinned:
        if anchor.n > count:
            detail = f"the log ends at entry {count}; entry {anchor.n} ({anchor.id}) was anchored"
            if not count and not head:
                return bad(0, anchor.id, "missing_log", detail)
            return bad(count, anchor.id, "missing_tail", detail)
        entry = entries[anchor.n - 1]
        if entry["id"] != anchor.id or not hmac.compare_digest(entry["m"], anchor.mac):
            # genuine entries, but not the ones anchored: the log was cut and written on
            detail = f"entry {anchor.n} was {anchor.id}; entries after {anchored} were replaced"
            return bad(anchor.n - 1, entry["id"], "anchor_mismatch", detail)
        anchored = max(anchored, anchor.n)
    if bad_anchors:
        return bad(-1, "", "bad_anchor", f"{bad_anchors} checkpoint(s)")
    last = entries[-1] if entries else None
    expected = Head.of(count, last["id"], last["m"]).raw if last else ""
    if (head or "") != expected:
        if head is None and last:
            return bad(count, "", "no_head")
        told = Head.decode(head)
        detail = f"it names entry {told.n} ({told.id}); the log has {count}"
        return bad(count if told.n > count else max(told.n, 0), told.id, "head", detail)
    if need_checkpoint and not pinned:
        return bad(-1, "", "unanchored")
    return Verdict(True, count, anchored=anchored)
