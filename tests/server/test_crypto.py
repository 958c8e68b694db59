"""Encryption at rest: sealed records, envelope keys, rotation, and canaries that never reach disk."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from client.candidate import CandidateClient
from server.crypto import (
    CryptoError,
    Keyring,
    RecordCipher,
    chunk_purpose,
    new_data_key,
    new_master_key_line,
    rewrap,
)
from server.embedded import EmbeddedRedis
from server.interviews import InterviewSpec, create_interview
from server.settings import Settings
from server.store import Store, key
from tests.conftest import ROOT, SECRET, Hub, Org, free_port, now_ms

ONE = Keyring.parse(new_master_key_line("one"))


def test_sealed_record_opens_only_where_it_was_sealed() -> None:
    """A record opens with its own purpose; moved to another seq, question or interview it fails."""
    stored = new_data_key(ONE, "iv1")
    cipher = RecordCipher(ONE, "iv1", stored)
    blob = cipher.seal(chunk_purpose(1, 0, 7), "你好 answer".encode())
    assert b"answer" not in blob
    assert cipher.open(chunk_purpose(1, 0, 7), blob).decode() == "你好 answer"
    for wrong in (chunk_purpose(1, 0, 8), chunk_purpose(1, 1, 7), chunk_purpose(2, 0, 7)):
        with pytest.raises(CryptoError):
            cipher.open(wrong, blob)
    other = RecordCipher(ONE, "iv2", new_data_key(ONE, "iv2"))
    with pytest.raises(CryptoError):
        other.open(chunk_purpose(1, 0, 7), blob)


def test_every_flipped_bit_is_caught_and_nonces_are_fresh() -> None:
    """Flipping any byte of a sealed record fails to open; sealing twice never repeats a nonce."""
    cipher = RecordCipher(ONE, "iv1", new_data_key(ONE, "iv1"))
    blob = cipher.seal("p", b"short secret")
    for i in range(len(blob)):
        bad = bytearray(blob)
        bad[i] ^= 0x01
        with pytest.raises(CryptoError):
            cipher.open("p", bytes(bad))
    nonces = {cipher.seal("p", b"x")[1:13] for _ in range(2000)}
    assert len(nonces) == 2000


def test_data_key_is_bound_to_its_interview_and_needs_its_master_key() -> None:
    """A wrapped data key copied to another interview, or read without its master key, does not open."""
    stored = new_data_key(ONE, "iv1")
    with pytest.raises(CryptoError):
        RecordCipher(ONE, "iv2", stored)
    with pytest.raises(CryptoError, match="not in the keyring"):
        RecordCipher(Keyring.parse(new_master_key_line("two")), "iv1", stored)
    with pytest.raises(CryptoError, match="no data key"):
        RecordCipher(ONE, "iv1", "")  # erased: crypto-shredded


def test_rewrap_keeps_the_data_key_under_a_new_master_key() -> None:
    """Rotation re-wraps the same data key: records sealed before still open with only the new master key."""
    old = ONE
    both = Keyring({**old.keys, "two": os.urandom(32)}, "two")
    stored = new_data_key(old, "iv1")
    blob = RecordCipher(old, "iv1", stored).seal("p", b"kept")
    rotated = rewrap(both, "iv1", stored)
    assert rotated.split(".")[0] == stored.split(".")[0]  # same data key id
    assert rotated.split(".")[1].startswith("two:")
    only_new = Keyring({"two": both.keys["two"]}, "two")
    assert RecordCipher(only_new, "iv1", rotated).open("p", blob) == b"kept"


@pytest.mark.parametrize(
    "text",
    ["", "k1:short", "k1:" + "A" * 43 + ",bad id:" + "A" * 43, "k1" + "A" * 43, "k1:" + "!" * 43],
)
def test_keyring_refuses_malformed_master_keys(text: str) -> None:
    """Empty, short, badly named or non-base64 master keys are refused with a clear error."""
    with pytest.raises(CryptoError):
        Keyring.parse(text)


def test_keyring_last_entry_is_current() -> None:
    """Lines or commas, comments ignored; the last key wraps new data keys."""
    ring = Keyring.parse("# old\nk1:" + "A" * 43 + "\nk2:" + "B" * 43 + "\n")
    assert ring.current == "k2" and set(ring.keys) == {"k1", "k2"}


async def test_swapped_chunks_in_redis_are_refused(hub: Hub, store: Store, make_interview) -> None:
    """Two stored chunks swapped in Redis (same interview) no longer open: the move is detected (each is marked unreadable), not served (no text of either)."""
    iv_id, token = await make_interview(questions=1)
    async with CandidateClient(hub.ws, token, "13800138000") as c:
        await c.join()
        await c.send_text("first")
        await c.send_text("second")
        await c.wait_acked()
    rows = await store.raw.xrange(key(iv_id, "chunks"))
    assert [r[1][b"seq"] for r in rows] == [b"1", b"2"]
    assert b"first" not in rows[0][1][b"d"]  # sealed, not plain
    (id1, f1), (id2, f2) = rows
    await store.raw.xdel(key(iv_id, "chunks"), id1, id2)
    await store.raw.xadd(key(iv_id, "chunks"), {**f1, b"d": f2[b"d"]})
    await store.raw.xadd(key(iv_id, "chunks"), {**f2, b"d": f1[b"d"]})
    chunks = await store.chunks(iv_id)
    assert [(c["seq"], c["data"], c.get("unreadable")) for c in chunks] == [
        (1, b"", True),
        (2, b"", True),
    ]


def test_rotation_command_rewraps_every_data_key(tmp_path: Path) -> None:
    """`interview-hub keys rotate` moves data keys to the current master key; afterwards the old one is not needed."""
    with EmbeddedRedis(tmp_path / "redis", port=free_port()) as redis_server:
        rotate_and_read(tmp_path, redis_server)


def rotate_and_read(tmp_path: Path, redis_server: EmbeddedRedis) -> None:
    old_line = new_master_key_line("old")
    new_line = new_master_key_line("new")

    async def make() -> tuple[str, str]:
        store = Store.from_url(redis_server.url, secret=SECRET, master_keys=old_line)
        settings = Settings(redis_url=redis_server.url, secret=SECRET, master_keys=old_line)
        spec = InterviewSpec.from_dict(
            {
                "org": "rotation",
                "candidate": {"name": "R", "phone": "13700001111"},
                "position": "P",
                "questions": ["Q"],
            }
        )
        created = await create_interview(store, settings, spec, now_ms())
        stored = await store.redis.hget(key(created.interview_id, "meta"), "dek")
        await store.close()
        return created.interview_id, stored

    iv_id, before = asyncio.run(make())
    assert ".old:" in before
    env = {
        **os.environ,
        "REDIS_URL": redis_server.url,
        "HUB_SECRET": SECRET,
        "HUB_MASTER_KEYS": f"{old_line},{new_line}",
    }
    out = subprocess.run(
        [sys.executable, "-m", "server.cli", "--data-dir", str(tmp_path), "keys", "rotate"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "'new'" in out.stdout and '"rewrapped": 1,' in out.stdout

    async def read_with_new_only() -> str:
        store = Store.from_url(redis_server.url, master_keys=new_line)
        try:
            cipher = await store.cipher(iv_id)
            phone = await store.redis.hget(key(iv_id, "contact"), "phone")
            return cipher.open_text("contact|phone", phone)
        finally:
            await store.close()

    assert asyncio.run(read_with_new_only()) == "13700001111"


async def test_canaries_never_reach_redis_files_or_the_hub_log(
    hub: Hub, org: Org, redis_server: EmbeddedRedis, store: Store
) -> None:
    """Canary ID number, phone, email, name and answer text go through the whole flow (answers, exit, notifications, report): 0 hits in the AOF, the RDB and the hub log."""
    canary_id = "11010119800101" + str(now_ms() % 10_000).zfill(4)
    canary_phone = "139" + str(now_ms() % 100_000_000).zfill(8)
    canary_email = f"canary{now_ms()}@example.test"
    canary_text = f"CANARY-ANSWER-{now_ms()}-私密回答"
    canary_name = f"金丝雀 Canary-Name-{now_ms()}"
    control = f"position-in-clear-{now_ms()}"  # not secret: proves the search sees the data
    body = {
        "candidate": {
            "name": canary_name,
            "id_number": canary_id,
            "phone": canary_phone,
            "email": canary_email,
        },
        "position": control,
        "questions": ["Q1", "Q2"],
        "policy": {"second_entry": True},
    }
    async with httpx.AsyncClient(base_url=hub.http) as http:
        r = await http.post("/api/hr/interviews", json=body, headers=org.auth("admin"))
        assert r.status_code == 201, r.text
        created = r.json()
        iv_id = created["interview_id"]
        async with CandidateClient(hub.ws, created["token"], canary_id) as c:
            await c.join()
            await c.send_text(canary_text[:10])
            await c.send_text(canary_text[10:])
            await c.finish()
            await c.send_text(canary_text)
            await c.wait_acked()
            await c.request_exit()
            await c.confirm_exit()
        report = await http.post(f"/api/hr/interviews/{iv_id}/report", headers=org.auth("admin"))
        assert report.status_code in (200, 201), report.text
        assert canary_text in report.text  # HR reads it in clear
        detail = await http.get(f"/api/hr/interviews/{iv_id}", headers=org.auth("admin"))
        assert canary_text in detail.text and detail.json()["candidate"] == canary_name
        # the notifications (exit reminder by SMS and e-mail) are delivered before we look
        for _ in range(100):
            sent = await http.get(
                f"/api/hr/interviews/{iv_id}/notifications", headers=org.auth("admin")
            )
            states = [n["state"] for n in sent.json()["notifications"]]
            if states and all(s == "sent" for s in states):
                break
            await asyncio.sleep(0.1)
        assert len(states) >= 2 and set(states) == {"sent"}, states  # invitation, exit
    await store.redis.save()  # RDB, as Redis writes it on shutdown
    files = [p for p in Path(redis_server.data_dir).rglob("*") if p.is_file()]
    assert any("aof" in p.name for p in files) and any(p.suffix == ".rdb" for p in files)
    canaries = [canary_id, canary_phone, canary_email, canary_text, canary_name]
    needles = [c.encode() for c in canaries] + [canary_text[:10].encode()]
    hits = []
    for path in [*files, hub.log_path]:
        data = path.read_bytes()
        hits += [(path.name, n) for n in needles if n in data]
    assert hits == []
    aof = b"".join(p.read_bytes() for p in files if "aof" in p.name)
    assert control.encode() in aof and control.encode() in b"".join(
        p.read_bytes() for p in files if p.suffix == ".rdb"
    )
