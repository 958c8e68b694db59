"""Restarts: of the hub, of redis-server (clean and killed), of the embedded one-command setup."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from client.candidate import CandidateClient
from server.interviews import create_interview
from server.settings import Settings
from server.store import Store
from server.store.embedded import EmbeddedRedis
from tests.conftest import MASTER_KEYS, PHONE, ROOT, SECRET, free_port, now_ms, spec, start_hub


async def acked_chunks(store: Store, iv_id: str) -> list[tuple[int, str]]:
    return [(c["seq"], c["data"]) for c in await store.chunks(iv_id)]


async def test_hub_restart_resumes_at_the_last_ack(
    redis_server, tmp_path: Path, make_interview, store
) -> None:
    """After the hub process restarts, the candidate resumes at the last acknowledged chunk."""
    iv_id, token = await make_interview(questions=2)
    first_hub = start_hub(redis_server.url, tmp_path)
    c = CandidateClient(first_hub.ws, token, PHONE)
    await c.join()
    for i in range(1, 11):
        await c.send_text(f"{i},")
    await c.wait_acked()
    first_hub.stop()
    await c.close()
    second_hub = start_hub(redis_server.url, tmp_path)
    try:
        again = CandidateClient(second_hub.ws, token, PHONE)
        joined = await again.join()
        assert joined.mode == "resume"
        assert again.question is not None and again.question.acked_seq == 10
        await again.send_text("11,")
        await again.finish()
        await again.close()
    finally:
        second_hub.stop()
    assert [seq for seq, _ in await acked_chunks(store, iv_id)] == list(range(1, 12))


async def _stream_through_redis_restart(tmp_path: Path, *, kill: bool) -> None:
    redis = EmbeddedRedis(tmp_path / "redis", port=free_port(), fsync_always=kill)
    redis.start()
    env = {"HUB_DURABILITY": "fsync"} if kill else {}
    hub = start_hub(redis.url, tmp_path, **env)
    store = Store.from_url(redis.url, secret=SECRET, master_keys=MASTER_KEYS)
    settings = Settings(redis_url=redis.url, secret=SECRET, master_keys=MASTER_KEYS)
    try:
        created = await create_interview(store, settings, spec(2), now_ms())
        c = CandidateClient(hub.ws, created.token, PHONE)
        await c.join()
        for i in range(1, 31):
            await c.send_text(f"{i},")
        await c.wait_acked()
        acked = c.acked[0]
        assert acked == 30
        if kill:
            redis.kill()  # no shutdown, no final flush: only what was fsynced survives
        else:
            redis.stop()  # SHUTDOWN: the AOF is flushed
        redis.start()
        await store.close()
        store = Store.from_url(redis.url, secret=SECRET, master_keys=MASTER_KEYS)
        stored = await acked_chunks(store, created.interview_id)
        assert [seq for seq, _ in stored] == list(range(1, 31))
        # the hub reconnects by itself; the candidate carries on (resuming if it was cut off)
        for i in range(31, 36):
            await c.send_text(f"{i},")
        with contextlib.suppress(TimeoutError):
            await c.wait_acked(timeout=20)
        if c.outbox:
            await c.close()
            await c.join()
            await c.wait_acked(timeout=20)
        await c.close()
        stored = await acked_chunks(store, created.interview_id)
        assert [seq for seq, _ in stored] == list(range(1, 36))
    finally:
        await store.close()
        hub.stop()
        redis.stop()


async def test_redis_restart_keeps_acked_chunks(tmp_path: Path) -> None:
    """A clean redis-server restart keeps every acknowledged chunk (AOF), and streaming goes on."""
    await _stream_through_redis_restart(tmp_path, kill=False)


async def test_redis_killed_keeps_acked_chunks_with_fsync_durability(tmp_path: Path) -> None:
    """With durability=fsync, even a killed redis-server keeps every acknowledged chunk."""
    await _stream_through_redis_restart(tmp_path, kill=True)


# an operator's shell on a fresh machine: no Redis URL, no secret, keys beside the data
FRESH_SHELL = ("REDIS_URL", "HUB_SECRET", "HUB_KEY_DIR")


def _serve(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k not in FRESH_SHELL}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "server.cli",
            "--data-dir",
            str(data_dir),
            "serve",
            "--port",
            str(port),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("serve did not start")


def _cli(data_dir: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in FRESH_SHELL}
    out = subprocess.run(
        [sys.executable, "-m", "server.cli", "--data-dir", str(data_dir), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        check=True,
        timeout=60,
    )
    return out.stdout.decode()


async def test_embedded_serve_keeps_data_across_restart(tmp_path: Path) -> None:
    """`interview-hub serve` on its embedded Redis keeps interviews and answers across a restart."""
    data_dir = tmp_path / "data"
    spec_file = tmp_path / "interview.yaml"
    spec_file.write_text(
        "candidate: {name: Li Si, phone: '13800138000'}\n"
        "position: QA\n"
        "questions: [First, Second]\n"
        "policy: {second_entry: true}\n"
    )
    port = free_port()
    serve = _serve(data_dir, port)
    try:
        created = json.loads(_cli(data_dir, "create", str(spec_file), "--json"))
        c = CandidateClient(
            f"ws://127.0.0.1:{port}/ws/candidate", created["token"], "138 0013 8000"
        )
        await c.join()
        await c.send_text("survives ")
        await c.send_text("restarts")
        await c.wait_acked()
        await c.close()
    finally:
        serve.terminate()
        serve.wait(120)  # the embedded Redis saves on the way out; a busy disk is slow
    assert serve.returncode == 0
    assert not (data_dir / "redis.sock").exists()  # the embedded redis-server shut down too
    serve = _serve(data_dir, port)
    try:
        c = CandidateClient(f"ws://127.0.0.1:{port}/ws/candidate", created["token"], PHONE)
        await c.join()
        assert c.question is not None and c.question.acked_seq == 2
        await c.close()
        shown = json.loads(_cli(data_dir, "show", created["interview_id"], "--json"))
        assert shown["answers"][0]["text"] == "survives restarts"
        assert shown["state"] == "in_progress"
        assert [e["action"] for e in shown["log"]][:2] == ["join", "disconnect"]
    finally:
        serve.terminate()
        serve.wait(120)  # the embedded Redis saves on the way out; a busy disk is slow


async def test_serve_after_a_killed_hub_takes_over_its_embedded_redis(tmp_path: Path) -> None:
    """If the hub was killed, the next `serve` adopts the embedded redis-server left running (one server per data dir)."""
    data_dir = tmp_path / "data"
    port = free_port()
    first = _serve(data_dir, port)
    first.kill()  # SIGKILL: no chance to stop its redis-server
    first.wait(10)
    assert (data_dir / "redis.sock").exists()
    second = _serve(data_dir, port)
    try:
        listing = _cli(data_dir, "list")
        assert listing == ""  # it answers (no interviews yet), through the adopted server
    finally:
        second.terminate()
        assert second.wait(120) == 0
    assert not (data_dir / "redis.sock").exists()  # and it was shut down with the hub
    out = subprocess.run(["pgrep", "-f", str(data_dir)], capture_output=True, text=True)
    assert out.stdout.strip() == ""


async def test_a_dead_hubs_sockets_are_released_by_another(
    hub, redis_server, tmp_path: Path, make_interview, store
) -> None:
    """When a hub is killed, another hub notices its lapsed lease and records the disconnect; past the grace the interview still waits at the same question (not an exit) and resumes on the other hub."""
    iv_id, token = await make_interview(questions=2, resume_grace_s=1, second_entry=True)
    doomed = start_hub(redis_server.url, tmp_path, HUB_HUB_LEASE_S="1")
    c = CandidateClient(doomed.ws, token, PHONE)
    await c.join()
    await c.send_text("before the crash")
    await c.wait_acked()
    doomed.process.kill()  # SIGKILL: it records nothing
    doomed.process.wait(10)
    doomed.stop()
    for _ in range(200):  # the session hub sweeps every 0.2 s; the lease is 1 s
        snap, meta = await store.snapshot(iv_id)
        if snap.disconnected_ms:
            break
        await asyncio.sleep(0.1)
    assert snap.session == "" and snap.disconnected_ms
    assert meta["disconnects"] == "1"
    log = await store.oplog(iv_id)
    assert any(e["action"] == "disconnect" and e["actor"] == "system" for e in log)
    while now_ms() <= snap.disconnected_ms + 2000:  # past the grace, and sweeps after it
        await asyncio.sleep(0.1)
    snap, _ = await store.snapshot(iv_id)
    assert str(snap.state) == "in_progress" and snap.reentries_used == 0
    again = CandidateClient(hub.ws, token, PHONE)
    assert (await again.join()).mode == "resume"
    assert again.question is not None and (again.question.q, again.question.acked_seq) == (0, 1)
    await again.close()
    await c.close()
