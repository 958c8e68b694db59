"""Signed checkpoints of the operation logs, anchored outside Redis.

A log's MACs (server/audit.py) stop anyone without the hub's key from editing or forging
entries, but not from cutting a log's tail (moving its head back) or deleting a log
outright: what is left is still a genuine log. So every hub remembers the last entry it
appended to each log, and every ``HUB_LOG_CHECKPOINT_S`` signs a checkpoint of it,

    {"scope": "iv:<id>", "n": 12, "id": "<stream id>", "mac": "<entry 12's MAC>",
     "t": <ms>, "kid": "<key id>", "sig": "<Ed25519 signature, base64>"}

with an Ed25519 key kept in a file (``HUB_LOG_SIGNING_KEY_FILE``, never sent to Redis),
appends it to a JSONL file in ``HUB_LOG_ANCHOR_DIR`` and, when ``HUB_LOG_ANCHOR_URL`` is
set, POSTs it to the customer's system. Entry 12's MAC covers entries 1 to 11 by the
chain, so a checkpoint pins the whole log up to it: ``interview-hub log verify`` then
reports a log shorter than a checkpoint, or gone. What the checkpoints cannot catch is
the loss of entries written after the last one, within ``HUB_LOG_CHECKPOINT_S``.

The signature is over ``SIGNED_PREFIX`` followed by the checkpoint's JSON without
``sig``, keys sorted, no spaces (``Checkpoint.signed_bytes``); anyone holding the public
key (``interview-hub log public-key``) can check a checkpoint the webhook delivered.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from server.audit import Head
from server.keys import default_key_dir, private_dir
from server.logs import notice
from server.settings import Settings

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("interview_hub.anchors")

SIGNED_PREFIX = b"interview-hub/log-checkpoint/v1\n"
WEBHOOK_TIMEOUT_S = 10.0
WEBHOOK_MAX_BACKOFF_S = 60.0
WEBHOOK_BATCH = 1000  # checkpoints per POST


def _key_dir(settings: Settings) -> Path:
    return settings.key_dir or default_key_dir(settings.data_dir)


def signing_key_file(settings: Settings) -> Path:
    """HUB_LOG_SIGNING_KEY_FILE, else in the key directory (beside the data, not in it)."""
    if settings.log_signing_key_file:
        return Path(settings.log_signing_key_file)
    return _key_dir(settings) / "log-signing.key"


def anchor_dir(settings: Settings) -> Path:
    """HUB_LOG_ANCHOR_DIR, else ``log-anchors`` in the key directory: out of Redis' reach."""
    if settings.log_anchor_dir:
        return Path(settings.log_anchor_dir)
    return _key_dir(settings) / "log-anchors"


def load_signing_key(path: Path, *, create: bool) -> Ed25519PrivateKey | None:
    """The Ed25519 key in ``path`` (PEM, PKCS#8); with ``create``, made on first use
    (mode 0600 from the start; two hubs starting at once end up with the same one)."""
    if not path.exists():
        if not create:
            return None
        private_dir(path.parent)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, pem)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)  # atomic and never overwrites: the first hub's key wins
            notice(
                f"note: made a new log signing key in {path}; keep it apart from Redis, the "
                "same on every hub, and set HUB_LOG_SIGNING_KEY_FILE in production"
            )
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} does not hold an Ed25519 private key")
    return key


def public_key_pem(public: Ed25519PublicKey) -> str:
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Checkpoint:
    scope: str
    n: int
    id: str
    mac: str
    t: int
    kid: str
    sig: str = ""

    def unsigned(self) -> dict[str, Any]:
        return {
            "scope": self.scope,
            "n": self.n,
            "id": self.id,
            "mac": self.mac,
            "t": self.t,
            "kid": self.kid,
        }

    def signed_bytes(self) -> bytes:
        text = json.dumps(
            self.unsigned(), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )
        return SIGNED_PREFIX + text.encode()

    def to_json(self) -> dict[str, Any]:
        return {**self.unsigned(), "sig": self.sig}

    def line(self) -> str:
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, data: Any) -> Checkpoint:
        if not isinstance(data, dict):
            raise ValueError("not an object")
        values = [data.get(k) for k in ("scope", "n", "id", "mac", "t", "kid", "sig")]
        kinds = (str, int, str, str, int, str, str)
        if not all(type(v) is k for v, k in zip(values, kinds, strict=True)):
            raise ValueError("fields missing or of the wrong type")
        return cls(*values)  # type: ignore[arg-type]  # each value checked of its kind above

    def holds(self, public: Ed25519PublicKey) -> bool:
        try:
            public.verify(base64.b64decode(self.sig, validate=True), self.signed_bytes())
        except (InvalidSignature, ValueError, binascii.Error):
            return False
        return True


class Signer:
    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private
        self.public = private.public_key()
        self.kid = key_id(self.public)

    def checkpoint(self, scope: str, head: Head, t: int) -> Checkpoint:
        unsigned = Checkpoint(scope, head.n, head.id, head.mac, t, self.kid)
        sig = base64.b64encode(self._private.sign(unsigned.signed_bytes())).decode()
        return Checkpoint(scope, head.n, head.id, head.mac, t, self.kid, sig)


class AnchorDir:
    """Append-only JSONL files, one per UTC day; many hub processes may append at once
    (each round is one locked, O_APPEND write of whole lines, then fsync)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, lines: list[str], now_ms: int) -> None:
        if not lines:
            return
        if not self.path.is_dir():
            private_dir(self.path)
        day = datetime.fromtimestamp(now_ms / 1000, UTC).strftime("%Y-%m-%d")
        fd = os.open(
            self.path / f"checkpoints-{day}.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600
        )
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            data = ("\n".join(lines) + "\n").encode()
            while data:
                data = data[os.write(fd, data) :]
            os.fsync(fd)
        finally:
            os.close(fd)  # releases the lock


@dataclass
class _Scope:
    checkpoints: dict[tuple[int, str, str], Checkpoint] = field(default_factory=dict)
    bad: int = 0


class AnchorBook:
    """The checkpoints found in an anchor directory (or one JSONL file), each checked
    against the public key. Reads incrementally: ``refresh`` parses only what was appended
    since (a hub's API keeps one book)."""

    def __init__(self, path: Path, public: Ed25519PublicKey | None, scope: str = "") -> None:
        self.path = path
        self.public = public
        # only this scope's lines are parsed (a quick filter on the canonical line)
        self._needle = ('"scope":' + json.dumps(scope, ensure_ascii=False)) if scope else ""
        self._offsets: dict[Path, int] = {}
        self._lines: dict[Path, int] = {}
        self._scopes: dict[str, _Scope] = {}
        self.problems: list[str] = []  # lines that are not checkpoints, or do not verify

    def files(self) -> list[Path]:
        if self.path.is_file():
            return [self.path]
        return sorted(self.path.glob("*.jsonl")) if self.path.is_dir() else []

    def refresh(self) -> AnchorBook:
        for file in self.files():
            start = self._offsets.get(file, 0)
            with file.open("rb") as f:
                f.seek(start)
                data = f.read()
            end = data.rfind(b"\n") + 1  # a line being written is read next time
            lineno = self._lines.get(file, 0)
            for raw in data[:end].split(b"\n")[:-1]:
                lineno += 1
                self._take(f"{file.name}:{lineno}", raw)
            self._offsets[file], self._lines[file] = start + end, lineno
        return self

    def _take(self, where: str, raw: bytes) -> None:
        text = raw.decode("utf-8", errors="replace").strip()
        if not text or (self._needle and self._needle not in text):
            return
        try:
            cp = Checkpoint.from_json(json.loads(text))
        except ValueError as exc:
            self.problems.append(f"{where}: not a checkpoint ({exc})")
            return
        scope = self._scopes.setdefault(cp.scope, _Scope())
        if self.public is None or not cp.holds(self.public):
            scope.bad += 1
            self.problems.append(f"{where}: the checkpoint for {cp.scope} does not verify")
            return
        scope.checkpoints.setdefault((cp.n, cp.id, cp.mac), cp)

    def scopes(self) -> list[str]:
        return sorted(self._scopes)

    def of(self, scope: str) -> tuple[list[Checkpoint], int]:
        """The scope's verified checkpoints, and how many of its checkpoints did not verify."""
        found = self._scopes.get(scope)
        if found is None:
            return [], 0
        return sorted(found.checkpoints.values(), key=lambda c: c.n), found.bad

    @property
    def empty(self) -> bool:
        return not self._scopes


HeadSource = Callable[[], dict[str, Head]]
HeadReturn = Callable[[dict[str, Head]], None]


class Checkpointer:
    """The background task: every ``interval_s``, a signed checkpoint of every log this
    process appended to since the last round, to the anchor files and the webhook."""

    def __init__(
        self,
        take: HeadSource,
        give_back: HeadReturn,
        signer: Signer,
        directory: Path,
        *,
        url: str = "",
        interval_s: float = 1.0,
        clock: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    ) -> None:
        self.take = take
        self.give_back = give_back
        self.signer = signer
        self.files = AnchorDir(directory)
        self.url = url
        self.interval_s = interval_s
        self.clock = clock
        self.failing = ""  # what went wrong in the last round ("" while anchoring works)
        self.webhook_failing = ""
        self._unsent: dict[str, Checkpoint] = {}  # newest per log: it pins the older ones
        self._have_unsent = asyncio.Event()

    async def run(self) -> None:
        """Rounds until cancelled; an error is logged and the next round tries again."""
        poster = asyncio.create_task(self._post_loop()) if self.url else None
        try:
            while True:
                await asyncio.sleep(self.interval_s)
                await self.round()
        finally:
            if poster is not None:
                poster.cancel()
                await asyncio.gather(poster, return_exceptions=True)

    async def round(self) -> int:
        """One round; returns how many checkpoints it anchored (never raises)."""
        heads = self.take()
        if not heads:
            return 0
        now = self.clock()
        try:
            made = [self.signer.checkpoint(scope, head, now) for scope, head in heads.items()]
            await asyncio.to_thread(self.files.append, [cp.line() for cp in made], now)
        except asyncio.CancelledError:
            self.give_back(heads)  # stopping: the final round (flush) anchors them
            raise
        except Exception as exc:
            self.give_back(heads)  # the next round anchors them (or newer heads)
            if not self.failing:
                log.exception(
                    "anchoring %d log checkpoints in %s failed", len(heads), self.files.path
                )
            self.failing = f"{type(exc).__name__}: {exc}"
            return 0
        if self.failing:
            log.warning("anchoring log checkpoints works again")
            self.failing = ""
        if self.url:
            for cp in made:
                self._unsent[cp.scope] = cp
            self._have_unsent.set()
        return len(made)

    async def flush(self) -> None:
        """The last round at shutdown: files, then one try at the webhook."""
        await self.round()
        if self.url and self._unsent:
            import httpx  # loaded on first use: a hub that never posts starts faster

            async with httpx.AsyncClient(timeout=WEBHOOK_TIMEOUT_S) as http:
                with contextlib.suppress(Exception):
                    await self._post(http)

    async def _post_loop(self) -> None:
        backoff = self.interval_s
        import httpx  # loaded on first use: a hub that never posts starts faster

        async with httpx.AsyncClient(timeout=WEBHOOK_TIMEOUT_S) as http:
            while True:
                await self._have_unsent.wait()
                try:
                    await self._post(http)
                except Exception as exc:
                    if not self.webhook_failing:
                        log.warning("posting log checkpoints to the anchor webhook failed: %s", exc)
                    self.webhook_failing = f"{type(exc).__name__}: {exc}"
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, WEBHOOK_MAX_BACKOFF_S)
                    continue
                if self.webhook_failing:
                    log.warning("the anchor webhook takes log checkpoints again")
                self.webhook_failing = ""
                backoff = self.interval_s

    async def _post(self, http: httpx.AsyncClient) -> None:
        while self._unsent:
            batch = list(self._unsent.values())[:WEBHOOK_BATCH]
            r = await http.post(
                self.url,
                json={"kid": self.signer.kid, "checkpoints": [cp.to_json() for cp in batch]},
            )
            r.raise_for_status()
            for cp in batch:
                if self._unsent.get(cp.scope) is cp:  # not replaced by a newer one meanwhile
                    del self._unsent[cp.scope]
        self._have_unsent.clear()


def checkpointer_for(settings: Settings, take: HeadSource, give_back: HeadReturn) -> Checkpointer:
    """The hub's checkpointer, with the signing key from its file (made on first use)."""
    private = load_signing_key(signing_key_file(settings), create=True)
    assert private is not None
    return Checkpointer(
        take,
        give_back,
        Signer(private),
        anchor_dir(settings),
        url=settings.log_anchor_url,
        interval_s=settings.log_checkpoint_s,
    )


async def anchor_now(settings: Settings, take: HeadSource, give_back: HeadReturn) -> None:
    """For a command that appended to logs and then ends (``erase``, ``purge``): anchor
    what it appended, as a hub's last round does."""
    heads = take()
    if heads:
        give_back(heads)
        await checkpointer_for(settings, take, give_back).flush()


__all__ = [
    "AnchorBook",
    "Checkpoint",
    "Checkpointer",
    "Signer",
    "anchor_dir",
    "anchor_now",
    "checkpointer_for",
    "load_public_key",
    "load_signing_key",
    "public_key_pem",
    "signing_key_file",
]
