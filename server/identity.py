"""Identity proofs: normalising ID-card and phone numbers, keyed hashes, masks, tokens.

Neither number is stored in clear: the store keeps a keyed hash (HMAC-SHA256 under the
hub secret) to compare against, and a masked form for people to read.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

_NOT_ALNUM = re.compile(r"[^0-9A-Za-z]")


def normalise(identity: str) -> str:
    """Spaces, dashes and a +86/0086 prefix do not matter; the ID checksum 'x' is 'X'."""
    value = _NOT_ALNUM.sub("", identity).upper()
    for prefix in ("0086", "86"):
        if value.startswith(prefix) and len(value) == len(prefix) + 11:
            value = value[len(prefix) :]
    return value


def keyed_hash(secret: str, identity: str) -> str:
    return hmac.new(secret.encode(), normalise(identity).encode(), hashlib.sha256).hexdigest()


def matches(secret: str, identity: str, stored_hashes: list[str]) -> bool:
    if not normalise(identity):
        return False
    candidate = keyed_hash(secret, identity)
    # compare against all, always, so timing does not tell which one matched
    found = False
    for stored in stored_hashes:
        found |= bool(stored) and hmac.compare_digest(candidate, stored)
    return found


def mask(identity: str) -> str:
    """Keep the first three and last four characters: 138****5678."""
    value = normalise(identity)
    if len(value) <= 7:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def new_interview_id() -> str:
    return secrets.token_hex(8)


def new_token(iv_id: str) -> tuple[str, str]:
    """An invitation token ``<id>.<secret>`` and the hash of its secret to store."""
    secret = secrets.token_urlsafe(24)
    return f"{iv_id}.{secret}", token_hash(secret)


def token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def split_token(token: str) -> tuple[str, str] | None:
    iv_id, dot, secret = token.partition(".")
    if not dot or not iv_id or not secret or len(token) > 200 or not iv_id.isalnum():
        return None
    return iv_id, secret


def token_matches(secret: str, stored_hash: str) -> bool:
    return bool(stored_hash) and hmac.compare_digest(token_hash(secret), stored_hash)
