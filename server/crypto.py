"""Encryption at rest: AES-256-GCM records under a data key per interview (envelope).

- A **master key** (32 random bytes) has a key id; the keyring holds every master key
  still needed, and the last one is current. They come from ``HUB_MASTER_KEYS``, the file
  ``HUB_MASTER_KEY_FILE`` or the key directory (lines ``<kid>:<base64 key>``); never from
  Redis. Keys that are not random-looking are refused.
- Each calendar month (UTC) is an **epoch** with its own random 32-byte **key-encryption
  key** (KEK), kept only as a file in the key directory, sealed under the current master key
  (server/keys.py). Never in Redis: destroying the file is what makes every copy of that
  month's erased interviews unreadable, backups included.
- Each interview gets a random 32-byte **data key** with its own id, stored in the
  interview's meta only **wrapped**: sealed under the KEK of the month it was created in
  (``<dkid>.kek-2025-01:<base64>``), bound to the interview and the data key's id. Data
  keys made before KEKs existed are wrapped directly under a master key
  (``<dkid>.<kid>:<base64>``); they still open, and ``keys rotate`` moves them to their
  month's KEK.
- Every **record** (an answer chunk, a report, the contact details, a notification) is
  sealed with a fresh 96-bit nonce, and its associated data names the interview, the data
  key id and what the record is (e.g. ``chunk|a1|q2|s7``), so a record copied or swapped to
  another place fails to open.
- Deleting an interview's wrapped data key (and rewriting Redis' files) makes all its
  records unreadable from the live data; destroying its month's KEK makes them unreadable
  from any copy (crypto-shredding).
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12
FORMAT = b"\x01"  # first byte of every sealed record: room for a future format
AAD_PREFIX = "interview-hub/v1"
SEAL_OVERHEAD = len(FORMAT) + NONCE_BYTES + 16  # a sealed record is this much longer (tag: 16)
# 32 random bytes have about 30 distinct values; fewer than this is a made-up key
# ("A" * 43 decodes to 32 zero bytes)
MIN_DISTINCT_KEY_BYTES = 16
EPOCH = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")  # a calendar month, UTC: 2025-01
KEK_WRAPPER = "kek-"  # a data key wrapped under a KEK names it kek-<epoch>; master kids are alnum


class CryptoError(Exception):
    """A key is missing, malformed, or a record does not open (tampered, moved, shredded)."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_master_key_line(kid: str | None = None) -> str:
    """A fresh master key as one keyring line ``<kid>:<base64>``."""
    return f"{kid or 'k' + secrets.token_hex(4)}:{_b64(os.urandom(KEY_BYTES))}"


def weak_key_reason(key: bytes) -> str | None:
    """Why ``key`` cannot be a key made by a random generator, or None."""
    if len(set(key)) < MIN_DISTINCT_KEY_BYTES:
        return (
            f"its {len(key)} bytes take only {len(set(key))} distinct values: not random "
            "(make one with `interview-hub keys new`)"
        )
    return None


def epoch_of(ms: int) -> str:
    """The epoch (calendar month, UTC) of a time in ms since 1970: ``2025-01``."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m")


def epoch_end_ms(epoch: str) -> int:
    """The first ms after the epoch's month."""
    year, month = int(epoch[:4]), int(epoch[5:7])
    year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return int(datetime(year, month, 1, tzinfo=UTC).timestamp() * 1000)


def _seal(key: bytes, aad: str, plaintext: bytes) -> str:
    nonce = os.urandom(NONCE_BYTES)
    return _b64(nonce + AESGCM(key).encrypt(nonce, plaintext, aad.encode()))


def _open(key: bytes, aad: str, encoded: str) -> bytes:
    """Raises InvalidTag when it does not open."""
    try:
        blob = _unb64(encoded)
    except (binascii.Error, ValueError):
        raise InvalidTag from None
    return AESGCM(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad.encode())


@dataclass(frozen=True)
class Keyring:
    """Master keys by id; ``current`` wraps new KEKs (and, in the old format, data keys)."""

    keys: dict[str, bytes]
    current: str

    @classmethod
    def parse(cls, text: str) -> Keyring:
        """Lines or comma-separated items ``<kid>:<base64 32 bytes>``; the last is current.
        Malformed or not random-looking keys are refused."""
        keys: dict[str, bytes] = {}
        kid = ""
        for item in text.replace(",", "\n").splitlines():
            item = item.strip()
            if not item or item.startswith("#"):
                continue
            kid, sep, encoded = item.partition(":")
            try:
                key = _unb64(encoded.strip()) if sep else b""
            except (binascii.Error, ValueError):
                key = b""
            if not kid.isalnum() or len(key) != KEY_BYTES:
                raise CryptoError(f"bad master key {kid!r}: want <alnum id>:<base64 of 32 bytes>")
            weak = weak_key_reason(key)
            if weak:
                raise CryptoError(f"master key {kid!r} is refused: {weak}")
            keys[kid] = key
        if not keys:
            raise CryptoError("no master key configured")
        return cls(keys, kid)

    @classmethod
    def load(cls, inline: str = "", path: str | Path = "") -> Keyring:
        return cls.parse(inline if inline else Path(path).read_text())

    def wrap(self, iv_id: str, dkid: str, data_key: bytes) -> str:
        """The data key, sealed under the current master key: ``<kid>:<base64>`` (the format
        before KEKs; tools and tests without a key directory still make it)."""
        aad = f"{AAD_PREFIX}|dek|{iv_id}|{dkid}|{self.current}"
        return f"{self.current}:{_seal(self.keys[self.current], aad, data_key)}"

    def unwrap(self, iv_id: str, dkid: str, wrapped: str) -> bytes:
        kid, _, encoded = wrapped.partition(":")
        if kid not in self.keys:
            raise CryptoError(f"interview {iv_id}: master key {kid!r} is not in the keyring")
        try:
            return _open(self.keys[kid], f"{AAD_PREFIX}|dek|{iv_id}|{dkid}|{kid}", encoded)
        except InvalidTag:
            raise CryptoError(f"interview {iv_id}: its data key does not open") from None

    def wrapped_kid(self, wrapped: str) -> str:
        return wrapped.partition(":")[0]

    def seal_kek(self, epoch: str, kek: bytes) -> str:
        """An epoch's KEK as kept in its file: ``<kid>:<base64>`` under the current key."""
        aad = f"{AAD_PREFIX}|kek|{epoch}|{self.current}"
        return f"{self.current}:{_seal(self.keys[self.current], aad, kek)}"

    def open_kek(self, epoch: str, sealed: str) -> bytes:
        kid, _, encoded = sealed.strip().partition(":")
        if kid not in self.keys:
            raise CryptoError(f"the KEK of {epoch} is sealed under master key {kid!r}, not here")
        try:
            return _open(self.keys[kid], f"{AAD_PREFIX}|kek|{epoch}|{kid}", encoded)
        except InvalidTag:
            raise CryptoError(f"the KEK of {epoch} does not open") from None

    def kek_kid(self, sealed: str) -> str:
        return sealed.strip().partition(":")[0]


class KekSource(Protocol):
    """Where KEKs are kept (server/keys.py: files in the key directory)."""

    def kek(self, epoch: str, *, create: bool, fresh: bool = False) -> bytes:
        """The epoch's KEK; ``create``: make it if there is none; ``fresh``: not cached."""
        ...


def wrapper_of(stored: str) -> str:
    """What wraps a stored data key: a master key id, or ``kek-<epoch>``."""
    return stored.partition(".")[2].partition(":")[0]


def epoch_of_data_key(stored: str) -> str | None:
    """The epoch whose KEK wraps this stored data key (None: the old format, or none)."""
    wrapper = wrapper_of(stored)
    return wrapper.removeprefix(KEK_WRAPPER) if wrapper.startswith(KEK_WRAPPER) else None


class DataKeys:
    """Makes, wraps and unwraps interviews' data keys (the envelope's middle layer).

    With ``keks`` (the hub and every command: the key directory), new data keys are wrapped
    under their epoch's KEK. Without (tools and tests that make interviews straight in
    Redis), under the current master key as before KEKs; both formats open.
    """

    def __init__(self, keyring: Keyring, keks: KekSource | None = None) -> None:
        self.keyring = keyring
        self.keks = keks

    def new(self, iv_id: str, epoch: str | None) -> str:
        """A fresh data key for an interview made in ``epoch``, as stored in its meta:
        ``<dkid>.kek-<epoch>:<base64>`` (``<dkid>.<kid>:<base64>`` without KEKs)."""
        dkid = secrets.token_hex(4)
        return f"{dkid}.{self._wrap(iv_id, dkid, os.urandom(KEY_BYTES), epoch)}"

    def _wrap(self, iv_id: str, dkid: str, data_key: bytes, epoch: str | None) -> str:
        if self.keks is None or epoch is None:
            return self.keyring.wrap(iv_id, dkid, data_key)
        wrapper = KEK_WRAPPER + epoch
        kek = self.keks.kek(epoch, create=True)
        return f"{wrapper}:{_seal(kek, f'{AAD_PREFIX}|dek|{iv_id}|{dkid}|{wrapper}', data_key)}"

    def unwrap(self, iv_id: str, stored: str) -> bytes:
        if not stored:
            raise CryptoError(f"interview {iv_id} has no data key (erased, or made before it)")
        dkid, _, wrapped = stored.partition(".")
        epoch = epoch_of_data_key(stored)
        if epoch is None:
            return self.keyring.unwrap(iv_id, dkid, wrapped)
        if self.keks is None:
            raise CryptoError(f"interview {iv_id}: its data key needs the key directory (KEKs)")
        aad = f"{AAD_PREFIX}|dek|{iv_id}|{dkid}|{KEK_WRAPPER}{epoch}"
        encoded = wrapped.partition(":")[2]
        for fresh in (False, True):  # a cached KEK may be stale (re-made after a destruction)
            try:
                return _open(self.keks.kek(epoch, create=False, fresh=fresh), aad, encoded)
            except InvalidTag:
                continue
        raise CryptoError(f"interview {iv_id}: its data key does not open")

    def to_epoch(self, iv_id: str, stored: str, epoch: str) -> str:
        """The same data key, wrapped under ``epoch``'s KEK (moving an old-format key)."""
        dkid = stored.partition(".")[0]
        return f"{dkid}.{self._wrap(iv_id, dkid, self.unwrap(iv_id, stored), epoch)}"


def new_data_key(keyring: Keyring, iv_id: str) -> str:
    """A fresh data key wrapped directly under the current master key (the old format)."""
    return DataKeys(keyring).new(iv_id, None)


def rewrap(keyring: Keyring, iv_id: str, stored: str) -> str:
    """An old-format data key, wrapped under the current master key."""
    dkid, _, wrapped = stored.partition(".")
    return f"{dkid}.{keyring.wrap(iv_id, dkid, keyring.unwrap(iv_id, dkid, wrapped))}"


class RecordCipher:
    """Seals and opens one interview's records with its data key."""

    def __init__(self, keys: Keyring | DataKeys, iv_id: str, stored: str) -> None:
        data_keys = keys if isinstance(keys, DataKeys) else DataKeys(keys)
        self.iv_id = iv_id
        self.stored = stored
        self.dkid = stored.partition(".")[0]
        self._aead = AESGCM(data_keys.unwrap(iv_id, stored))

    def _aad(self, purpose: str) -> bytes:
        return f"{AAD_PREFIX}|{self.iv_id}|{self.dkid}|{purpose}".encode()

    def seal(self, purpose: str, plaintext: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return FORMAT + nonce + self._aead.encrypt(nonce, plaintext, self._aad(purpose))

    def open(self, purpose: str, blob: bytes) -> bytes:
        if blob[:1] != FORMAT:
            raise CryptoError(f"interview {self.iv_id}: {purpose} is not a sealed record")
        nonce, sealed = blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, sealed, self._aad(purpose))
        except InvalidTag:
            raise CryptoError(f"interview {self.iv_id}: {purpose} does not open") from None

    def seal_text(self, purpose: str, text: str) -> str:
        return _b64(self.seal(purpose, text.encode()))

    def open_text(self, purpose: str, sealed: str) -> str:
        return self.open(purpose, _unb64(sealed)).decode()


def chunk_purpose(attempt: int, q: int, seq: int) -> str:
    return f"chunk|a{attempt}|q{q}|s{seq}"


__all__ = [
    "EPOCH",
    "CryptoError",
    "DataKeys",
    "KekSource",
    "Keyring",
    "RecordCipher",
    "chunk_purpose",
    "epoch_end_ms",
    "epoch_of",
    "epoch_of_data_key",
    "new_data_key",
    "new_master_key_line",
    "rewrap",
    "weak_key_reason",
    "wrapper_of",
]
