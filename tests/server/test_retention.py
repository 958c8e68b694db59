"""Erasure on request and by retention: the data key goes first, the data follows, the log keeps the fact."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from client.candidate import CandidateClient, JoinRefused
from server.crypto import CryptoError, DataKeys, epoch_of
from server.embedded import EmbeddedRedis
from server.interviews import InterviewSpec, create_interview
from server.settings import Settings
from server.store import Store, key, log_scope
from tests.conftest import (
    MASTER_KEYS,
    PHONE,
    ROOT,
    SECRET,
    Hub,
    Org,
    free_port,
    interview_body,
    make_org,
    now_ms,
    redis_binaries,
    start_hub,
)
from tests.server.test_audit import hub_book, wait_anchored

DAY_MS = 86_400_000


async def api(hub: Hub, org: Org, role: str, method: str, path: str, **kw: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=hub.http) as http:
        return await http.request(method, path, headers=org.auth(role), **kw)


async def finished_interview(hub: Hub, org: Org, text: str = "my answer") -> dict[str, Any]:
    """An interview the candidate answered and left (no second entry): over."""
    r = await api(hub, org, "admin", "POST", "/api/hr/interviews", json=interview_body(2))
    created = r.json()
    async with CandidateClient(hub.ws, created["token"], PHONE) as c:
        await c.join()
        await c.send_text(text)
        await c.wait_acked()
        await c.request_exit()
        await c.confirm_exit()
    report = await api(
        hub, org, "admin", "POST", f"/api/hr/interviews/{created['interview_id']}/report"
    )
    assert report.status_code in (200, 201), report.text
    return created


async def test_erase_on_request_shreds_the_key_then_the_data(
    hub: Hub, fresh_org: Org, store: Store
) -> None:
    """An admin erases an exited interview: the data key, answers, reports, contact and events are gone, the link and the centre forget it, the log keeps the erasure and still verifies."""
    org = fresh_org
    created = await finished_interview(hub, org)
    iv_id = created["interview_id"]
    sealed = (await store.raw.xrange(key(iv_id, "chunks")))[0][1][b"d"]  # a copy, as in a backup
    await store.raw.xadd(key(iv_id, "media"), {"q": 0, "k": "jpeg", "d": b"frame"})  # media too
    await store.redis.hset(key(iv_id, "mediacount"), "0:frames", 1)
    r = await api(
        hub, org, "admin", "POST", f"/api/hr/interviews/{iv_id}/erase", json={"confirm": True}
    )
    assert r.status_code == 200, r.text
    assert r.json()["erased_ms"] > 0
    meta = await store.meta(iv_id)
    assert "dek" not in meta and "candidate" not in meta and "phone_hash" not in meta
    for part in (
        "chunks",
        "reports",
        "contact",
        "events",
        "answers",
        "seqs",
        "media",
        "mediacount",
    ):
        assert not await store.redis.exists(key(iv_id, part)), part
    org_events = await store.redis.xrange(f"org:{org.name}:events")
    assert not [f for _, f in org_events if f.get("iv") == iv_id]  # its devices, its notes
    with pytest.raises(CryptoError):  # the copy cannot be opened, even with the master keys
        (await store.cipher(iv_id)).open("chunk|a1|q0|s1", sealed)
    with pytest.raises(JoinRefused) as refused:
        await CandidateClient(hub.ws, created["token"], PHONE).join()
    assert refused.value.reason == "link_invalid"
    detail = (await api(hub, org, "admin", "GET", f"/api/hr/interviews/{iv_id}")).json()
    assert detail["erased_ms"] > 0 and detail["candidate"] == ""
    assert all(a["text"] == "" for a in detail["answers"])
    log = (await api(hub, org, "admin", "GET", f"/api/hr/interviews/{iv_id}/log")).json()
    entries = log["entries"] if isinstance(log, dict) else log
    erase = [e for e in entries if e.get("action") == "erase"]
    assert (
        len(erase) == 1 and erase[0]["outcome"] == "ok" and erase[0]["actor"] == org.users["admin"]
    )
    assert "my answer" not in str(entries)
    await wait_anchored(hub_book(hub), store, log_scope(iv_id))  # no verdict before that
    verdict = (await api(hub, org, "admin", "GET", f"/api/hr/interviews/{iv_id}/log/verify")).json()
    assert verdict["ok"] is True
    again = await api(
        hub, org, "admin", "POST", f"/api/hr/interviews/{iv_id}/erase", json={"confirm": True}
    )
    assert again.status_code == 200  # idempotent


async def test_erase_needs_the_permission_a_confirm_and_an_interview_that_is_over(
    hub: Hub, fresh_org: Org, store: Store
) -> None:
    """A recruiting manager is refused (data.erase is an admin's), no confirm is refused, and an interview in progress cannot be erased."""
    org = fresh_org
    created = await finished_interview(hub, org)
    iv_id = created["interview_id"]
    r = await api(
        hub,
        org,
        "recruiting_manager",
        "POST",
        f"/api/hr/interviews/{iv_id}/erase",
        json={"confirm": True},
    )
    assert r.status_code == 403 and r.json()["reason"] == "permission_denied:data.erase"
    r = await api(hub, org, "admin", "POST", f"/api/hr/interviews/{iv_id}/erase", json={})
    assert r.json()["reason"] == "confirm_required"
    live = (
        await api(hub, org, "admin", "POST", "/api/hr/interviews", json=interview_body(1))
    ).json()
    async with CandidateClient(hub.ws, live["token"], PHONE) as c:
        await c.join()
        r = await api(
            hub,
            org,
            "admin",
            "POST",
            f"/api/hr/interviews/{live['interview_id']}/erase",
            json={"confirm": True},
        )
        assert r.status_code == 409 and r.json()["reason"] == "erase_not_allowed"
        assert "zh-CN" in r.json()["message"]
        await c.send_text("still stored")
        await c.wait_acked()
    assert (await store.meta(iv_id)).get("dek")  # nothing was erased


async def plant_over(store: Store, iv_id: str, days_ago: float) -> None:
    """Make the interview look over since ``days_ago`` (retention counts from over_ms)."""
    await store.redis.hset(key(iv_id, "meta"), "over_ms", str(int(now_ms() - days_ago * DAY_MS)))


def run_cli(
    redis_url: str, tmp: Path, *args: str, **more_env: str
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "HUB_SECRET": SECRET,
        "HUB_MASTER_KEYS": MASTER_KEYS,
        **more_env,
    }
    return subprocess.run(
        [sys.executable, "-m", "server.cli", "--data-dir", str(tmp), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_retention_per_organisation_and_the_purge_command(
    hub: Hub, fresh_org: Org, store: Store, tmp_path: Path
) -> None:
    """With a one-day retention, `purge --dry-run` lists only what is past it, `purge` erases exactly that; setting it needs data.erase."""
    org = fresh_org
    r = await api(hub, org, "recruiting_manager", "PUT", "/api/hr/retention", json={"days": 1})
    assert r.status_code == 403
    r = await api(hub, org, "admin", "PUT", "/api/hr/retention", json={"days": 0})
    assert r.json()["reason"] == "bad_field"
    r = await api(hub, org, "admin", "PUT", "/api/hr/retention", json={"days": 1})
    assert r.json() == {"org": org.name, "retention_days": 1, "default": False}
    old = (await finished_interview(hub, org))["interview_id"]
    recent = (await finished_interview(hub, org))["interview_id"]
    await plant_over(store, old, 2)
    await plant_over(store, recent, 0.5)
    dry = await asyncio.to_thread(run_cli, hub.redis_url, tmp_path, "purge", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert old in dry.stdout and recent not in dry.stdout
    assert (await store.meta(old)).get("dek")  # a dry run erases nothing
    done = await asyncio.to_thread(run_cli, hub.redis_url, tmp_path, "purge")
    assert done.returncode == 0, done.stderr
    assert old in done.stdout
    assert "erased_ms" in await store.meta(old) and "erased_ms" not in await store.meta(recent)
    entries = await store.oplog(old)
    assert [e["detail"]["why"] for e in entries if e.get("action") == "erase"] == ["retention"]


async def test_the_scheduled_purge_erases_without_anyone_asking(
    hub: Hub, fresh_org: Org, store: Store, tmp_path: Path
) -> None:
    """A hub with a short purge interval erases an interview past its retention by itself."""
    org = fresh_org
    await api(hub, org, "admin", "PUT", "/api/hr/retention", json={"days": 1})
    iv_id = (await finished_interview(hub, org))["interview_id"]
    await plant_over(store, iv_id, 3)
    purging = start_hub(hub.redis_url, tmp_path, HUB_PURGE_INTERVAL_S="0.3")
    try:
        for _ in range(100):
            if "erased_ms" in await store.meta(iv_id):
                break
            await asyncio.sleep(0.1)
        assert "erased_ms" in await store.meta(iv_id)
        assert not await store.redis.exists(key(iv_id, "chunks"))
    finally:
        purging.stop()


# --- crypto-shredding that really erases: Redis' files and backups ---------------------------

WRAPPED_KEY = re.compile(rb"[0-9a-f]{8}\.(?:kek-[0-9]{4}-[0-9]{2}|[A-Za-z0-9]+):[A-Za-z0-9_-]{80}")


def file_bytes(folder: Path) -> bytes:
    """Everything in every file under ``folder`` (AOF parts, RDB, log), as one blob."""
    return b"\n".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def opening(blob: bytes, iv_id: str, keys: DataKeys) -> list[str]:
    """Every wrapped-key-looking value in ``blob`` that opens as ``iv_id``'s data key with
    every key the hub holds (the master keyring and the KEKs in its key directory)."""
    found = []
    for candidate in {m.decode() for m in WRAPPED_KEY.findall(blob)}:
        try:
            keys.unwrap(iv_id, candidate)
        except CryptoError:
            continue
        found.append(candidate)
    return found


async def wait_in_files(folder: Path, *needles: bytes) -> None:
    """Until Redis has written ``needles`` to its files (appendfsync everysec)."""
    for _ in range(200):
        blob = file_bytes(folder)
        if all(n in blob for n in needles):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("Redis never wrote them to its files")


def own_redis(tmp: Path, binary: str = "") -> EmbeddedRedis:
    """A Redis of the test's own, keeping an AOF and an RDB, its strings stored
    uncompressed so that a byte search sees every value in the RDB parts too."""
    server = EmbeddedRedis(tmp / "redis", port=free_port(), server_binary=binary)
    server.start()
    client = redis.Redis.from_url(server.url)
    client.config_set("rdbcompression", "no")
    client.save()  # an RDB file exists from now on: it must be rewritten too
    client.close()
    return server


async def answered(hub: Hub, token: str, text: str) -> None:
    """The candidate answers ``text`` and leaves for good: the interview is over."""
    async with CandidateClient(hub.ws, token, PHONE) as c:
        await c.join()
        await c.send_text(text)
        await c.wait_acked()
        await c.request_exit()
        await c.confirm_exit()


@pytest.mark.parametrize("binary", redis_binaries())
async def test_after_erasure_no_file_of_redis_holds_a_key_that_opens_it(
    binary: str, tmp_path: Path
) -> None:
    """After an erasure through the API, no file under Redis' data dir (AOF parts, RDB) holds the wrapped data key or the sealed records, and no wrapped key in them opens the interview with any key the hub holds; another interview's key still does."""
    redis_server = own_redis(tmp_path, binary)
    key_dir = tmp_path / "keys"
    hub = start_hub(redis_server.url, tmp_path, HUB_KEY_DIR=str(key_dir))
    store = Store.from_url(redis_server.url, master_keys=MASTER_KEYS, key_dir=key_dir)
    try:
        org = await make_org(hub, redis_server.url)
        kept = (await finished_interview(hub, org, "KEPT-canary"))["interview_id"]
        gone = (await finished_interview(hub, org, "GONE-canary"))["interview_id"]
        gone_key = (await store.meta(gone))["dek"].encode()
        gone_chunk = (await store.raw.xrange(key(gone, "chunks")))[0][1][b"d"]
        kept_key = (await store.meta(kept))["dek"].encode()
        folder = redis_server.data_dir
        await wait_in_files(folder, gone_key, gone_chunk, kept_key)
        assert opening(file_bytes(folder), gone, store.data_keys)  # the search finds it
        r = await api(
            hub, org, "admin", "POST", f"/api/hr/interviews/{gone}/erase", json={"confirm": True}
        )
        assert r.status_code == 200, r.text
        assert r.json()["files"] == "rewritten"
        blob = file_bytes(folder)
        assert gone_key not in blob and gone_chunk not in blob
        assert opening(blob, gone, store.data_keys) == []
        assert opening(blob, kept, store.data_keys) == [kept_key.decode()]  # still found
        assert (await store.chunks(kept))[0]["data"] == "KEPT-canary"
    finally:
        await store.close()
        hub.stop()
        redis_server.stop()


async def test_a_backup_opens_until_retention_destroys_its_months_key(tmp_path: Path) -> None:
    """A copy of Redis' files taken before an erasure opens while that month's KEK exists; the purge erases the month's last interview (files rewritten) and destroys the KEK, and the copy opens no more; this month's KEK stays."""
    redis_server = own_redis(tmp_path)
    key_dir = tmp_path / "keys"
    hub = start_hub(redis_server.url, tmp_path, HUB_KEY_DIR=str(key_dir))
    store = Store.from_url(redis_server.url, master_keys=MASTER_KEYS, key_dir=key_dir)
    settings = Settings(
        redis_url=redis_server.url, secret=SECRET, master_keys=MASTER_KEYS, key_dir=key_dir
    )
    backup: EmbeddedRedis | None = None
    try:
        org = await make_org(hub, redis_server.url)
        made_at = now_ms() - 40 * DAY_MS  # a month that is over
        month = epoch_of(made_at)
        body = {**interview_body(1), "org": org.name, "policy": {"link_ttl_s": 100 * 86_400}}
        ids = {}
        for name in ("erased", "purged"):
            spec = InterviewSpec.from_dict(body)
            created = await create_interview(store, settings, spec, made_at)
            await answered(hub, created.token, f"{name.upper()}-canary")
            ids[name] = created.interview_id
        current = (await finished_interview(hub, org, "CURRENT-canary"))["interview_id"]
        assert f".kek-{month}:" in (await store.meta(ids["erased"]))["dek"]
        folder = redis_server.data_dir
        purged_key = (await store.meta(ids["purged"]))["dek"].encode()
        erased_key = (await store.meta(ids["erased"]))["dek"].encode()
        await wait_in_files(folder, purged_key, erased_key)
        shutil.copytree(folder, tmp_path / "backup", ignore=shutil.ignore_patterns("*.sock"))

        r = await api(
            hub,
            org,
            "admin",
            "POST",
            f"/api/hr/interviews/{ids['erased']}/erase",
            json={"confirm": True},
        )
        assert r.json()["files"] == "rewritten"
        backup = EmbeddedRedis(tmp_path / "backup", port=free_port())
        backup.start()

        async def read_backup() -> str:
            copy = Store.from_url(backup.url, master_keys=MASTER_KEYS, key_dir=key_dir)
            try:
                chunk = (await copy.chunks(ids["erased"]))[0]
                if chunk.get("unreadable"):  # chunks() marks it; the cipher says why
                    copy.cipher_for(ids["erased"], (await copy.meta(ids["erased"]))["dek"])
                return str(chunk["data"])
            finally:
                await copy.close()

        assert await read_backup() == "ERASED-canary"  # the month's KEK still exists

        await api(hub, org, "admin", "PUT", "/api/hr/retention", json={"days": 1})
        await plant_over(store, ids["purged"], 2)
        done = await asyncio.to_thread(
            run_cli, redis_server.url, tmp_path / "data", "purge", HUB_KEY_DIR=str(key_dir)
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"erased 1: {ids['purged']}" in done.stdout
        assert f"destroyed: {month}" in done.stdout and "redis files: rewritten" in done.stdout
        assert not (key_dir / "kek" / f"{month}.key").exists()
        assert (key_dir / "kek" / f"{epoch_of(now_ms())}.key").exists()
        blob = file_bytes(folder)
        assert purged_key not in blob and opening(blob, ids["purged"], store.data_keys) == []
        with pytest.raises(CryptoError, match="gone"):
            await read_backup()  # nobody holds a key that opens it any more
        assert (await store.chunks(current))[0]["data"] == "CURRENT-canary"
    finally:
        await store.close()
        hub.stop()
        redis_server.stop()
        if backup is not None:
            backup.stop()


async def test_an_erasure_stands_when_redis_refuses_to_rewrite_its_files(
    redis_server: EmbeddedRedis, tmp_path: Path, store: Store
) -> None:
    """On a Redis that refuses BGREWRITEAOF and BGSAVE to the hub, erasing still erases, and the answer says the files were not rewritten."""
    user, password = f"norewrite{now_ms()}", secrets.token_hex(16)
    await store.redis.acl_setuser(
        user,
        enabled=True,
        passwords=[f"+{password}"],
        keys=["*"],
        channels=["*"],
        categories=["+@all"],
        commands=["-bgrewriteaof", "-bgsave", "-config"],
    )
    url = redis_server.url.replace("redis://", f"redis://{user}:{password}@")
    hub = start_hub(url, tmp_path)
    try:
        org = await make_org(hub, redis_server.url)
        iv_id = (await finished_interview(hub, org))["interview_id"]
        r = await api(
            hub, org, "admin", "POST", f"/api/hr/interviews/{iv_id}/erase", json={"confirm": True}
        )
        assert r.status_code == 200, r.text
        assert r.json()["files"].startswith("failed: BGREWRITEAOF")
        assert "dek" not in await store.meta(iv_id)
        assert "files still hold the erased data" in hub.log()
    finally:
        hub.stop()
        await store.redis.acl_deluser(user)


@pytest.mark.parametrize("binary", redis_binaries())
async def test_a_rewrite_already_running_is_waited_for_and_done_again(
    binary: str, tmp_path: Path
) -> None:
    """A file rewrite that began before a deletion would keep the deleted value: the erasure waits for it and rewrites again, so the files end clean."""
    redis_server = own_redis(tmp_path, binary)
    store = Store.from_url(redis_server.url)
    try:
        await store.redis.mset({f"filler:{n}": "x" for n in range(40)})
        await store.redis.set("doomed", "DOOMED-VALUE")
        await store.redis.config_set("rdb-key-save-delay", "100000")  # 0.1 s a key: slow
        await store.redis.bgrewriteaof()  # forks now, with "doomed" in its snapshot
        await store.redis.config_set("rdb-key-save-delay", "0")  # the next forks are quick
        await store.redis.delete("doomed")
        assert await store.rewrite_persistence(timeout_s=120) == "rewritten"
        assert b"DOOMED-VALUE" not in file_bytes(redis_server.data_dir)
    finally:
        await store.close()
        redis_server.stop()
