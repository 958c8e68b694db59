"""Encryption at rest: sealed records, envelope keys, rotation, and canaries that never reach disk."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from client.candidate import CandidateClient
from server import identity
from server.crypto import (
    CryptoError,
    DataKeys,
    Keyring,
    RecordCipher,
    chunk_purpose,
    epoch_of,
    new_data_key,
    new_master_key_line,
    rewrap,
)
from server.interviews import InterviewSpec, create_interview
from server.keys import KekFiles
from server.settings import Settings
from server.store import Store, epoch_members_key, key
from server.store.embedded import EmbeddedRedis
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
    ring = Keyring.parse(f"# old\n{new_master_key_line('k1')}\n{new_master_key_line('k2')}\n")
    assert ring.current == "k2" and set(ring.keys) == {"k1", "k2"}


@pytest.mark.parametrize("key", [bytes(32), b"AB" * 16, bytes(range(15)) + bytes(17)])
def test_keyring_refuses_keys_that_are_not_random(key: bytes) -> None:
    """A master key whose 32 bytes take fewer than 16 distinct values ("A" * 43 is 32 zero bytes) is refused, naming the key."""
    line = "k1:" + base64.urlsafe_b64encode(key).decode().rstrip("=")
    with pytest.raises(CryptoError, match=r"'k1' is refused: .* distinct values"):
        Keyring.parse(line)


def test_data_keys_are_wrapped_under_their_months_kek(tmp_path: Path) -> None:
    """A new data key names its month's KEK; the KEK is a 0600 file in a 0700 directory, sealed under the master key, never the data key itself; the old format still opens."""
    ring = Keyring.parse(new_master_key_line("m1"))
    keys = DataKeys(ring, KekFiles(tmp_path / "keys", ring))
    stored = keys.new("iv1", "2025-03")
    assert stored.partition(".")[2].startswith("kek-2025-03:")
    kek_file = tmp_path / "keys" / "kek" / "2025-03.key"
    assert kek_file.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "keys").stat().st_mode & 0o777 == 0o700
    assert kek_file.read_text().startswith("m1:")
    blob = RecordCipher(keys, "iv1", stored).seal("p", b"under a KEK")
    # another process (a fresh cache) opens it from the file alone
    other = DataKeys(ring, KekFiles(tmp_path / "keys", ring))
    assert RecordCipher(other, "iv1", stored).open("p", blob) == b"under a KEK"
    with pytest.raises(CryptoError, match="key directory"):
        RecordCipher(ring, "iv1", stored)  # the master key alone cannot open it
    old = new_data_key(ring, "iv2")
    assert RecordCipher(keys, "iv2", old).open("q", RecordCipher(ring, "iv2", old).seal("q", b"x"))


def test_processes_racing_to_make_a_kek_agree_on_one(tmp_path: Path) -> None:
    """Many processes needing a month's KEK at once (each its own cache) end with one KEK file: every data key opens everywhere."""
    ring = Keyring.parse(new_master_key_line("m1"))
    barrier = threading.Barrier(8)

    def make(n: int) -> tuple[str, bytes]:
        keys = DataKeys(ring, KekFiles(tmp_path, ring))
        barrier.wait()
        stored = keys.new(f"iv{n}", "2025-04")
        return stored, RecordCipher(keys, f"iv{n}", stored).seal("p", b"%d" % n)

    with ThreadPoolExecutor(8) as pool:
        made = list(pool.map(make, range(8)))
    assert [p.name for p in (tmp_path / "kek").iterdir() if not p.name.startswith(".")] == [
        "2025-04.key"
    ]
    reader = DataKeys(ring, KekFiles(tmp_path, ring))
    for n, (stored, blob) in enumerate(made):
        assert RecordCipher(reader, f"iv{n}", stored).open("p", blob) == b"%d" % n


def test_a_destroyed_kek_opens_nothing_and_an_epoch_is_never_a_path(tmp_path: Path) -> None:
    """Once a month's KEK file is shredded, its data keys no longer open (even in a process that had it cached); an epoch read from Redis cannot name another file."""
    ring = Keyring.parse(new_master_key_line("m1"))
    keks = KekFiles(tmp_path, ring)
    keys = DataKeys(ring, keks)
    stored = keys.new("iv1", "2024-11")
    RecordCipher(keys, "iv1", stored)  # cached in this process
    assert keks.epochs() == ["2024-11"]
    assert keks.destroy("2024-11") and keks.epochs() == []
    for reader in (keys, DataKeys(ring, KekFiles(tmp_path, ring))):
        with pytest.raises(CryptoError, match="gone"):
            RecordCipher(reader, "iv1", stored)
    (tmp_path / "secret.key").write_text(ring.seal_kek("2024-11", os.urandom(32)))
    forged = stored.replace("kek-2024-11", "kek-../secret")
    with pytest.raises(CryptoError, match="not an epoch"):
        RecordCipher(keys, "iv1", forged)


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
    """`interview-hub keys rotate` seals the month keys under the new master key, moves an old-format data key to its month's KEK and seals masked forms kept in clear; afterwards the old master key is not needed."""
    with EmbeddedRedis(tmp_path / "redis", port=free_port()) as redis_server:
        rotate_and_read(tmp_path, redis_server)


def rotate_and_read(tmp_path: Path, redis_server: EmbeddedRedis) -> None:
    old_line = new_master_key_line("old")
    new_line = new_master_key_line("new")
    key_dir = tmp_path / "keys"
    long_ago = now_ms() - 70 * 86_400_000  # made two months back, before KEKs existed

    async def make(key_dir: Path | None, phone: str, at: int) -> tuple[str, str]:
        store = Store.from_url(
            redis_server.url, secret=SECRET, master_keys=old_line, key_dir=key_dir
        )
        settings = Settings(redis_url=redis_server.url, secret=SECRET, master_keys=old_line)
        spec = InterviewSpec.from_dict(
            {
                "org": "rotation",
                "candidate": {"name": "R", "phone": phone},
                "position": "P",
                "questions": ["Q"],
            }
        )
        created = await create_interview(store, settings, spec, at)
        iv_id = created.interview_id
        if key_dir is None:  # as an older version stored it: the masked phone in clear
            await store.redis.hset(key(iv_id, "meta"), "phone_masked", "137****1111")
        stored = await store.redis.hget(key(iv_id, "meta"), "dek")
        await store.close()
        return iv_id, stored

    old_iv, before = asyncio.run(make(None, "13700001111", long_ago))
    kek_iv, under_kek = asyncio.run(make(key_dir, "13700002222", now_ms()))
    assert ".old:" in before and ".kek-" in under_kek
    env = {
        **os.environ,
        "REDIS_URL": redis_server.url,
        "HUB_SECRET": SECRET,
        "HUB_MASTER_KEYS": f"{old_line},{new_line}",
        "HUB_KEY_DIR": str(key_dir),
    }
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "server.cli",
            "--data-dir",
            str(tmp_path / "data"),
            "keys",
            "rotate",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "'new'" in out.stdout
    for count in ('"rewrapped": 1,', '"current": 1,', '"keks_resealed": 1', '"masks_sealed": 1'):
        assert count in out.stdout, out.stdout
    assert all(p.read_text().startswith("new:") for p in (key_dir / "kek").glob("*.key"))

    async def read_with_new_only() -> list[str]:
        store = Store.from_url(redis_server.url, master_keys=new_line, key_dir=key_dir)
        try:
            out = []
            for iv_id in (old_iv, kek_iv):
                meta = await store.meta(iv_id)
                cipher = await store.cipher(iv_id)
                phone = await store.redis.hget(key(iv_id, "contact"), "phone")
                out += [cipher.open_text("contact|phone", phone), meta["phone_masked"]]
                out.append(store.open_meta(iv_id, meta, "phone_masked"))
            moved = (await store.meta(old_iv))["dek"]
            assert f".kek-{epoch_of(long_ago)}:" in moved
            assert old_iv in await store.redis.smembers(epoch_members_key(epoch_of(long_ago)))
            return out
        finally:
            await store.close()

    phone1, stored1, shown1, phone2, stored2, shown2 = asyncio.run(read_with_new_only())
    assert (phone1, shown1, phone2, shown2) == (
        "13700001111",
        "137****1111",
        "13700002222",
        "137****2222",
    )
    assert "*" not in stored1 and "*" not in stored2  # sealed in Redis


async def test_canaries_never_reach_redis_files_or_the_hub_log(
    hub: Hub, org: Org, redis_server: EmbeddedRedis, store: Store
) -> None:
    """Canary ID number, phone, their masked forms, email, name and answer text go through the whole flow (answers, exit, notifications, report): 0 hits in the AOF, the RDB and the hub log."""
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
        shown = detail.json()
        assert (shown["phone"], shown["id_number"]) == (
            identity.mask(canary_phone),
            identity.mask(canary_id),
        )  # HR still reads the masked forms
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
    # the masked forms too, beside the keyed hashes: 186****5432 narrows one to 10^4 phones
    # (the log notifier names the masked phone it "sent" to in the hub's log, by design)
    masks = [identity.mask(canary_id).encode(), identity.mask(canary_phone).encode()]
    hits = []
    for path in [*files, hub.log_path]:
        data = path.read_bytes()
        hits += [(path.name, n) for n in needles if n in data]
        hits += [(path.name, n) for n in masks if n in data and path in files]
    assert hits == []
    aof = b"".join(p.read_bytes() for p in files if "aof" in p.name)
    assert control.encode() in aof and control.encode() in b"".join(
        p.read_bytes() for p in files if p.suffix == ".rdb"
    )
