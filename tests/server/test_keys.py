"""Where keys come from: every documented configuration works end to end, keys live outside
the data directory in private files, old key files are moved out, weak keys are refused."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from client.candidate import CandidateClient
from server.crypto import new_master_key_line
from server.interviews import create_interview
from server.settings import Settings
from server.store import Store
from server.store.embedded import EmbeddedRedis
from tests.conftest import MASTER_KEYS, PHONE, ROOT, SECRET, free_port, now_ms, spec, start_hub

SPEC = {
    "candidate": {"name": "Key Config", "phone": PHONE},
    "position": "Keys",
    "questions": ["Q1", "Q2"],
}


def cli(tmp: Path, redis_url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``interview-hub --data-dir <tmp>/hubdata ...`` as start_hub's hub runs, same env."""
    environment = {**os.environ, "REDIS_URL": redis_url, **env}
    return subprocess.run(
        [sys.executable, "-m", "server.cli", "--data-dir", str(tmp / "hubdata"), *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


async def create_answer_read(tmp: Path, redis_url: str, hub_port: int, env: dict[str, str]) -> str:
    """Create an interview with the CLI, answer a chunk over the hub's socket, read it back
    with the CLI: what the hub sealed, the commands open."""
    spec_file = tmp / "spec.json"
    spec_file.write_text(json.dumps(SPEC))
    made = await asyncio.to_thread(cli, tmp, redis_url, "create", str(spec_file), "--json", **env)
    assert made.returncode == 0, made.stdout + made.stderr
    created = json.loads(made.stdout)
    ws = f"ws://127.0.0.1:{hub_port}/ws/candidate"
    async with CandidateClient(ws, created["token"], PHONE) as c:
        await c.join()
        await c.send_text("answered under this key setup")
        await c.wait_acked()
    shown = await asyncio.to_thread(
        cli, tmp, redis_url, "show", created["interview_id"], "--json", **env
    )
    assert shown.returncode == 0, shown.stdout + shown.stderr
    report = json.loads(shown.stdout)
    assert report["candidate"] == "Key Config"
    return str(report["answers"][0]["text"])


CONFIGS = {
    # HUB_KEY_DIR "" : unset, so the default beside the data directory is used
    "secret-and-master-keys": {"HUB_KEY_DIR": ""},
    "secret-and-master-key-file": {
        "HUB_MASTER_KEYS": "",
        "HUB_MASTER_KEY_FILE": "FILE",
        "HUB_KEY_DIR": "",
    },
    "secret-alone": {"HUB_MASTER_KEYS": "", "HUB_KEY_DIR": ""},
    "neither": {"HUB_SECRET": "", "HUB_MASTER_KEYS": "", "HUB_KEY_DIR": ""},
    "secret-file-and-key-dir": {"HUB_SECRET": "", "HUB_SECRET_FILE": "FILE"},
}


@pytest.mark.parametrize("config", list(CONFIGS))
async def test_every_documented_key_configuration_serves_and_reads(
    config: str, tmp_path: Path
) -> None:
    """With HUB_SECRET and HUB_MASTER_KEYS, HUB_SECRET and HUB_MASTER_KEY_FILE, HUB_SECRET alone, neither, or HUB_SECRET_FILE: `serve` and the commands create, seal and read an interview; generated keys are 0600 files in a 0700 key directory beside the data, none in it."""
    env = dict(CONFIGS[config])
    outside = tmp_path / "etc"
    outside.mkdir()
    if env.get("HUB_MASTER_KEY_FILE") == "FILE":
        (outside / "master.key").write_text(MASTER_KEYS.replace(",", "\n") + "\n")
        env["HUB_MASTER_KEY_FILE"] = str(outside / "master.key")
    if env.get("HUB_SECRET_FILE") == "FILE":
        (outside / "secret").write_text(SECRET + "\n")
        env["HUB_SECRET_FILE"] = str(outside / "secret")
        env["HUB_KEY_DIR"] = str(tmp_path / "elsewhere" / "keys")
    with EmbeddedRedis(tmp_path / "redis", port=free_port()) as redis_server:
        hub = start_hub(redis_server.url, tmp_path, **env)
        try:
            full_env = {"HUB_SECRET": SECRET, "HUB_MASTER_KEYS": MASTER_KEYS, **env}
            text = await create_answer_read(tmp_path, redis_server.url, hub.port, full_env)
        finally:
            hub.stop()
    assert text == "answered under this key setup"
    data_dir = tmp_path / "hubdata"
    key_dir = Path(env["HUB_KEY_DIR"]) if env.get("HUB_KEY_DIR") else tmp_path / "hubdata-keys"
    made = sorted(p.relative_to(key_dir).as_posix() for p in key_dir.rglob("*") if p.is_file())
    generated = {"secret": not env.get("HUB_SECRET", SECRET) and "HUB_SECRET_FILE" not in env}
    generated["master.key"] = not env.get("HUB_MASTER_KEYS", MASTER_KEYS) and (
        "HUB_MASTER_KEY_FILE" not in env
    )
    # the log signing key is made there too (and the log anchors, a directory of their own)
    expected = sorted(["log-signing.key", *(name for name, here in generated.items() if here)])
    assert [m for m in made if not m.startswith(("kek/", "log-anchors/"))] == expected
    assert any(m.startswith("kek/") and m.endswith(".key") for m in made)  # this month's KEK
    assert mode(key_dir) == 0o700 and mode(key_dir / "kek") == 0o700
    assert all(mode(key_dir / m) == 0o600 for m in made)
    assert not (data_dir / "secret").exists() and not (data_dir / "master.key").exists()


def test_key_files_left_in_the_data_dir_by_an_older_version_are_moved_out(tmp_path: Path) -> None:
    """An install whose secret and master key sit in the data directory keeps working: the hub moves them to the key directory (with a notice) and the interview made under them opens."""
    data_dir = tmp_path / "hubdata"
    data_dir.mkdir()
    old_secret = "f" * 8 + SECRET[8:]
    old_ring = new_master_key_line("k1")
    for name, text in (("secret", old_secret), ("master.key", old_ring)):
        (data_dir / name).write_text(text + "\n")
        (data_dir / name).chmod(0o600)
    with EmbeddedRedis(tmp_path / "redis", port=free_port()) as redis_server:

        async def made_by_the_older_version() -> str:
            store = Store.from_url(redis_server.url, secret=old_secret, master_keys=old_ring)
            settings = Settings(redis_url=redis_server.url, secret=old_secret, master_keys=old_ring)
            created = await create_interview(store, settings, spec(1), now_ms())
            await store.close()
            return created.token

        token = asyncio.run(made_by_the_older_version())
        env = {"HUB_SECRET": "", "HUB_MASTER_KEYS": "", "HUB_KEY_DIR": ""}
        hub = start_hub(redis_server.url, tmp_path, **env)
        try:
            assert "note: moved" in hub.log()

            async def join() -> str:
                async with CandidateClient(hub.ws, token, PHONE) as c:  # the old secret
                    joined = await c.join()
                    return joined.candidate

            assert asyncio.run(join()) == "Test Candidate"  # the old master key
        finally:
            hub.stop()
    key_dir = tmp_path / "hubdata-keys"
    assert (key_dir / "secret").read_text().strip() == old_secret
    assert (key_dir / "master.key").read_text().strip() == old_ring
    assert mode(key_dir / "secret") == 0o600 and mode(key_dir) == 0o700
    assert not (data_dir / "secret").exists() and not (data_dir / "master.key").exists()


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"HUB_SECRET": "s3cret"}, "hub secret from HUB_SECRET is too weak: it has 6 characters"),
        (
            {"HUB_SECRET": "test-secret-" + "0" * 20},
            "hub secret from HUB_SECRET is too weak: its characters carry about 60 bits",
        ),
        (
            {"HUB_MASTER_KEYS": "k1:" + "A" * 43},
            "master keys from HUB_MASTER_KEYS: master key 'k1' is refused",
        ),
        ({"HUB_KEY_DIR": "DATA/keys"}, "is inside the data directory"),
    ],
)
def test_weak_secrets_and_keys_are_refused_at_start(
    env: dict[str, str], says: str, tmp_path: Path
) -> None:
    """`serve` does not start with a short or low-entropy HUB_SECRET, a master key of 32 zero bytes, or a key directory inside the data directory; it says which and why."""
    env = {k: v.replace("DATA", str(tmp_path / "hubdata")) for k, v in env.items()}
    out = cli(
        tmp_path,
        "redis://127.0.0.1:9/0",  # never reached: the keys are checked first
        "serve",
        "--port",
        str(free_port()),
        **{"HUB_SECRET": SECRET, "HUB_MASTER_KEYS": MASTER_KEYS, **env},
    )
    assert out.returncode == 2, out.stdout + out.stderr
    assert says in out.stderr
