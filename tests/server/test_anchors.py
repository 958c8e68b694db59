"""Signed checkpoints: made by every hub, written to the anchor files, posted to a webhook."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from client.candidate import CandidateClient
from server.anchors import (
    AnchorBook,
    Checkpoint,
    Checkpointer,
    Signer,
    load_public_key,
    load_signing_key,
    public_key_pem,
)
from server.audit import Head
from server.store import Store, log_scope
from server.store.embedded import EmbeddedRedis
from tests.conftest import MASTER_KEYS, PHONE, ROOT, SECRET, Hub, now_ms, start_hub


class Webhook:
    """A customer's system receiving checkpoints: a real HTTP server on a free port; it
    answers 503 to its first ``fail_first`` POSTs (a system that is briefly away)."""

    def __init__(self, fail_first: int = 0) -> None:
        self.received: list[dict[str, Any]] = []
        self.refused = 0
        webhook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if webhook.refused < fail_first:
                    webhook.refused += 1
                    self.send_response(503)
                else:
                    webhook.received.append(json.loads(body))
                    self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/anchors"

    def checkpoints(self, scope: str) -> list[Checkpoint]:
        return [
            Checkpoint.from_json(cp)
            for post in list(self.received)
            for cp in post["checkpoints"]
            if cp["scope"] == scope
        ]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook(fail_first=2)
    yield hook
    hook.stop()


def public_key_of(hub: Hub) -> Any:
    """The key the operator hands the customer: ``interview-hub log public-key``."""
    printed = subprocess.run(
        [sys.executable, "-m", "server.cli", "--data-dir", str(hub.data_dir), "log", "public-key"],
        cwd=ROOT,
        env={**os.environ, "HUB_SECRET": SECRET, "HUB_MASTER_KEYS": MASTER_KEYS},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert printed.returncode == 0, printed.stderr
    return load_public_key(printed.stdout.encode())


def checked_as_documented(pem: bytes, checkpoint: dict[str, Any]) -> bool:
    """A receiver's check, exactly as docs/security.md tells it (no interview-hub code)."""
    public = load_pem_public_key(pem)
    assert isinstance(public, Ed25519PublicKey)
    signed = {k: v for k, v in checkpoint.items() if k != "sig"}
    message = (
        b"interview-hub/log-checkpoint/v1\n"
        + json.dumps(signed, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    )
    try:
        public.verify(base64.b64decode(checkpoint["sig"]), message)
    except InvalidSignature:
        return False
    return True


async def head_of(store: Store, scope: str) -> Head:
    return Head.decode((await store.log_chain(scope))[1])


async def test_a_hub_posts_signed_checkpoints_to_the_webhook(
    redis_server: EmbeddedRedis, tmp_path: Path, make_interview: Any, store: Store, webhook: Webhook
) -> None:
    """The webhook (after refusing twice) receives checkpoints of the interview's log that verify with the printed public key and match its last entry."""
    hub = start_hub(
        redis_server.url, tmp_path, HUB_LOG_ANCHOR_URL=webhook.url, HUB_LOG_CHECKPOINT_S="0.2"
    )
    try:
        iv_id, token = await make_interview()
        scope = log_scope(iv_id)
        async with CandidateClient(hub.ws, token, PHONE) as c:
            await c.join()
            await c.request_exit()
        head = await head_of(store, scope)
        for _ in range(1200):  # until it arrives (state, not time)
            if any(cp.n >= head.n for cp in webhook.checkpoints(scope)):
                break
            await asyncio.sleep(0.05)
        public = public_key_of(hub)
    finally:
        hub.stop()
    head = await head_of(store, scope)  # with the disconnect, anchored as the hub stopped
    assert webhook.refused == 2  # retried after the refusals
    delivered = webhook.checkpoints(scope)
    assert delivered and all(cp.holds(public) for cp in delivered)
    raw = [cp for post in webhook.received for cp in post["checkpoints"]]
    assert all(checked_as_documented(public_key_pem(public).encode(), cp) for cp in raw)
    last = delivered[-1]
    assert (last.n, last.id, last.mac) == (head.n, head.id, head.mac)
    forged = Checkpoint(last.scope, last.n + 1, last.id, last.mac, last.t, last.kid, last.sig)
    assert not forged.holds(public)
    anchored, _ = AnchorBook(hub.anchor_dir, public).refresh().of(scope)
    assert last in anchored  # the same checkpoint is in the anchor files


async def test_a_stopping_hub_anchors_what_it_appended_last(
    redis_server: EmbeddedRedis, tmp_path: Path, make_interview: Any, store: Store
) -> None:
    """With rounds an hour apart, the entries a hub appended are anchored (file and webhook) when it stops."""
    webhook = Webhook()
    hub = start_hub(
        redis_server.url, tmp_path, HUB_LOG_ANCHOR_URL=webhook.url, HUB_LOG_CHECKPOINT_S="3600"
    )
    try:
        iv_id, token = await make_interview()
        scope = log_scope(iv_id)
        async with CandidateClient(hub.ws, token, PHONE) as c:
            await c.join()
        public = public_key_of(hub)
        book = AnchorBook(hub.anchor_dir, public)
        assert book.refresh().of(scope) == ([], 0)  # no round has run
    finally:
        hub.stop()
        webhook.stop()
    assert hub.process.returncode == 0
    head = await head_of(store, scope)
    anchored, bad = book.refresh().of(scope)
    assert bad == 0 and anchored[-1].n == head.n and anchored[-1].mac == head.mac
    (posted,) = webhook.checkpoints(scope)
    assert posted == anchored[-1] and posted.holds(public)


async def test_a_failing_anchor_directory_keeps_the_heads_for_the_next_round(
    store: Store, make_interview: Any, tmp_path: Path
) -> None:
    """When the anchor files cannot be written the round says why and keeps the heads; the next round that can write anchors the newest."""
    iv_id, _ = await make_interview()
    await store.log(iv_id, {"action": "a"}, now_ms())
    blocked = tmp_path / "anchors"
    blocked.write_text("a file where the directory should be")
    signer = Signer(Ed25519PrivateKey.generate())
    checkpointer = Checkpointer(store.take_unanchored, store.give_back_unanchored, signer, blocked)
    assert await checkpointer.round() == 0 and checkpointer.failing
    await store.log(iv_id, {"action": "b"}, now_ms())
    blocked.unlink()
    assert await checkpointer.round() == 1 and not checkpointer.failing
    (checkpoint,), bad = AnchorBook(blocked, signer.public).refresh().of(log_scope(iv_id))
    assert bad == 0 and checkpoint.n == 2
    assert stat.S_IMODE(next(blocked.glob("*.jsonl")).stat().st_mode) == 0o600


def test_the_signing_key_is_made_once_with_mode_0600(tmp_path: Path) -> None:
    """Hubs starting at once all end up with the one key, made 0600 from the start."""
    path = tmp_path / "keys" / "log-signing.key"
    assert load_signing_key(path, create=False) is None
    with ThreadPoolExecutor(8) as pool:
        keys = list(pool.map(lambda _: load_signing_key(path, create=True), range(8)))
    pems = {public_key_pem(k.public_key()) for k in keys if k is not None}
    assert len(pems) == 1
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind
