"""The operation log: sealed on the hub, anchored outside Redis, every tampering caught.

The attacker here is a "Redis writer": someone who can read and write everything in
Redis and sees every command it is sent (a MONITOR capture), but has neither the hub's
secret nor the checkpoint signing key, and cannot rewrite the anchor files.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from client.candidate import CandidateClient
from protocol import interview as sm
from protocol.reasons import Reason
from server.anchors import (
    AnchorBook,
    Checkpoint,
    Checkpointer,
    Signer,
    load_public_key,
    load_signing_key,
)
from server.audit import Head, LogKey, Verdict, next_id, seal, verify
from server.candidates import Caller, CandidateService, Refusal
from server.settings import Settings
from server.store import Store, log_keys, log_scope
from server.store.embedded import EmbeddedRedis
from tests.conftest import (
    ID_NUMBER,
    MASTER_KEYS,
    PHONE,
    ROOT,
    SECRET,
    Hub,
    Org,
    interview_body,
    now_ms,
    start_hub,
)

KEY = LogKey.from_secret("unit-secret")
SIGNER = Signer(Ed25519PrivateKey.generate())


def unit_log(n: int, scope: str = "iv:unit") -> tuple[list[dict[str, str]], str]:
    entries = [(json.dumps({"action": "join", "i": i}), 1_800_000_000_000 + i) for i in range(n)]
    sealed, head = seal(KEY, scope, Head(), entries)
    return [{"id": s.id, "e": s.e, "t": s.t, "n": str(s.n), "m": s.m} for s in sealed], head.raw


def test_a_sealed_log_verifies_and_an_empty_one_too() -> None:
    """A log sealed in order verifies with its head; an empty log without a head does too."""
    entries, head = unit_log(30)
    assert verify(KEY, "iv:unit", entries, head).ok
    assert verify(KEY, "iv:unit", [], None).ok
    assert not verify(KEY, "iv:other", entries, head).ok  # the scope is in every MAC


def test_ids_always_grow_even_when_the_clock_goes_back() -> None:
    """Stream ids are <now>-0, or the previous millisecond's next one when the clock is behind."""
    assert next_id("0-0", 5) == "5-0"
    assert next_id("5-0", 5) == "5-1"
    assert next_id("9-3", 5) == "9-4"
    assert next_id("9-3", 12) == "12-0"


def test_a_log_written_before_sealing_is_named_as_old_format() -> None:
    """An entry in the old format (p/h links made inside Redis) is reported, not trusted."""
    old = [{"id": "1-0", "e": "{}", "t": "1", "p": "genesis", "h": "ab" * 20}]
    verdict = verify(KEY, "iv:unit", old, "ab" * 20)
    assert not verdict.ok and verdict.problem == "old_format" and verdict.first_bad == 0


# --- a real log in a real Redis, and what Redis is sent ---------------------------------------


class MonitorCapture:
    """Everything Redis is sent, as its MONITOR shows it (a raw socket, no client library)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.sendall(b"MONITOR\r\n")
        first = b""
        while b"\r\n" not in first:  # "+OK": from here on, every command is shown
            first += self.sock.recv(1)
        assert first == b"+OK\r\n", first
        self.chunks: list[bytes] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                return
            if not data:
                return
            self.chunks.append(data)

    def text(self) -> str:
        return b"".join(self.chunks).decode("latin-1")

    def stop(self) -> str:
        self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self.thread.join()
        return self.text()


def redis_repr(data: bytes) -> str:
    """How MONITOR prints an argument (Redis' sdscatrepr)."""
    special = {
        ord("\\"): "\\\\",
        ord('"'): '\\"',
        ord("\n"): "\\n",
        ord("\r"): "\\r",
        ord("\t"): "\\t",
        7: "\\a",
        8: "\\b",
    }
    return "".join(special.get(c, chr(c) if 32 <= c < 127 else f"\\x{c:02x}") for c in data)


def key_material(store: Store) -> list[bytes]:
    """Every byte string the store's log key holds, and HMAC pads made from it."""
    found: list[bytes] = [SECRET.encode()]
    for f in fields(store.log_key):
        value = getattr(store.log_key, f.name)
        value = value.encode() if isinstance(value, str) else value
        found.append(value)
        block = value.ljust(64, b"\0")[:64]
        found += [bytes(b ^ 0x36 for b in block), bytes(b ^ 0x5C for b in block)]
    return found


async def test_the_mac_key_never_reaches_redis(
    redis_server: EmbeddedRedis, store: Store, make_interview: Any, settings: Settings
) -> None:
    """MONITOR during state changes, refusals and organisation entries shows the entries and their MACs, but no key, pad or secret."""
    iv_id, token = await make_interview()
    service = CandidateService(store, settings)
    capture = MonitorCapture(redis_server.port)
    try:
        caller = Caller(ip="10.0.0.1", device="pytest")
        with pytest.raises(Refusal):
            await service.verify(token, "13900000000", caller, "join")  # a refusal, logged
        await service.join(iv_id, "s1", caller)  # a state change with its entry
        await store.log_org("default", {"action": "login", "outcome": "ok"}, now_ms())
        await service.request_exit(iv_id, "s1", caller)
        entries, _ = await store.log_chain(log_scope(iv_id))
    finally:
        seen = capture.stop()
    assert entries and all(e["m"] in seen for e in entries)  # the capture saw the appends
    for material in key_material(store):
        assert redis_repr(material[:16]) not in seen
        assert material.hex()[:32] not in seen


@dataclass
class Fixture:
    """A real interview log and organisation log, anchored, and what an attacker harvested."""

    store: Store
    anchors: Path
    book: AnchorBook
    originals: dict[str, tuple[list[tuple[str, dict[str, str]]], str | None]]
    target_scopes: list[str]
    other_iv: str
    other_org: str
    harvest: list[tuple[str, dict[str, str]]]  # every entry of every log, as stored
    captured_macs: list[str]  # 64-hex values seen by MONITOR


async def build_logs(
    store: Store, settings: Settings, make_interview: Any, tmp: Path, port: int
) -> Fixture:
    """Two interviews and two organisations with state changes, refusals and org entries."""
    service = CandidateService(store, settings)
    org_a, org_b = f"orga{now_ms()}", f"orgb{now_ms()}"
    capture = MonitorCapture(port)
    caller = Caller(ip="10.1.2.3", device="Mozilla/5.0 test")
    ivs = []
    for org in (org_a, org_b):
        iv_id, token = await make_interview(questions=4)
        await store.redis.hset(f"{{iv:{iv_id}}}:meta", "org", org)
        ivs.append((iv_id, token, org))
    for iv_id, token, org in ivs:
        with pytest.raises(Refusal):
            await service.verify(token, "13912345678", caller, "join")
        verified = await service.verify(token, PHONE, caller, "join")
        who = Caller(ip=caller.ip, device=caller.device, proof=verified.proof)
        for round_ in range(4):
            await service.join(iv_id, f"s{round_}", who)
            await service.request_exit(iv_id, f"s{round_}", who)
            await service.cancel_exit(iv_id, f"s{round_}", who)
            await service.log(iv_id, who, "hr_command:end", Reason.UNKNOWN_TYPE, org=org)
            await service.disconnect(iv_id, f"s{round_}", who)
        hr = Caller(ip="10.9.9.9", device="console", actor="boss", role="admin")
        for i in range(6):
            await store.log_org(org, hr.entry(f"login{i}", "ok"), now_ms())
    seen = capture.stop()
    await Checkpointer(store.take_unanchored, store.give_back_unanchored, SIGNER, tmp).round()
    book = AnchorBook(tmp, SIGNER.public).refresh()
    scopes = [log_scope(ivs[0][0]), log_scope(org=org_a)]
    originals = {}
    harvest: list[tuple[str, dict[str, str]]] = []
    for scope in [*scopes, log_scope(ivs[1][0]), log_scope(org=org_b)]:
        entries, head = await store.log_chain(scope)
        assert len(entries) >= 10
        rows = [(e["id"], {k: v for k, v in e.items() if k != "id"}) for e in entries]
        originals[scope] = (rows, head)
        harvest += rows
        verdict = await check(store, book, scope)
        assert verdict.ok and verdict.anchored == len(entries), verdict
    return Fixture(
        store,
        tmp,
        book,
        originals,
        scopes,
        log_scope(ivs[1][0]),
        log_scope(org=org_b),
        harvest,
        sorted(set(re.findall(r"[0-9a-f]{64}", seen))),
    )


async def check(store: Store, book: AnchorBook, scope: str) -> Verdict:
    entries, head = await store.log_chain(scope)
    checkpoints, bad = book.of(scope)
    return verify(store.log_key, scope, entries, head, checkpoints, bad)


async def write(
    store: Store, scope: str, rows: list[tuple[str, dict[str, str]]] | None, head: str | None
) -> None:
    """The attacker's pen: replace the log and its head with exactly this."""
    stream, head_key = log_keys(scope)
    async with store.redis.pipeline(transaction=True) as pipe:
        pipe.delete(stream, head_key)
        for entry_id, entry in rows or []:
            pipe.xadd(stream, entry, id=entry_id)
        if head is not None:
            pipe.set(head_key, head)
        await pipe.execute()


def increasing(rows: list[tuple[str, dict[str, str]]]) -> list[tuple[str, dict[str, str]]]:
    """Ids bumped where needed so the stream accepts them (an attacker re-ids to insert)."""
    out, last = [], "0-0"
    for entry_id, entry in rows:
        ms, seq = (int(x) for x in entry_id.split("-"))
        lms, lseq = (int(x) for x in last.split("-"))
        if (ms, seq) <= (lms, lseq):
            entry_id = next_id(last, ms)
        out.append((entry_id, entry))
        last = entry_id
    return out


def head_of(rows: list[tuple[str, dict[str, str]]]) -> str:
    entry_id, entry = rows[-1]
    return f"{entry['n']} {entry_id} {entry['m']}"


KINDS = (
    "edit_body",
    "edit_time",
    "edit_position",
    "edit_mac",
    "delete",
    "delete_and_move_head",
    "swap",
    "insert_forged",
    "insert_replayed",
    "append_forged_with_head",
    "duplicate",
    "re_id_one",
    "re_id_from",
    "truncate_keep_head",
    "truncate_move_head",
    "delete_log_and_head",
    "delete_log_keep_head",
    "delete_head",
    "garbage_head",
    "transplant",
    "rewrite_with_a_guessed_key",
    "rewrite_from_harvest",
)
# the kinds whose first bad entry is exactly the one touched
POINTED = {
    "edit_body",
    "edit_time",
    "edit_position",
    "edit_mac",
    "delete",
    "delete_and_move_head",
    "swap",
    "insert_forged",
    "insert_replayed",
    "duplicate",
    "re_id_one",
    "re_id_from",
}


def tamper(
    kind: str, fx: Fixture, scope: str, rng: random.Random
) -> tuple[list[tuple[str, dict[str, str]]] | None, str | None, int]:
    """One tampering of ``scope``'s log: (new rows or None, new head or None, index touched)."""
    rows0, head0 = fx.originals[scope]
    rows = [(i, dict(e)) for i, e in rows0]
    n = len(rows)
    i = rng.randrange(n)
    last = rng.randrange(n - 1)  # an index that is not the last
    if kind == "edit_body":
        body = json.loads(rows[i][1]["e"])
        choice = rng.choice(["outcome", "actor", "ip", "space"])
        if choice == "space":
            rows[i][1]["e"] += " "
        else:
            body[choice] = str(body.get(choice, "")) + "x"
            rows[i][1]["e"] = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
        return rows, head0, i
    if kind == "edit_time":
        rows[i][1]["t"] = str(int(rows[i][1]["t"]) + rng.choice([-1, 1]) * rng.randint(1, 10**7))
        return rows, head0, i
    if kind == "edit_position":
        rows[i][1]["n"] = str(rng.choice([j for j in range(0, n + 3) if j != i + 1]))
        return rows, head0, i
    if kind == "edit_mac":
        pool = [
            m for m in [e["m"] for _, e in fx.harvest] + fx.captured_macs if m != rows[i][1]["m"]
        ]
        rows[i][1]["m"] = rng.choice(pool) if rng.random() < 0.5 else f"{rng.getrandbits(256):064x}"
        return rows, head0, i
    if kind == "delete":
        del rows[i]
        return rows, head0, i
    if kind == "delete_and_move_head":
        del rows[last]
        return rows, head_of(rows), last
    if kind == "swap":
        j = rng.choice([j for j in range(n) if j != i])
        a, b = sorted((i, j))
        rows[a], rows[b] = (rows[a][0], rows[b][1]), (rows[b][0], rows[a][1])
        return rows, head0, a
    if kind == "insert_forged":
        forged = dict(rows[i][1])
        forged["e"] = json.dumps({"action": "end", "outcome": "ok", "actor": "forger"})
        forged["m"] = f"{rng.getrandbits(256):064x}"
        rows.insert(i, (rows[i - 1][0] if i else "1-0", forged))
        return increasing(rows), head0, i
    if kind == "insert_replayed":
        other = [r for r in fx.harvest if r[1]["m"] not in {e["m"] for _, e in rows}]
        rows.insert(i, rng.choice(other))
        return increasing(rows), head0, i
    if kind == "append_forged_with_head":
        forged = {**rows[-1][1], "n": str(n + 1), "m": rng.choice(fx.captured_macs)}
        forged["e"] = json.dumps({"action": "reset", "outcome": "ok", "actor": "forger"})
        rows = increasing([*rows, (rows[-1][0], forged)])
        return rows, head_of(rows), n
    if kind == "duplicate":
        rows.insert(last + 1, rows[last])
        return increasing(rows), head0, last + 1
    if kind == "re_id_one":
        entry_id, entry = rows[last]
        ms, seq = (int(x) for x in entry_id.split("-"))
        nxt = rows[last + 1][0]
        candidates = [f"{ms}-{seq + 1}"] if f"{ms}-{seq + 1}" != nxt else []
        prev = rows[last - 1][0] if last else "0-0"
        if seq > 0 and f"{ms}-{seq - 1}" != prev:
            candidates.append(f"{ms}-{seq - 1}")
        if not candidates:  # no room beside it: move it and everything after by 1 ms
            return re_id_from(rows, last)
        rows[last] = (rng.choice(candidates), entry)
        return rows, head0, last
    if kind == "re_id_from":
        return re_id_from(rows, i)
    if kind == "truncate_keep_head":
        return rows[: rng.randrange(n)], head0, -1
    if kind == "truncate_move_head":
        cut = rows[: rng.randrange(1, n)]
        return cut, head_of(cut), -1
    if kind == "delete_log_and_head":
        return None, None, -1
    if kind == "delete_log_keep_head":
        return None, head0, -1
    if kind == "delete_head":
        return rows, None, -1
    if kind == "garbage_head":
        return rows, rng.choice(["", "0", f"{n} 1-1 {'0' * 64}", "junk"]), -1
    if kind == "transplant":
        other = fx.other_iv if scope.startswith("iv:") else fx.other_org
        rows, head = fx.originals[other]
        return [(i, dict(e)) for i, e in rows], head, -1
    if kind == "rewrite_with_a_guessed_key":
        guessed = LogKey.from_secret(
            rng.choice(["", "secret", SECRET[:-1], f"guess{rng.random()}"])
        )
        sealed, head = seal(guessed, scope, Head(), [(e["e"], int(e["t"])) for _, e in rows])
        new = [(s.id, {"e": s.e, "t": s.t, "n": str(s.n), "m": s.m}) for s in sealed]
        return new, head.raw, -1
    if kind == "rewrite_from_harvest":
        new = rows
        while new == rows:  # (drawing this very log back is not a tampering)
            picked = sorted(
                rng.sample(fx.harvest, rng.randint(1, n + 3)),
                key=lambda r: tuple(int(x) for x in r[0].split("-")),
            )
            new = increasing([(i, {**e, "n": str(k + 1)}) for k, (i, e) in enumerate(picked)])
        return new, head_of(new), -1
    raise AssertionError(kind)


def re_id_from(
    rows: list[tuple[str, dict[str, str]]], i: int
) -> tuple[list[tuple[str, dict[str, str]]], str | None, int]:
    """Every entry from ``i`` on re-added 1 ms later, the head following them."""
    moved = rows[:i] + [
        (f"{int(r[0].split('-')[0]) + 1}-{r[0].split('-')[1]}", r[1]) for r in rows[i:]
    ]
    moved = increasing(moved)
    return moved, head_of(moved), i


async def test_a_thousand_random_tamperings_of_a_real_log_are_all_caught(
    redis_server: EmbeddedRedis,
    store: Store,
    settings: Settings,
    make_interview: Any,
    tmp_path: Path,
) -> None:
    """1,000 seeded tamperings by a Redis writer (edits, deletions, swaps, insertions, forgeries, truncation with the head moved back, deleted logs, transplants, re-ids, rewrites) all fail verification, pointing at the entry touched."""
    fx = await build_logs(store, settings, make_interview, tmp_path, redis_server.port)
    rng = random.Random(20261126)
    counts: dict[str, int] = {}
    for _ in range(1000):
        kind = rng.choice(KINDS)
        scope = rng.choice(fx.target_scopes)
        rows, head, touched = tamper(kind, fx, scope, rng)
        assert (rows, head) != fx.originals[scope], kind  # each one really changes something
        await write(store, scope, rows, head)
        verdict = await check(store, fx.book, scope)
        assert not verdict.ok, (kind, scope)
        assert verdict.reason and verdict.problem
        if kind in POINTED:
            assert verdict.first_bad == touched, (kind, verdict)
        if kind in ("truncate_move_head", "delete_log_and_head", "delete_log_keep_head"):
            # only the signed checkpoints can tell: the rest is a genuine, shorter log
            assert verdict.problem in ("missing_tail", "missing_log"), (kind, verdict)
        counts[kind] = counts.get(kind, 0) + 1
        await write(store, scope, *fx.originals[scope])
    assert set(counts) == set(KINDS) and min(counts.values()) >= 20
    for scope in fx.target_scopes:  # restored, they verify again
        assert (await check(store, fx.book, scope)).ok


async def test_without_anchors_only_cutting_is_invisible_and_with_them_it_is_not(
    store: Store, settings: Settings, make_interview: Any, tmp_path: Path
) -> None:
    """A cut with the head moved back passes the MACs alone; the checkpoint names the missing tail; an unanchored tail can still be cut (the documented limit)."""
    iv_id, _ = await make_interview()
    scope = log_scope(iv_id)
    for i in range(6):
        await store.log(iv_id, {"action": "a", "i": i}, now_ms())
    checkpointer = Checkpointer(store.take_unanchored, store.give_back_unanchored, SIGNER, tmp_path)
    assert await checkpointer.round() == 1
    await store.log(iv_id, {"action": "after the checkpoint"}, now_ms())
    entries, _ = await store.log_chain(scope)
    rows = [(e["id"], {k: v for k, v in e.items() if k != "id"}) for e in entries]
    book = AnchorBook(tmp_path, SIGNER.public).refresh()
    await write(store, scope, rows[:6], head_of(rows[:6]))  # the unanchored entry 7 is dropped
    verdict = await check(store, book, scope)
    assert verdict.ok and verdict.anchored == 6
    await write(store, scope, rows[:4], head_of(rows[:4]))
    entries4, head4 = await store.log_chain(scope)
    assert verify(store.log_key, scope, entries4, head4).ok  # the MACs alone cannot tell
    verdict = await check(store, book, scope)
    assert not verdict.ok and verdict.problem == "missing_tail" and verdict.first_bad == 4
    assert verdict.first_bad_id == rows[5][0]


async def test_a_checkpoint_that_does_not_verify_is_reported(
    store: Store, make_interview: Any, tmp_path: Path
) -> None:
    """An anchor line forged or edited (signature, n) fails the check of its log, and is listed."""
    iv_id, _ = await make_interview()
    await store.log(iv_id, {"action": "a"}, now_ms())
    await Checkpointer(store.take_unanchored, store.give_back_unanchored, SIGNER, tmp_path).round()
    (anchor_file,) = tmp_path.glob("*.jsonl")
    line = json.loads(anchor_file.read_text())
    line["n"] = 5  # claims more than was written, with the old signature
    with anchor_file.open("a") as f:
        f.write(json.dumps(line) + "\n")
    book = AnchorBook(tmp_path, SIGNER.public).refresh()
    verdict = await check(store, book, log_scope(iv_id))
    assert not verdict.ok and verdict.problem == "bad_anchor"
    assert len(book.problems) == 1 and "does not verify" in book.problems[0]
    other = AnchorBook(tmp_path, Signer(Ed25519PrivateKey.generate()).public).refresh()
    assert len(other.problems) == 2  # another key verifies none of them


async def test_a_clean_log_from_many_writers_verifies(
    redis_server: EmbeddedRedis, settings: Settings, make_interview: Any, tmp_path: Path
) -> None:
    """Four stores (as four hubs) append to one organisation log and one interview log at once, beside state changes and refusals: nothing lost, every entry in place, all anchored."""
    stores = [
        Store.from_url(redis_server.url, secret=SECRET, master_keys=MASTER_KEYS) for _ in range(4)
    ]
    try:
        iv_id, token = await make_interview(questions=3)
        org = f"many{now_ms()}"
        services = [CandidateService(s, settings) for s in stores]

        async def writer(k: int) -> None:
            service = services[k]
            for i in range(60):
                await stores[k].log_org(org, {"action": "login", "w": k, "i": i}, now_ms())
                if i % 3 == 0:
                    await service.log(
                        iv_id, Caller(device=f"w{k}"), "note", "ok", {"i": i}, org=org
                    )
                if i % 10 == 0:
                    await service.join(iv_id, f"w{k}-{i}", Caller(device=f"w{k}"))
                if i % 15 == 0:
                    with pytest.raises(Refusal):
                        await service.verify(token, "110101199001011111", Caller(), "join")

        await asyncio.gather(*(writer(k) for k in range(4)))
        for s in stores:
            await Checkpointer(s.take_unanchored, s.give_back_unanchored, SIGNER, tmp_path).round()
        book = AnchorBook(tmp_path, SIGNER.public).refresh()
        org_verdict = await check(stores[0], book, log_scope(org=org))
        iv_verdict = await check(stores[0], book, log_scope(iv_id))
        assert org_verdict.ok and iv_verdict.ok, (org_verdict, iv_verdict)
        org_entries, _ = await stores[0].log_chain(log_scope(org=org))
        logins = [json.loads(e["e"]) for e in org_entries if '"login"' in e["e"]]
        assert sorted((e["w"], e["i"]) for e in logins) == [
            (k, i) for k in range(4) for i in range(60)
        ]
        assert org_verdict.anchored == org_verdict.entries  # the newest head of all anchored
        iv_entries, _ = await stores[0].log_chain(log_scope(iv_id))
        bodies = [json.loads(e["e"]) for e in iv_entries]
        assert sum(b["action"] == "note" for b in bodies) == 4 * 20
        assert sum(b["action"] == "join" and b["outcome"] == "ok" for b in bodies) == 4 * 6
        refused = [b for b in bodies if b["action"] == "join" and b["outcome"] != "ok"]
        # the failed identity checks: during a lock-out the first is logged, the rest are
        # counted for the sweeper's summing-up entry (bounded logging of refusals)
        counted = await stores[0].redis.hgetall(f"{{iv:{iv_id}}}:refusals")
        summed = sum(int(v) for f, v in counted.items() if f.startswith("n:"))
        assert refused and len(refused) + summed == 4 * 4
    finally:
        for s in stores:
            await s.close()


async def test_the_same_entry_from_two_hubs_in_the_same_millisecond_is_written_twice(
    redis_server: EmbeddedRedis, make_interview: Any
) -> None:
    """Two hubs appending identical entries (same body, same millisecond, same head) to a log: both are written; the second is not taken for a resend of the first (the cause of the many-writers flake)."""
    hubs = [
        Store.from_url(redis_server.url, secret=SECRET, master_keys=MASTER_KEYS) for _ in range(2)
    ]
    try:
        iv_id, _ = await make_interview()
        org = f"twins{now_ms()}"
        # a refused identity check whose proof cannot be sealed: nothing in it differs
        entry = {"action": "join", "outcome": "identity_mismatch", "actor": "candidate"}
        now = now_ms()
        for hub in hubs:
            await hub.log(iv_id, entry, now)
            await hub.log_org(org, {**entry, "interview_id": iv_id}, now)
        for scope in (log_scope(iv_id), log_scope(org=org)):
            entries, head = await hubs[0].log_chain(scope)
            assert [json.loads(e["e"])["outcome"] for e in entries] == ["identity_mismatch"] * 2
            assert verify(hubs[0].log_key, scope, entries, head).ok
    finally:
        for hub in hubs:
            await hub.close()


async def test_another_decision_making_the_same_log_head_is_not_taken_for_a_resend(
    redis_server: EmbeddedRedis, make_interview: Any
) -> None:
    """Two hubs apply different joins (sessions s1, s2) read from one snapshot, with identical log entries at the same millisecond: the second is refused (it decides again), not answered as if it had been applied."""
    hubs = [
        Store.from_url(redis_server.url, secret=SECRET, master_keys=MASTER_KEYS) for _ in range(2)
    ]
    try:
        iv_id, _ = await make_interview()
        loaded = await hubs[0].snapshot_and_log_head(iv_id)
        assert loaded is not None
        snap, _, head = loaded
        now = now_ms()
        entry = {"action": "join", "outcome": "ok", "actor": "candidate", "device": "phone"}
        for hub, session in zip(hubs, ("s1", "s2"), strict=True):
            decision = sm.join(snap, now, session, identity_ok=True)
            applied = await hub.apply(iv_id, snap, decision, now, log=[entry], log_head=head)
            assert (applied is not None) == (session == "s1"), session
        now_snap = await hubs[0].snapshot_and_log_head(iv_id)
        assert now_snap is not None and now_snap[0].session == "s1"
        entries, log_head = await hubs[0].log_chain(log_scope(iv_id))
        assert len(entries) == 1 and verify(hubs[0].log_key, log_scope(iv_id), entries, log_head).ok
    finally:
        for hub in hubs:
            await hub.close()


async def test_a_log_append_resent_after_a_lost_reply_is_written_once(store: Store) -> None:
    """append_log.lua called twice with the same arguments (redis-py resending after a lost reply) answers success both times and writes the entries once."""
    scope = log_scope(org=f"resent{now_ms()}")
    original = store._append_log_script
    answers: list[Any] = []

    async def twice(*, keys: list[str], args: list[Any]) -> Any:
        answers.append(await original(keys=keys, args=args))
        answers.append(await original(keys=keys, args=args))
        return answers[-1]

    store._append_log_script = twice  # type: ignore[method-assign]
    try:
        await store.log_org(scope.partition(":")[2], {"action": "login"}, now_ms())
    finally:
        store._append_log_script = original  # type: ignore[method-assign]
    assert [int(a[0]) for a in answers] == [1, 1]
    entries, head = await store.log_chain(scope)
    assert len(entries) == 1 and verify(store.log_key, scope, entries, head).ok


async def test_entries_written_past_the_head_do_not_stop_the_hub(
    store: Store, settings: Settings, make_interview: Any, tmp_path: Path
) -> None:
    """An entry planted far in the future (head untouched) is flagged, and appends and state changes still work after it."""
    iv_id, _ = await make_interview()
    service = CandidateService(store, settings)
    await service.join(iv_id, "s1", Caller())
    stream, _ = log_keys(log_scope(iv_id))
    await store.redis.xadd(
        stream, {"e": "{}", "t": "1", "n": "2", "m": "0" * 64}, id="99999999999999-0"
    )
    await service.request_exit(iv_id, "s1", Caller())  # a state change with its entry
    await store.log(iv_id, {"action": "after"}, now_ms())  # an entry without one
    entries, head = await store.log_chain(log_scope(iv_id))
    assert [json.loads(e["e"]).get("action") for e in entries][-2:] == ["exit_request", "after"]
    verdict = verify(store.log_key, log_scope(iv_id), entries, head)
    assert not verdict.ok and verdict.first_bad == 1 and verdict.first_bad_id == "99999999999999-0"


async def test_erasing_an_interview_keeps_its_log_verifiable(
    store: Store, settings: Settings, make_interview: Any, tmp_path: Path
) -> None:
    """After an erasure the interview's log (with the erase entry) and its organisation's still verify against the checkpoints."""
    from server import retention

    iv_id, _ = await make_interview()
    service = CandidateService(store, settings)
    await service.join(iv_id, "s1", Caller())
    await service.request_exit(iv_id, "s1", Caller())
    await service.confirm_exit(iv_id, "s1", Caller())
    meta = await store.meta(iv_id)  # no second entry by default: the exit ends it
    erased = await retention.erase(service, iv_id, retention.SYSTEM, "request")
    assert erased.refusal is None, erased.refusal
    await Checkpointer(store.take_unanchored, store.give_back_unanchored, SIGNER, tmp_path).round()
    book = AnchorBook(tmp_path, SIGNER.public).refresh()
    verdict = await check(store, book, log_scope(iv_id))
    assert verdict.ok and verdict.anchored == verdict.entries
    entries, _ = await store.log_chain(log_scope(iv_id))
    assert json.loads(entries[-1]["e"])["action"] == "erase"
    assert (await check(store, book, log_scope(org=meta.get("org", "default")))).ok


async def test_candidate_entries_name_the_proof_used_masked(
    store: Store, settings: Settings, make_interview: Any
) -> None:
    """A join by phone says 'phone 138****8000', one by ID card 'id 110***********1234', a wrong guess its own masked form, sealed with the interview's key (no number, not even masked, is in the log in clear), opened for HR."""
    iv_id, token = await make_interview()
    service = CandidateService(store, settings)
    with pytest.raises(Refusal):
        await service.verify(token, "13912345678", Caller(), "join")
    by_phone = await service.verify(token, PHONE, Caller(), "join")
    by_id = await service.verify(token, ID_NUMBER, Caller(), "join")
    assert by_phone.proof == "phone 138****8000"
    assert by_id.proof == "id 110***********1234"
    await service.join(iv_id, "s1", Caller(proof=by_id.proof))
    entries, _ = await store.log_chain(log_scope(iv_id))
    text = json.dumps(entries)
    for clear in (PHONE, ID_NUMBER, "13912345678", "139****5678", "110***********1234"):
        assert clear not in text
    shown = [e.get("proof") for e in await store.oplog(iv_id) if e.get("proof")]
    assert shown == ["phone 139****5678", "id 110***********1234"]


# --- through a running hub: its checkpoints, the HR API and the command line ----------------


def hub_cli(hub: Hub, *args: str) -> subprocess.CompletedProcess[str]:
    """``interview-hub`` run as an operator would, on the hub's Redis and data directory."""
    env = {
        **os.environ,
        "REDIS_URL": hub.redis_url,
        "HUB_SECRET": SECRET,
        "HUB_MASTER_KEYS": MASTER_KEYS,
    }
    return subprocess.run(
        [sys.executable, "-m", "server.cli", "--data-dir", str(hub.data_dir), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def hub_book(hub: Hub) -> AnchorBook:
    private = load_signing_key(hub.signing_key, create=False)
    assert private is not None
    return AnchorBook(hub.anchor_dir, private.public_key())


async def wait_anchored(book: AnchorBook, store: Store, scope: str) -> int:
    """Wait until the hub has anchored the log as it stands (state, not time); its length."""
    for _ in range(1200):
        _, head = await store.log_chain(scope)
        n = Head.decode(head).n
        checkpoints, _ = book.refresh().of(scope)
        if n and checkpoints and checkpoints[-1].n >= n:
            return n
        await asyncio.sleep(0.05)
    raise AssertionError(f"{scope} was not anchored")


async def test_the_hubs_log_is_anchored_and_a_cut_a_deletion_and_a_transplant_are_named(
    hub: Hub, org: Org, store: Store
) -> None:
    """A hub's log verifies against its checkpoints (API, export, CLI); cutting it with the head moved back, deleting it, or copying another log in is reported with the entry, exit 1."""
    async with httpx.AsyncClient(base_url=hub.http) as http:
        body = interview_body(second_entry=True, reentry_window_s=86400)  # stays as it is
        ids = []
        for _ in range(2):
            created = (
                await http.post("/api/hr/interviews", json=body, headers=org.auth("admin"))
            ).json()
            ids.append(created["interview_id"])
            async with CandidateClient(hub.ws, created["token"], PHONE) as c:
                await c.join()
                await c.request_exit()
                await c.confirm_exit()
        iv, other = ids
        refused = await http.post(
            f"/api/hr/interviews/{iv}/end", json={"confirm": True}, headers=org.auth("recruiter")
        )
        assert refused.status_code == 403  # refused, and logged
        scope = log_scope(iv)
        book = hub_book(hub)
        n = await wait_anchored(book, store, scope)
        await wait_anchored(book, store, log_scope(other))
        good = (
            await http.get(f"/api/hr/interviews/{iv}/log/verify", headers=org.auth("admin"))
        ).json()
        assert good["ok"] is True and good["entries"] == n >= 5 and good["anchored"] == n
        proof = (
            await http.get(f"/api/hr/interviews/{iv}/log/export", headers=org.auth("admin"))
        ).json()
        assert proof["head"].split(" ")[0] == str(n) and proof["checkpoints"]
        public = load_public_key(proof["public_key"].encode())
        assert all(Checkpoint.from_json(cp).holds(public) for cp in proof["checkpoints"])
        printed = hub_cli(hub, "log", "public-key")
        assert printed.returncode == 0 and proof["public_key"] in printed.stdout
        joined = [json.loads(e["e"]) for e in proof["entries"] if '"join"' in e["e"]]
        assert "proof" not in joined[0] and joined[0]["sealed"]["proof"]  # as stored: sealed
        shown = (
            await http.get(f"/api/hr/interviews/{iv}/log?action=join", headers=org.auth("admin"))
        ).json()["entries"]
        assert shown[0]["proof"] == "phone 138****8000"  # opened for HR
        cli = hub_cli(hub, "log", "verify", iv)
        assert cli.returncode == 0 and f"{scope}: ok ({n} entries, {n} anchored)" in cli.stdout

        entries, _ = await store.log_chain(scope)
        rows = [(e["id"], {k: v for k, v in e.items() if k != "id"}) for e in entries]
        await write(store, scope, rows[:3], head_of(rows[:3]))  # a genuine, shorter log
        bad = (
            await http.get(f"/api/hr/interviews/{iv}/log/verify", headers=org.auth("admin"))
        ).json()
        assert bad["ok"] is False and bad["problem"] == "missing_tail" and bad["first_bad"] == 3
        cli = hub_cli(hub, "log", "verify", iv)
        assert cli.returncode == 1 and f"{scope}: BROKEN at index 3" in cli.stdout, cli.stdout
        assert "anchors are gone" in cli.stdout

        await store.redis.delete(*log_keys(scope))  # log and head gone
        await store.redis.zrem("interviews", iv)  # and out of the index
        cli = hub_cli(hub, "log", "verify", "--all")
        assert cli.returncode == 1 and f"{scope}: BROKEN" in cli.stdout
        assert "the log is gone" in cli.stdout
        assert f"{log_scope(other)}: ok" in cli.stdout

        other_rows, other_head = await store.log_chain(log_scope(other))
        await write(
            store,
            scope,
            [(e["id"], {k: v for k, v in e.items() if k != "id"}) for e in other_rows],
            other_head,
        )
        cli = hub_cli(hub, "log", "verify", iv)
        assert cli.returncode == 1 and f"{scope}: BROKEN at index 0" in cli.stdout
        await write(store, scope, rows, proof["head"])  # put back as it was
        assert hub_cli(hub, "log", "verify", iv).returncode == 0


async def test_the_api_never_calls_a_log_without_checkpoints_whole(
    hub: Hub, org: Org, store: Store, redis_server: EmbeddedRedis, tmp_path: Path
) -> None:
    """Read through a hub that does not share the anchor directory, a log (whole, or cut to
    nothing) is not ok: `unanchored`, saying there are no checkpoints, as the command line
    exits 1; the hub that anchors it calls it ok, and the deletion missing_log."""
    elsewhere = start_hub(redis_server.url, tmp_path, HUB_LOG_ANCHOR_DIR=str(tmp_path / "other"))
    try:
        async with httpx.AsyncClient() as http:
            created = (
                await http.post(
                    f"{hub.http}/api/hr/interviews",
                    json=interview_body(),
                    headers=org.auth("admin"),
                )
            ).json()
            iv = created["interview_id"]
            scope = log_scope(iv)
            n = await wait_anchored(hub_book(hub), store, scope)

            async def verdict(on: Hub) -> dict[str, Any]:
                r = await http.get(
                    f"{on.http}/api/hr/interviews/{iv}/log/verify", headers=org.auth("admin")
                )
                assert r.status_code == 200, r.text
                return dict(r.json())

            assert (await verdict(hub))["ok"] is True
            whole = await verdict(elsewhere)
            assert whole["ok"] is False and whole["problem"] == "unanchored"
            assert whole["entries"] == n and whole["first_bad"] == -1 and whole["anchored"] == 0
            assert "no signed checkpoint" in whole["reason"]

            rows, head = await store.log_chain(scope)
            await store.redis.delete(*log_keys(scope))  # the log cut to nothing
            try:
                gone = await verdict(elsewhere)
                assert gone["ok"] is False and gone["problem"] == "unanchored"
                assert gone["entries"] == 0
                assert (await verdict(hub))["problem"] == "missing_log"
                empty = tmp_path / "no-anchors"
                empty.mkdir()
                cli = hub_cli(hub, "log", "verify", iv, "--anchors", str(empty))
                assert cli.returncode == 1 and "no signed checkpoint" in cli.stdout, cli.stdout
            finally:
                await write(
                    store,
                    scope,
                    [(e["id"], {k: v for k, v in e.items() if k != "id"}) for e in rows],
                    head,
                )
            assert (await verdict(hub))["ok"] is True
    finally:
        elsewhere.stop()


async def test_verify_without_any_checkpoint_says_so_and_fails(
    store: Store, make_interview: Any, tmp_path: Path, redis_server: EmbeddedRedis
) -> None:
    """With no anchors at all, the command cannot tell a cut log from a whole one: it says so and exits 1."""
    iv_id, _ = await make_interview()
    await store.log(iv_id, {"action": "a"}, now_ms())
    env = {
        **os.environ,
        "REDIS_URL": redis_server.url,
        "HUB_SECRET": SECRET,
        "HUB_MASTER_KEYS": MASTER_KEYS,
    }
    empty = tmp_path / "anchors"
    empty.mkdir()
    cli = subprocess.run(
        [
            sys.executable,
            "-m",
            "server.cli",
            "--data-dir",
            str(tmp_path),
            "log",
            "verify",
            iv_id,
            "--anchors",
            str(empty),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cli.returncode == 1 and f"iv:{iv_id}: ok (1 entries, 0 anchored" in cli.stdout
    assert "no signed checkpoint" in cli.stdout


async def test_hr_logins_record_their_device(hub: Hub, fresh_org: Org) -> None:
    """A login's entry in the organisation log has the browser's user agent, like candidate entries."""
    async with httpx.AsyncClient(base_url=hub.http) as http:
        user = fresh_org.users["admin"]
        r = await http.post(
            "/api/hr/login",
            json={"username": user, "password": "pw-" + user},
            headers={"User-Agent": "Mozilla/5.0 (HR laptop)"},
        )
        assert r.status_code == 200
        entries = (
            await http.get("/api/hr/log?action=login", headers=fresh_org.auth("admin"))
        ).json()
    entries = entries["entries"] if isinstance(entries, dict) else entries
    assert any(e["device"] == "Mozilla/5.0 (HR laptop)" for e in entries)
    assert all(e["device"] for e in entries)  # the fixture's logins too (httpx's agent)


async def test_the_http_fallback_logs_the_proof_too(
    hub: Hub, make_interview: Any, store: Store
) -> None:
    """An exit through POST /api/candidate/exit logs which proof was used, masked."""
    iv_id, token = await make_interview()
    async with httpx.AsyncClient(base_url=hub.http) as http:
        r = await http.post(
            "/api/candidate/exit", json={"token": token, "identity": ID_NUMBER, "confirm": True}
        )
    assert r.status_code == 409  # not in progress: refused, and logged
    last = (await store.oplog(iv_id))[-1]
    assert last["action"] == "exit" and last["proof"] == "id 110***********1234"


async def test_a_cut_log_written_on_by_the_hub_is_still_caught(
    store: Store, make_interview: Any, tmp_path: Path
) -> None:
    """Cutting a log and letting the hub write on at the same positions (anchored anew) is caught by the older checkpoint: every checkpoint is checked, not only the newest."""
    iv_id, _ = await make_interview()
    scope = log_scope(iv_id)
    checkpointer = Checkpointer(store.take_unanchored, store.give_back_unanchored, SIGNER, tmp_path)
    for i in range(5):
        await store.log(iv_id, {"action": "original", "i": i}, now_ms())
    await checkpointer.round()
    entries, _ = await store.log_chain(scope)
    rows = [(e["id"], {k: v for k, v in e.items() if k != "id"}) for e in entries]
    await write(store, scope, rows[:3], head_of(rows[:3]))
    for i in range(3):  # the hub goes on from the head it finds
        await store.log(iv_id, {"action": "later", "i": i}, now_ms())
    await checkpointer.round()
    book = AnchorBook(tmp_path, SIGNER.public).refresh()
    checkpoints, _ = book.of(scope)
    assert [c.n for c in checkpoints] == [5, 6]
    entries, head = await store.log_chain(scope)
    newest_only = verify(store.log_key, scope, entries, head, checkpoints[-1:])
    assert newest_only.ok  # the newest checkpoint alone is satisfied by the new entries
    verdict = await check(store, book, scope)
    assert not verdict.ok and verdict.problem == "anchor_mismatch" and verdict.first_bad == 4


def test_a_log_entry_is_built_in_one_place_from_its_caller() -> None:
    """Caller.entry names the action, outcome, who, role, address and device; the masked proof and the detail only when there are any."""
    from server.audit import SYSTEM, Caller

    hr = Caller(ip="10.0.0.1", device="Firefox", actor="li", role="admin")
    assert hr.entry("end", "ok", {"note": "n"}) == {
        "action": "end",
        "outcome": "ok",
        "actor": "li",
        "role": "admin",
        "ip": "10.0.0.1",
        "device": "Firefox",
        "detail": {"note": "n"},
    }
    candidate = Caller(ip="1.2.3.4", proof="phone 138****8000")
    assert candidate.entry("join", "identity_mismatch") == {
        "action": "join",
        "outcome": "identity_mismatch",
        "actor": "candidate",
        "role": "candidate",
        "ip": "1.2.3.4",
        "device": "",
        "proof": "phone 138****8000",
    }
    assert (SYSTEM.entry("timeout", "ok")["actor"], SYSTEM.entry("timeout", "ok")["role"]) == (
        "system",
        "system",
    )
