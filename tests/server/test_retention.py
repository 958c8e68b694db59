"""Erasure on request and by retention: the data key goes first, the data follows, the log keeps the fact."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from client.candidate import CandidateClient, JoinRefused
from server.crypto import CryptoError
from server.store import Store, key
from tests.conftest import (
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


def run_cli(redis_url: str, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "HUB_SECRET": SECRET,
        "HUB_MASTER_KEYS": MASTER_KEYS,
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
