"""The processes a benchmark starts: hubs (``python -m server.cli serve``) it can stop, kill,
pause and start again on the same port, and the problems their logs show.

Used by ``loadtests.bench``, ``loadtests.fault_bench`` and ``loadtests.abuse_bench``. A hub
is pinned with taskset when CPUs are given; its log (every start of it) goes to one file.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# the "log" notification provider reports each delivery at WARNING: not a problem
NOTIFICATION_LINE = re.compile(r"interview_hub\.notify WARNING notification \w+ via \w+ to ")


def pin_all_threads(pid: int, cpus: set[int]) -> None:
    """sched_setaffinity for every thread of ``pid`` (it affects one thread at a time)."""
    try:
        tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        tids = [pid]
    for tid in tids:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(tid, cpus)


def parse_cpus(spec: str) -> set[int]:
    """A taskset-style CPU list: "1", "0,2", "2-3"."""
    cpus: set[int] = set()
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            lo, hi = part.split("-", 1)
            cpus.update(range(int(lo), int(hi) + 1))
        else:
            cpus.add(int(part))
    if not cpus:
        raise ValueError(f"no CPUs in {spec!r}")
    return cpus


class HubProcess:
    """One hub on 127.0.0.1:``port``; ``env`` adds HUB_* settings to the environment."""

    def __init__(
        self,
        *,
        port: int,
        redis_url: str,
        secret: str,
        master_keys: str,
        data_dir: Path,
        log_path: Path,
        cpus: str | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.port = port
        self.redis_url = redis_url
        self.secret = secret
        self.master_keys = master_keys
        self.data_dir = data_dir
        self.log_path = log_path
        self.cpus = cpus
        self.env = env or {}
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.stop_s: float | None = None  # SIGTERM -> exited, at the last stop()
        self.killed = False  # the last stop() had to kill it after the timeout

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/candidate"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout_s: float = 120.0) -> None:
        """Start it and wait until /healthz answers 200."""
        env = {
            **os.environ,
            "REDIS_URL": self.redis_url,
            "HUB_SECRET": self.secret,
            "HUB_MASTER_KEYS": self.master_keys,
            "HUB_HOST": "127.0.0.1",
            "HUB_PORT": str(self.port),
            "PYTHONUNBUFFERED": "1",
            **self.env,
        }
        cmd = [sys.executable, "-m", "server.cli", "--data-dir", str(self.data_dir)]
        cmd += ["serve", "--port", str(self.port), "--log-level", "warning"]
        taskset = bool(self.cpus and shutil.which("taskset"))
        if taskset:
            cmd = ["taskset", "-c", str(self.cpus), *cmd]
        with self.log_path.open("ab") as out:  # the child keeps its own descriptor
            self.process = subprocess.Popen(
                cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        self.starts += 1
        if self.cpus and not taskset:
            pin_all_threads(self.process.pid, parse_cpus(self.cpus))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"hub exited at start:\n{self.log_tail()}")
            if self.health() == 200:
                return
            time.sleep(0.1)
        raise RuntimeError(f"hub not healthy in {timeout_s:.0f} s:\n{self.log_tail()}")

    def health(self, path: str = "/healthz", timeout_s: float = 2.0) -> int | None:
        """The status of GET ``path`` (None: no answer)."""
        try:
            with urllib.request.urlopen(self.http + path, timeout=timeout_s) as resp:
                return int(resp.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)
        except OSError:
            return None

    def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM (SIGCONT first, should it be paused); SIGKILL after ``timeout_s``."""
        if not self.running():
            return
        assert self.process is not None
        with contextlib.suppress(OSError):
            self.process.send_signal(signal.SIGCONT)
        t_stop = time.monotonic()
        self.process.terminate()
        self.killed = False
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.killed = True
            self.process.kill()
            self.process.wait()
        self.stop_s = time.monotonic() - t_stop

    def kill(self) -> None:
        """SIGKILL, as a crash would; nothing is cleaned up (its lease lapses)."""
        if self.running():
            assert self.process is not None
            self.process.kill()
            self.process.wait()

    def pause(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_text()[-chars:]


def log_problems(text: str) -> tuple[list[str], int]:
    """Lines of a hub log that look like problems, and how many were notifications (the
    "log" provider's deliveries, at WARNING, which are not)."""
    problems: list[str] = []
    notifications = 0
    for line in text.splitlines():
        if NOTIFICATION_LINE.search(line):
            notifications += 1
        elif any(w in line for w in ("ERROR", "WARNING", "Traceback", "Exception")):
            problems.append(line)
    return problems, notifications


def tracebacks(text: str) -> list[str]:
    """Each traceback in a log, as the line that logged it and the exception line."""
    lines = text.splitlines()
    found: list[str] = []
    for i, line in enumerate(lines):
        if line.startswith("Traceback"):
            head = lines[i - 1] if i else ""
            tail = next(
                (x for x in lines[i + 1 :] if x and not x.startswith((" ", "Traceback"))), ""
            )
            found.append(f"{head} | {tail}"[:400])
    return found


__all__ = ["HubProcess", "log_problems", "parse_cpus", "pin_all_threads", "tracebacks"]
