"""The benchmark and the locust scenario run, stop by themselves and report honest counts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from tests.conftest import MASTER_KEYS, ROOT, SECRET, Hub

# load and bench runs: their own command (README, "Long runs")
pytestmark = pytest.mark.long


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
            # room for the users to create, join and stream on a loaded machine (in a full
            # run on two cores 12 s was not enough for one ack): the check is acked > 0
            "30s",
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


def run_json(module: str, *args: str) -> tuple[subprocess.CompletedProcess[str], Any]:
    """Run ``python -m module args``; its result and the JSON object on its last line."""
    out = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert out.stdout.strip(), out.stderr[-3000:]
    return out, json.loads(out.stdout.strip().splitlines()[-1])


def test_fault_bench_small_run_accounts_for_every_chunk() -> None:
    """`python -m loadtests.fault_bench` through one fault of each cheap kind (two hubs; Redis RST, a 1 s outage, a restart, a kill -9 with fsync; client RST and black hole; a paused hub): every typed chunk acked and stored once, in order, no 4002, each fault followed by a healthy hub."""
    cheap = "redis-rst,redis-outage,redis-restart,redis-kill,client-rst,client-blackhole,hub-stop"
    out, result = run_json(
        "loadtests.fault_bench",
        *("--candidates", "3", "--rate", "5", "--duration", "0", "--gap", "0.5"),
        *("--faults", cheap),
        *("--outage-s", "1", "--blackhole-s", "1", "--pause-s", "1", "--lease-s", "1.5"),
        *("--durability", "fsync"),
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert [f["kind"] for f in result["faults"]] == cheap.split(",")
    assert result["sent"] > 0 and result["acked"] == result["sent"] == result["stored"]
    counts = ("lost", "lost_allowed_by_write_durability", "duplicated", "reordered", "corrupted")
    assert [result[k] for k in counts] == [0, 0, 0, 0, 0]
    assert (result["closes_4002"], result["taken_over_messages"]) == (0, 0)
    assert all(f["healthz_200"] and f["never_recovered"] == 0 for f in result["faults"])
    assert result["hub_tracebacks"] == 0, result["hub_traceback_samples"]


def test_abuse_bench_small_run_keeps_every_bystander_chunk() -> None:
    """`python -m loadtests.abuse_bench` with one flooder of each kind: every bystander chunk is acked and stored once, no bystander socket closes, every newcomer's join is accounted for, and the flooders' frames are counted."""
    out, result = run_json(
        "loadtests.abuse_bench",
        *("--bystanders", "3", "--rate", "5", "--flooders", "6", "--floods", "all"),
        *("--phase-s", "3", "--settle", "0.5"),
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert result["bystander_sent"] > 0 and result["bystander_unacked"] == 0
    assert [result[k] for k in ("lost", "duplicated", "reordered", "corrupted")] == [0, 0, 0, 0]
    assert result["bystander_errors"] == {}
    (flood,) = result["floods"]
    assert set(flood["flooders"]["per_kind"]) == set(flood["kinds"])
    assert flood["flooders"]["frames"] == sum(
        s["frames"] for s in flood["flooders"]["per_kind"].values()
    )
    assert flood["flooders"]["frames"] > 0
    assert flood["joins"]["attempts"] == flood["joins"]["ok"] == 3
    assert result["baseline"]["chunks_acked"] > 0 and flood["bystanders"]["chunks_acked"] > 0
    assert result["hub_tracebacks"] == 0, result["hub_traceback_samples"]
