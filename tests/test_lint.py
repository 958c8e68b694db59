"""Static checks run with the tests: ruff on everything, mypy --strict on protocol/, server/
and client/, and no Redis outside server/store/."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def test_ruff_finds_nothing() -> None:
    """ruff check passes on the whole repository."""
    out = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "."], cwd=ROOT, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_mypy_strict_on_protocol_server_and_client() -> None:
    """mypy --strict finds no type error in protocol/, server/ and client/."""
    out = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


# --- the store owns the Redis schema (server/store/keys.py) ----------------------------------

# Where the rule applies: everything that runs, but the store itself. tests/ may look at
# Redis directly: a test checks what is really stored, not what the store says it stored.
OWN_REDIS = ("protocol", "server", "client", "loadtests")
STORE = Path("server") / "store"
# A string that starts like a key of the schema: "{iv:...", "{org:...", "org:...",
# "user:...", ... (an f-string's first piece too: f"org:{org}:users" starts "org:"), or one
# of the global keys by name. A bare "org" or "user" (a JSON field) is not one.
KEY_LITERAL = re.compile(
    r"^(\{(iv|org)|iv|org|user|person|hub|notify|kek|claim|transcribe|hrsession|usersessions"
    r"|loginfail|loginbrake|loginips|ipfail):(?!\s)|^(timers|refusalsums|demousers)$"
)
# The store's clients, reached from outside it: store.redis, store.raw, store.writer
RAW_CLIENT = re.compile(r"\bstore\.(redis|raw|writer)\b")


def schema_breaches(root: Path) -> list[str]:
    """Every place under ``root`` outside server/store/ that imports redis, builds a key
    from a literal or reaches for one of the store's raw clients."""
    found: list[tuple[Path, int, str]] = []
    for top in OWN_REDIS:
        for path in sorted((root / top).rglob("*.py")):
            where = path.relative_to(root)
            if where.is_relative_to(STORE):
                continue
            source = path.read_text()
            for node in ast.walk(ast.parse(source)):
                if isinstance(node, ast.Import | ast.ImportFrom):
                    modules = (
                        [a.name for a in node.names]
                        if isinstance(node, ast.Import)
                        else [node.module or ""]
                    )
                    if any(m == "redis" or m.startswith("redis.") for m in modules):
                        found.append((where, node.lineno, f"imports {', '.join(modules)}"))
                elif (
                    isinstance(node, ast.Constant)
                    and isinstance(node.value, str)
                    and KEY_LITERAL.match(node.value)
                ):
                    found.append((where, node.lineno, f"builds a key from {node.value!r}"))
            for number, line in enumerate(source.splitlines(), 1):
                if RAW_CLIENT.search(line):
                    found.append((where, number, f"uses a raw client: {line.strip()}"))
    return [f"{where}:{line}: {what}" for where, line, what in sorted(found)]


def test_only_the_store_touches_redis() -> None:
    """No module outside server/store/ imports redis, builds a Redis key or uses the store's raw clients."""
    assert schema_breaches(ROOT) == []


def test_the_schema_check_finds_each_kind_of_breach(tmp_path: Path) -> None:
    """The check above finds an import of redis, a hand-built key and a raw client, and passes the store itself."""
    (tmp_path / "server" / "store").mkdir(parents=True)
    (tmp_path / "server" / "store" / "keys.py").write_text('import redis\nK = f"org:{1}:users"\n')
    (tmp_path / "loadtests").mkdir()
    (tmp_path / "loadtests" / "bad.py").write_text(
        "import redis.asyncio\n"
        'META = f"{{iv:{1}}}:meta"\n'
        'TIMERS = "timers"\n'
        "async def f(store):\n"
        "    await store.raw.xlen(META)\n"
        'FIELDS = {"org": 1, "user": 2}\n'
    )
    assert schema_breaches(tmp_path) == [
        "loadtests/bad.py:1: imports redis.asyncio",
        "loadtests/bad.py:2: builds a key from '{iv:'",
        "loadtests/bad.py:3: builds a key from 'timers'",
        "loadtests/bad.py:5: uses a raw client: await store.raw.xlen(META)",
    ]
