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


# Domain separation: identity hashes are HMAC(secret, normalised number), which is only
# upper-case letters and digits, so it can never equal a message that starts with this label.
PROFILE_LABEL = "interview-hub/candidate-profile/v1"


def profile_id(secret: str, org: str, id_hash: str, phone_hash: str) -> str:
    """The candidate's profile in one organisation: from the ID-card number when the
    invitation has one, else from the phone (docs/assessment.md "The candidate's file").
    Keyed by the organisation too, so two employers' ATSs cannot match their candidates
    by it. "" without either number."""
    person = id_hash or phone_hash
    if not person:
        return ""
    message = f"{PROFILE_LABEL}|{org}|{person}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()[:32]


def which(secret: str, identity: str, stored: dict[str, str]) -> str | None:
    """Which stored hash (``{"id": ..., "phone": ...}``) the identity matches, or None.
    Every one is compared, always, so timing does not tell which one matched."""
    if not normalise(identity):
        return None
    candidate = keyed_hash(secret, identity)
    found = None
    for kind, stored_hash in stored.items():
        if bool(stored_hash) and hmac.compare_digest(candidate, stored_hash):
            found = kind
    return found


def proof_label(identity: str, kind: str | None = None) -> str:
    """What the operation log says of a proof: its kind and its masked form, never the
    number (``phone 138****8000``, ``id 110***********1234``). ``kind``: the hash it
    matched; else guessed from its shape (11 digits: a phone; 15 or 18: an ID card)."""
    value = normalise(identity)
    if kind is None:
        if len(value) == 11 and value.isdigit():
            kind = "phone"
        elif len(value) in (15, 18) and value[:-1].isdigit():
            kind = "id"
        else:  # not a number of either kind: say how long it was, show none of it
            return f"other ({len(value)} characters)" if value else "none"
    return f"{kind} {mask(value)}"


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
