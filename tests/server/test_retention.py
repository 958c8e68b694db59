"""Erasure on request and by retention: the data key goes first, the data follows, the log keeps the fact."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from client.candidate import CandidateClient, JoinRefused
from protocol.reasons import messages
from server.crypto import CryptoError, DataKeys, epoch_of
from server.interviews import InterviewSpec, create_interview
from server.settings import Settings
from server.store import Store, key, log_scope
from server.store.embedded import EmbeddedRedis
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
    # a loaded machine (the suite runs on several workers) may take seconds: not a failure
    async with httpx.AsyncClient(base_url=hub.http, timeout=60) as http:
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


def in_background(redis_url: str, command: str, seconds: float) -> tuple[str, int]:
    """``Store._in_background`` with a deadline ``seconds`` away, in a thread of its own (a
    loop that never yields cannot be timed out by its own event loop): its outcome ("" if
    it did not return within 30 s) and how many errors Redis answered meanwhile."""
    found: list[tuple[str, int]] = []

    async def run() -> None:
        store = Store.from_url(redis_url)

        async def errors() -> int:
            stats = await store.redis.info("errorstats")
            return sum(int(v["count"]) for v in stats.values() if isinstance(v, dict))

        try:
            before = await errors()
            deadline = time.monotonic() + seconds
            outcome = await store._in_background(
                deadline, command, ("aof_rewrite_in_progress",), "aof_last_bgrewrite_status"
            )
            found.append((outcome, await errors() - before))
        finally:
            await store.close()

    worker = threading.Thread(target=asyncio.run, args=(run(),), daemon=True)
    worker.start()
    worker.join(30)
    return found[0] if found else ("", 0)


async def test_a_refusal_naming_a_child_that_info_does_not_show_backs_off_until_the_deadline(
    redis_server: EmbeddedRedis,
) -> None:
    """When Redis refuses with a message naming a child while INFO shows none running, the rewrite retries with back-off and answers "pending" at its deadline instead of looping for ever."""
    command = "NO-SUCH-COMMAND-child"  # a real refusal whose text names a child
    outcome, _ = await asyncio.to_thread(in_background, redis_server.url, command, -1)
    assert outcome == "pending"  # the deadline had passed: one try, then an answer
    outcome, tries = await asyncio.to_thread(in_background, redis_server.url, command, 1.5)
    assert outcome == "pending"
    assert tries <= 20  # backed off: a loop without a pause sends thousands in 1.5 s


async def test_an_erased_interview_cannot_be_reset_reopened_or_given_a_new_link(
    hub: Hub, fresh_org: Org, store: Store
) -> None:
    """Reset, second entry (grant and revoke), a new link and end are refused on an erased interview with 409 interview_erased (zh-CN and en), logged, and change nothing."""
    org = fresh_org
    iv_id = (await finished_interview(hub, org))["interview_id"]
    r = await api(
        hub, org, "admin", "POST", f"/api/hr/interviews/{iv_id}/erase", json={"confirm": True}
    )
    assert r.status_code == 200, r.text
    before = await store.meta(iv_id)
    asks = {
        "reset": ("/reset", {"confirm": True}),
        "reentry_grant": ("/reentry", {"grant": True, "window_s": 3600}),
        "reentry_revoke": ("/reentry", {"grant": False}),
        "link_resend": ("/link", {}),
        "end": ("/end", {"confirm": True, "note": "NOTE-AFTER-ERASURE"}),
    }
    for action, (path, body) in asks.items():
        r = await api(hub, org, "admin", "POST", f"/api/hr/interviews/{iv_id}{path}", json=body)
        assert r.status_code == 409, (action, r.text)
        assert r.json()["reason"] == "interview_erased", action
        assert r.json()["message"] == messages("interview_erased"), action
    assert await store.meta(iv_id) == before  # still erased: no state, link or key came back
    entries = await store.oplog(iv_id)
    refused = {e["action"] for e in entries if e.get("outcome") == "interview_erased"}
    assert refused == set(asks)
    assert "NOTE-AFTER-ERASURE" not in str(await store.redis.xrange(key(iv_id, "log")))


async def test_a_decision_read_before_the_erasure_is_not_applied_after_it(
    make_interview: Any, store: Store, settings: Settings
) -> None:
    """The erasure changes the interview's version, so a change decided on what was read before it (a reset racing the erasure) loses its compare-and-set and is decided again."""
    from protocol import interview as sm
    from server.candidates import Caller, CandidateService

    iv_id, _ = await make_interview()
    service = CandidateService(store, settings)
    await service.join(iv_id, "s1", Caller())
    await service.request_exit(iv_id, "s1", Caller())
    await service.confirm_exit(iv_id, "s1", Caller())
    snap, meta = await store.snapshot(iv_id)  # type: ignore[misc]
    now = now_ms()
    reset = sm.reset(snap, now, "hr", now + DAY_MS)
    assert reset.refusal is None
    assert await store.erase(iv_id, meta, now, {"action": "erase", "outcome": "ok"})
    assert await store.apply(iv_id, snap, reset, now) is None
    assert (await store.meta(iv_id)).get("state") == str(snap.state)


def logical_count(client: redis.Redis, needle: bytes) -> int:
    """How many times ``needle`` occurs in what Redis holds, value by value, as its commands
    read it (entries that XDEL hid are not read)."""
    count = 0
    for name in client.scan_iter(count=1000):
        kind = client.type(name)
        if kind == b"string":
            values: list[Any] = [client.get(name)]
        elif kind == b"hash":
            values = list(client.hgetall(name).items())
        elif kind == b"stream":
            values = [list(f.items()) for _, f in client.xrange(name)]
        elif kind == b"set":
            values = list(client.smembers(name))
        elif kind == b"zset":
            values = client.zrange(name, 0, -1)
        else:
            values = client.lrange(name, 0, -1) if kind == b"list" else []
        count += str(values).encode().count(needle)
    return count


async def candidate_ended_by_hr(hub: Hub, org: Org, device: str, note: str) -> str:
    """An interview the candidate joined from ``device`` and HR ended with ``note``."""
    r = await api(hub, org, "admin", "POST", "/api/hr/interviews", json=interview_body(2))
    created = r.json()
    async with CandidateClient(hub.ws, created["token"], PHONE, device=device) as c:
        await c.join()
        await c.send_text("an answer")
        await c.wait_acked()
        ended = await api(
            hub,
            org,
            "admin",
            "POST",
            f"/api/hr/interviews/{created['interview_id']}/end",
            json={"confirm": True, "note": note},
        )
        assert ended.status_code == 200, ended.text
    return str(created["interview_id"])


@pytest.mark.parametrize("binary", redis_binaries())
async def test_after_erasure_no_file_of_redis_holds_the_notes_and_devices_of_its_events(
    binary: str, tmp_path: Path
) -> None:
    """After an erasure and the rewrite, HR's end note is in no file of Redis and the candidate's device string only in the operation logs' entries (the audit record), not in the organisation's event stream's nodes; the organisation's other events keep their ids and data, and its stream's last id."""
    redis_server = own_redis(tmp_path, binary)
    hub = start_hub(redis_server.url, tmp_path, HUB_KEY_DIR=str(tmp_path / "keys"))
    client = redis.Redis.from_url(redis_server.url)
    try:
        org = await make_org(hub, redis_server.url)
        stream = f"org:{org.name}:events"
        for n in range(300):  # other interviews' events before: several listpack nodes
            client.xadd(stream, {"iv": "f" * 16, "src": f"{n}-0", "e": '{"kind":"x"}', "t": n})
        gone = await candidate_ended_by_hr(hub, org, "GONE-DEVICE-canary", "GONE-NOTE-canary")
        kept = await candidate_ended_by_hr(hub, org, "KEPT-DEVICE-canary", "KEPT-NOTE-canary")
        for _ in range(200):  # the reports made on the end announce themselves last
            ready = {f[b"iv"] for _, f in client.xrange(stream) if b"report_ready" in f[b"e"]}
            if {gone.encode(), kept.encode()} <= ready:
                break
            await asyncio.sleep(0.05)
        for n in range(50):  # and after
            client.xadd(stream, {"iv": "f" * 16, "src": f"{n}-0", "e": '{"kind":"y"}', "t": n})
        before = [(i, f) for i, f in client.xrange(stream) if f[b"iv"] != gone.encode()]
        last_id = client.xinfo_stream(stream)["last-generated-id"]
        folder = redis_server.data_dir
        await wait_in_files(folder, b"GONE-NOTE-canary", b"GONE-DEVICE-canary")
        r = await api(
            hub, org, "admin", "POST", f"/api/hr/interviews/{gone}/erase", json={"confirm": True}
        )
        assert r.status_code == 200, r.text
        assert r.json()["files"] == "rewritten"
        assert client.xrange(stream) == before  # the others' ids and data, in order
        assert client.xinfo_stream(stream)["last-generated-id"] == last_id
        assert b"GONE-NOTE-canary" not in file_bytes(folder)
        in_logs = logical_count(client, b"GONE-DEVICE-canary")
        assert in_logs >= 1  # the join's entries in the operation logs: the audit record
        for part in sorted(p for p in folder.rglob("*") if p.is_file() and "aof" in p.name):
            # the AOF parts (6.2: one file; 7: a base and increments) and the RDB
            assert part.read_bytes().count(b"GONE-DEVICE-canary") <= in_logs, part
        rdb = (folder / "dump.rdb").read_bytes()
        assert rdb.count(b"GONE-DEVICE-canary") == in_logs
        assert b"KEPT-NOTE-canary" in client.dump(stream)  # the search finds what is kept
        assert any(kept.encode() == f[b"iv"] for _, f in client.xrange(stream))
    finally:
        client.close()
        hub.stop()
        redis_server.stop()


@pytest.mark.parametrize(
    "layout",
    [
        [("other", 300), ("gone", 5), ("other", 50), ("gone", 2), ("other", 10)],
        [("gone", 5), ("other", 400)],  # at the start: the whole stream is written anew
        [("other", 400), ("gone", 3)],  # at the end
        [("other", 100), ("gone", 1), ("other", 1)],  # exactly a node's worth before it
        [("gone", 4)],  # nothing else: an empty stream
        [("other", 2), ("gone", 1), ("other", 2)],
    ],
    ids=["middle", "start", "end", "one-node-before", "only", "tiny"],
)
async def test_forgetting_an_interviews_org_events_leaves_no_byte_of_them_in_the_stream(
    store: Store, layout: list[tuple[str, int]]
) -> None:
    """An erased interview's entries leave the organisation's stream and its serialised form (what the RDB and a rewritten AOF hold, as DUMP shows), wherever they are in it; every other entry keeps its id and data, and the stream its last id."""
    org = f"forget{secrets.token_hex(4)}"
    stream = f"org:{org}:events"
    for who, count in layout:
        for n in range(count):
            note = f"NOTE-OF-{who}-{n}"
            await store.redis.xadd(stream, {"iv": who, "e": f'{{"note":"{note}"}}', "t": n})
    others = [(i, f) for i, f in await store.redis.xrange(stream) if f["iv"] != "gone"]
    last_id = (await store.redis.xinfo_stream(stream))["last-generated-id"]
    compression = (await store.redis.config_get("rdbcompression"))["rdbcompression"]
    await store.redis.config_set("rdbcompression", "no")  # DUMP's bytes as they are
    try:
        assert b"NOTE-OF-gone" in await store.raw.dump(stream)
        removed = await store._forget_org_events(org, "gone")
        assert await store.redis.xrange(stream) == others
        assert (await store.redis.xinfo_stream(stream))["last-generated-id"] == last_id
        assert b"NOTE-OF-gone" not in await store.raw.dump(stream)
        assert removed == sum(count for who, count in layout if who == "gone")
        assert await store._forget_org_events(org, "gone") == 0  # again: nothing to do
    finally:
        await store.redis.config_set("rdbcompression", compression)


def erase_entries(entries: list[dict[str, Any]], iv_id: str) -> list[dict[str, Any]]:
    return [
        e
        for e in entries
        if e.get("action") == "erase"
        and e.get("outcome") == "ok"
        and e.get("interview_id", iv_id) == iv_id
    ]


async def test_an_erasure_cut_short_after_its_script_is_finished_and_logged_once_on_retry(
    hub: Hub, fresh_org: Org, store: Store, settings: Settings
) -> None:
    """When a step after the erasure's script fails (here the organisation's event stream is not a stream), the request fails; three retries at once (two hubs' worth, one the purge's) finish the erasure and write its erase entry, with the first request's actor and reason, exactly once in the interview's and the organisation's logs."""
    org = fresh_org
    iv_id = (await finished_interview(hub, org))["interview_id"]
    stream = f"org:{org.name}:events"
    await store.redis.rename(stream, f"{stream}:aside")
    await store.redis.set(stream, "not a stream")  # the step after the script fails
    try:
        r = await api(
            hub, org, "admin", "POST", f"/api/hr/interviews/{iv_id}/erase", json={"confirm": True}
        )
        assert r.status_code == 500
        assert "erased_ms" in await store.meta(iv_id)  # the script ran: the data is gone
    finally:
        await store.redis.delete(stream)
        await store.redis.rename(f"{stream}:aside", stream)
    assert erase_entries(await store.oplog(iv_id), iv_id) == []  # not logged yet
    from server import retention
    from server.candidates import CandidateService

    service = CandidateService(store, settings)
    path = f"/api/hr/interviews/{iv_id}/erase"
    retries = await asyncio.gather(  # two through the hub, one here (the purge's way)
        api(hub, org, "admin", "POST", path, json={"confirm": True}),
        api(hub, org, "admin", "POST", path, json={"confirm": True}),
        retention.erase(service, iv_id, retention.SYSTEM, "retention", rewrite=False),
    )
    assert [r.status_code for r in retries[:2]] == [200, 200]
    assert retries[2].refusal is None
    for entries in (await store.oplog(iv_id), await store.org_log(org.name)):
        logged = erase_entries(entries, iv_id)
        assert len(logged) == 1, logged
        assert logged[0]["actor"] == org.users["admin"] and logged[0]["detail"]["why"] == "request"
    assert "erasing" not in await store.meta(iv_id)
    assert not [f for _, f in await store.redis.xrange(stream) if f.get("iv") == iv_id]


async def test_the_purge_finishes_and_logs_an_erasure_cut_short(
    hub: Hub, fresh_org: Org, store: Store, settings: Settings
) -> None:
    """An erasure by retention that failed after its script (nobody retries it: it is no longer due) is finished and logged once by the next purge."""
    from server import retention
    from server.candidates import CandidateService

    org = fresh_org
    iv_id = (await finished_interview(hub, org))["interview_id"]
    service = CandidateService(store, settings)
    stream = f"org:{org.name}:events"
    await store.redis.rename(stream, f"{stream}:aside")
    await store.redis.set(stream, "not a stream")
    try:
        with pytest.raises(redis.exceptions.ResponseError):
            await retention.erase(service, iv_id, retention.SYSTEM, "retention", rewrite=False)
    finally:
        await store.redis.delete(stream)
        await store.redis.rename(f"{stream}:aside", stream)
    result = await retention.purge(service, settings)
    assert iv_id in result["finished"] and iv_id not in result["due"]
    for entries in (await store.oplog(iv_id), await store.org_log(org.name)):
        logged = erase_entries(entries, iv_id)
        assert len(logged) == 1 and logged[0]["detail"]["why"] == "retention", logged
    assert iv_id not in (await retention.purge(service, settings))["finished"]  # done


async def test_an_erase_request_answers_pending_while_a_slow_rewrite_goes_on(
    tmp_path: Path,
) -> None:
    """With a rewrite that takes longer than HUB_ERASE_WAIT_S, the erase request answers at once with files "pending"; the rewrite finishes in the background and the interview's detail (and the list) then say "rewritten", and the files are clean."""
    redis_server = own_redis(tmp_path)
    hub = start_hub(
        redis_server.url, tmp_path, HUB_KEY_DIR=str(tmp_path / "keys"), HUB_ERASE_WAIT_S="1"
    )
    store = Store.from_url(redis_server.url, master_keys=MASTER_KEYS, key_dir=tmp_path / "keys")
    try:
        org = await make_org(hub, redis_server.url)
        iv_id = (await finished_interview(hub, org, "SLOW-canary"))["interview_id"]
        gone_key = (await store.meta(iv_id))["dek"].encode()
        await wait_in_files(redis_server.data_dir, gone_key)
        await store.redis.mset({f"filler:{n}": "x" for n in range(40)})
        # every rewrite from now on takes at least 40 keys x 0.1 s: far past the 1 s wait
        await store.redis.config_set("rdb-key-save-delay", "100000")
        r = await api(
            hub, org, "admin", "POST", f"/api/hr/interviews/{iv_id}/erase", json={"confirm": True}
        )
        assert r.status_code == 200, r.text
        assert r.json()["files"] == "pending" and r.json()["erased_ms"] > 0
        detail = (await api(hub, org, "admin", "GET", f"/api/hr/interviews/{iv_id}")).json()
        assert detail["files"] == "pending"
        for _ in range(1200):  # until the rewrite in the background is done (state, not time)
            detail = (await api(hub, org, "admin", "GET", f"/api/hr/interviews/{iv_id}")).json()
            if detail["files"] != "pending":
                break
            await asyncio.sleep(0.1)
        assert detail["files"] == "rewritten"
        listed = (await api(hub, org, "admin", "GET", "/api/hr/interviews")).json()["interviews"]
        assert [i["files"] for i in listed if i["interview_id"] == iv_id] == ["rewritten"]
        assert gone_key not in file_bytes(redis_server.data_dir)
        assert hub.errors() == []
    finally:
        await store.close()
        hub.stop()
        redis_server.stop()


async def test_the_purge_rewrites_again_for_an_erasure_whose_rewrite_was_left_pending(
    hub: Hub, fresh_org: Org, store: Store, settings: Settings
) -> None:
    """An erased interview whose files stayed "pending" past HUB_REWRITE_TIMEOUT_S (the hub waiting for it stopped) or "failed" gets a new rewrite from the next purge, and its state says "rewritten"."""
    from server import retention
    from server.candidates import CandidateService

    org = fresh_org
    service = CandidateService(store, settings)
    ids = [(await finished_interview(hub, org))["interview_id"] for _ in range(3)]
    for iv_id in ids:
        erased = await retention.erase(service, iv_id, retention.SYSTEM, "request", rewrite=False)
        assert erased.refusal is None
    long_ago = now_ms() - int(settings.rewrite_timeout_s * 1000) - 1000
    await store.set_files_state([ids[0]], "pending", long_ago)  # its hub stopped
    await store.set_files_state([ids[1]], "failed: BGREWRITEAOF: refused", now_ms())
    await store.set_files_state([ids[2]], "pending", now_ms())  # still running elsewhere
    result = await retention.purge(service, settings)
    assert ids[0] in result["files_retried"] and ids[1] in result["files_retried"]
    assert ids[2] not in result["files_retried"]
    assert result["files"] == "rewritten"
    states = [(await store.meta(i)).get("files") for i in ids]
    assert states == ["rewritten", "rewritten", "pending"]


async def test_a_months_key_is_kept_while_a_meta_holds_a_data_key_under_it_whatever_its_set_says(
    tmp_path: Path,
) -> None:
    """Someone who can write to Redis empties a spent month's set while an interview of that month is alive: the purge keeps the month key (the metas are scanned), repairs the set, and the interview still opens; a data key left only in an archived attempt's meta keeps it too; with none left anywhere the key is destroyed."""
    from server import retention

    redis_server = own_redis(tmp_path)
    key_dir = tmp_path / "keys"
    store = Store.from_url(redis_server.url, master_keys=MASTER_KEYS, key_dir=key_dir)
    settings = Settings(
        redis_url=redis_server.url, secret=SECRET, master_keys=MASTER_KEYS, key_dir=key_dir
    )
    try:
        made_at = now_ms() - 40 * DAY_MS  # a month that is over
        month = epoch_of(made_at)
        spec = InterviewSpec.from_dict({**interview_body(1), "org": "keks"})
        iv_id = (await create_interview(store, settings, spec, made_at)).interview_id
        dek = (await store.meta(iv_id))["dek"]
        assert f".kek-{month}:" in dek
        kek_file = key_dir / "kek" / f"{month}.key"
        members = f"kek:{month}:interviews"

        await store.redis.delete(members)  # the set emptied behind the hub's back
        assert await retention.destroy_spent_keks(store, now_ms(), dry_run=True) == []
        assert await retention.destroy_spent_keks(store, now_ms()) == []
        assert kek_file.exists()
        assert await store.redis.smembers(members) == {iv_id}  # repaired
        assert not await store.redis.exists(f"kek:{month}:destroyed")
        store.forget_cipher(iv_id)
        assert store.open_meta(iv_id, await store.meta(iv_id), "candidate") == "HR Test"

        # only an archived attempt's meta holds a key of that month now
        await store.redis.hset(key(iv_id, "a1:meta"), "dek", dek)
        await store.redis.hdel(key(iv_id, "meta"), "dek")
        await store.redis.delete(members)
        assert await retention.destroy_spent_keks(store, now_ms()) == []
        assert kek_file.exists()

        await store.redis.delete(key(iv_id, "a1:meta"))  # none left anywhere
        await store.redis.delete(members)
        assert await retention.destroy_spent_keks(store, now_ms()) == [month]
        assert not kek_file.exists()
    finally:
        await store.close()
        redis_server.stop()
