"""Encryption at rest: AES-256-GCM records under a data key per interview (envelope).

- A **master key** (32 bytes) has a key id; the keyring holds every master key still
  needed, and the last one is current. They come from ``HUB_MASTER_KEYS`` or the file
  ``HUB_MASTER_KEY_FILE`` (lines ``<kid>:<base64 key>``); never from Redis.
- Each interview gets a random 32-byte **data key** with its own id, stored in the
  interview's meta only **wrapped** (AES-GCM under the current master key, bound to the
  interview and the data key's id). Rotation re-wraps data keys under a new master key;
  the records themselves are not touched.
- Every **record** (an answer chunk, a report, the contact details, a notification) is
  sealed with a fresh 96-bit nonce, and its associated data names the interview, the data
  key id and what the record is (e.g. ``chunk|a1|q2|s7``), so a record copied or swapped to
  another place fails to open.
- Deleting an interview's wrapped data key makes all its records unreadable
  (crypto-shredding), wherever copies of them remain.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12
FORMAT = b"\x01"  # first byte of every sealed record: room for a future format
AAD_PREFIX = "interview-hub/v1"
SEAL_OVERHEAD = len(FORMAT) + NONCE_BYTES + 16  # a sealed record is this much longer (tag: 16)


class CryptoError(Exception):
    """A key is missing, malformed, or a record does not open (tampered, moved, shredded)."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_master_key_line(kid: str | None = None) -> str:
    """A fresh master key as one keyring line ``<kid>:<base64>``."""
    return f"{kid or 'k' + secrets.token_hex(4)}:{_b64(os.urandom(KEY_BYTES))}"


@dataclass(frozen=True)
class Keyring:
    """Master keys by id; ``current`` wraps new data keys."""

    keys: dict[str, bytes]
    current: str

    @classmethod
    def parse(cls, text: str) -> Keyring:
        """Lines or comma-separated items ``<kid>:<base64 32 bytes>``; the last is current."""
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
            keys[kid] = key
        if not keys:
            raise CryptoError("no master key configured")
        return cls(keys, kid)

    @classmethod
    def load(cls, inline: str = "", path: str | Path = "") -> Keyring:
        return cls.parse(inline if inline else Path(path).read_text())

    def wrap(self, iv_id: str, dkid: str, data_key: bytes) -> str:
        """The data key, sealed under the current master key: ``<kid>:<base64>``."""
        nonce = os.urandom(NONCE_BYTES)
        aad = f"{AAD_PREFIX}|dek|{iv_id}|{dkid}|{self.current}".encode()
        sealed = AESGCM(self.keys[self.current]).encrypt(nonce, data_key, aad)
        return f"{self.current}:{_b64(nonce + sealed)}"

    def unwrap(self, iv_id: str, dkid: str, wrapped: str) -> bytes:
        kid, _, encoded = wrapped.partition(":")
        if kid not in self.keys:
            raise CryptoError(f"interview {iv_id}: master key {kid!r} is not in the keyring")
        blob = _unb64(encoded)
        aad = f"{AAD_PREFIX}|dek|{iv_id}|{dkid}|{kid}".encode()
        try:
            return AESGCM(self.keys[kid]).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
        except InvalidTag:
            raise CryptoError(f"interview {iv_id}: its data key does not open") from None

    def wrapped_kid(self, wrapped: str) -> str:
        return wrapped.partition(":")[0]


def new_data_key(keyring: Keyring, iv_id: str) -> str:
    """A fresh data key for an interview, as stored in its meta: ``<dkid>.<kid>:<base64>``."""
    dkid = secrets.token_hex(4)
    return f"{dkid}.{keyring.wrap(iv_id, dkid, os.urandom(KEY_BYTES))}"


def rewrap(keyring: Keyring, iv_id: str, stored: str) -> str:
    """The same data key, wrapped under the current master key (key rotation)."""
    dkid, _, wrapped = stored.partition(".")
    return f"{dkid}.{keyring.wrap(iv_id, dkid, keyring.unwrap(iv_id, dkid, wrapped))}"


class RecordCipher:
    """Seals and opens one interview's records with its data key."""

    def __init__(self, keyring: Keyring, iv_id: str, stored: str) -> None:
        if not stored:
            raise CryptoError(f"interview {iv_id} has no data key (erased, or made before it)")
        self.iv_id = iv_id
        self.stored = stored
        self.dkid, _, wrapped = stored.partition(".")
        self._aead = AESGCM(keyring.unwrap(iv_id, self.dkid, wrapped))

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
    "CryptoError",
    "Keyring",
    "RecordCipher",
    "chunk_purpose",
    "new_data_key",
    "new_master_key_line",
    "rewrap",
]
