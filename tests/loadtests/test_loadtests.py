"""The benchmark and the locust scenario run, stop by themselves and report honest counts."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import MASTER_KEYS, ROOT, SECRET, Hub


def test_bench_small_run_reports_figures_and_no_loss() -> None:
    """A small bench run (its own Redis and hub) ends with a JSON line: all acked, 0 lost, 0 duplicated."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "loadtests.bench",
            "--candidates",
            "5",
            "--rate",
            "5",
            "--duration",
            "2",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["sent"] == 50 and result["acked"] == 50
    assert (result["lost"], result["duplicated"]) == (0, 0)
    for key in (
        "offered_chunks_per_s",
        "achieved_chunks_per_s",
        "p50_ms",
        "p99_ms",
        "max_ms",
        "hub_cpu_s_per_1000_chunks",
    ):
        assert isinstance(result[key], int | float)
    assert result["hub_cpu_s_per_1000_chunks"] > 0


def test_locust_scenario_runs_against_a_hub(hub: Hub) -> None:
    """`locust --headless` with the locustfile streams through a real hub and verifies Redis at the end."""
    env = {
        **os.environ,
        "INTERVIEW_HUB_REDIS_URL": hub.redis_url,
        "INTERVIEW_HUB_SECRET": SECRET,
        "INTERVIEW_HUB_MASTER_KEYS": MASTER_KEYS,
    }
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "locust",
            "-f",
            "loadtests/locustfile.py",
            "--headless",
            "-u",
            "4",
            "-r",
            "4",
            "-t",
            "12s",  # room for the users to start on a loaded machine: the check is acked > 0
            "--host",
            f"ws://127.0.0.1:{hub.port}",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[-3000:]
    verify = next(line for line in text.splitlines() if "interview-hub verify:" in line)
    counts = json.loads(verify.split("interview-hub verify:", 1)[1])
    assert counts["acked"] > 0
    assert (counts["lost"], counts["duplicated"]) == (0, 0)


def test_media_bench_runs_and_prints_its_figures() -> None:
    """`python -m loadtests.media_bench` streams a synthetic camera through its own hub and prints JSON with what was stored."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "loadtests.media_bench",
            "--candidates",
            "1",
            "--duration",
            "3",
            "--warmup",
            "2",
            "--width",
            "320",
            "--height",
            "240",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["connected"] == 1 and result["stored_frames"] > 0 and result["stored_audio_s"] > 0
    assert result["hub_cpu_per_media_candidate"] > 0 and result["chunks_acked"] > 0
