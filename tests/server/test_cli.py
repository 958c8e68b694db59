"""The command line: help everywhere, clear errors for bad specs, create/list/show."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import MASTER_KEYS, ROOT, SECRET


def run_cli(
    *args: str, redis_url: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HUB_SECRET": SECRET, "HUB_MASTER_KEYS": MASTER_KEYS}
    if redis_url:
        env["REDIS_URL"] = redis_url
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=check,
    )


@pytest.mark.parametrize(
    "command",
    [[], ["serve"], ["demo"], ["create"], ["list"], ["show"], ["take"], ["role", "reset"]],
)
def test_every_command_has_help(command: list[str]) -> None:
    """`--help` works on the program and on every command."""
    out = run_cli(*command, "--help")
    assert out.stdout.startswith("usage: interview-hub")


def test_bad_spec_is_explained(tmp_path: Path, redis_server) -> None:
    """A spec without questions fails with exit 2 and says which field is wrong."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("candidate: {name: A, phone: '13800138000'}\nposition: X\nquestions: []\n")
    out = run_cli("create", str(bad), redis_url=redis_server.url, check=False)
    assert out.returncode == 2
    assert "questions must be a non-empty list" in out.stderr


def test_create_list_show(tmp_path: Path, redis_server) -> None:
    """`create` from JSON prints the link; `list` and `show` report the new interview."""
    spec_file = tmp_path / "iv.json"
    spec_file.write_text(
        json.dumps(
            {
                "candidate": {"name": "王五", "id_number": "11010119900307123X"},
                "position": "PM",
                "questions": [{"text": "Why us?", "time_limit_s": 60}],
            }
        )
    )
    created = json.loads(
        run_cli("create", str(spec_file), "--json", redis_url=redis_server.url).stdout
    )
    assert created["link"].endswith(f"/i/{created['token']}")
    assert created["token"].startswith(created["interview_id"] + ".")
    listed = run_cli("list", redis_url=redis_server.url).stdout
    assert created["interview_id"] in listed and "invited" in listed
    shown = json.loads(
        run_cli("show", created["interview_id"], "--json", redis_url=redis_server.url).stdout
    )
    assert shown["state"] == "invited" and shown["candidate"] == "王五"
    assert shown["answers"][0]["question"] == "Why us?"
    missing = run_cli("show", "nope", redis_url=redis_server.url, check=False)
    assert missing.returncode == 1 and "no interview" in missing.stderr


def test_serve_loads_no_heavy_library_it_does_not_use_at_start() -> None:
    """`serve` imports neither numpy, httpx, jinja2 nor zxcvbn before it needs them: each hub starts faster (docs/benchmarks.md)."""
    probe = (
        "import sys, server.cli, server.app, server.asr;"
        "print(','.join(m for m in ('numpy', 'httpx', 'jinja2', 'zxcvbn') if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "", loaded
