"""HR accounts: users with argon2 passwords, per-organisation role tables, sessions.

Keys (global, one organisation's users may live on any shard):

    user:<name>            hash  name, org, pw (argon2 hash), roles (JSON list), created_ms
    org:<org>:users        set   user names
    org:<org>:roles        hash  role -> JSON list of permissions (absent: the defaults)
    hrsession:<sha256>     hash  user, org, created_ms (expires with the session)
    usersessions:<name>    set   session hashes, to end them all on logout or role change
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from protocol.permissions import DEFAULT_ROLES, Permission, Role, permissions_of
from server.store import Store

USER_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")  # safe in keys, logs and JSON
_hasher = PasswordHasher()
# argon2 is slow on purpose: off the event loop, and only a few at a time
_hashing = asyncio.Semaphore(4)


async def _verify(hash_: str, password: str) -> bool:
    async with _hashing:
        try:
            return await asyncio.to_thread(_hasher.verify, hash_, password)
        except (VerificationError, InvalidHashError):
            return False


async def _hash(password: str) -> str:
    async with _hashing:
        return await asyncio.to_thread(_hasher.hash, password)


# verifying against this keeps a login for an unknown user as slow as for a known one
_DUMMY_HASH = _hasher.hash("not-a-password")


MAX_LOGIN_FAILURES = 10
LOGIN_LOCKOUT_S = 900


class AccountError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Principal:
    """A logged-in HR user, as every HR request sees them."""

    user: str
    org: str
    roles: tuple[str, ...]
    permissions: frozenset[Permission]
    session: str  # hash of the session token

    @property
    def role(self) -> str:
        return ",".join(self.roles)


def session_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Accounts:
    def __init__(self, store: Store, session_ttl_s: int) -> None:
        self.redis = store.redis
        self.session_ttl_s = session_ttl_s

    async def add_user(
        self, name: str, password: str, org: str, roles: list[str], now: int
    ) -> None:
        unknown = [r for r in roles if r not in Role._value2member_map_]
        if unknown or not roles:
            raise AccountError("unknown_role")
        if not USER_NAME.fullmatch(name) or not USER_NAME.fullmatch(org) or not password:
            raise AccountError("bad_field")
        created = await self.redis.hsetnx(f"user:{name}", "name", name)
        if not created:
            raise AccountError("user_exists")
        await self.redis.hset(
            f"user:{name}",
            mapping={
                "org": org,
                "pw": await _hash(password),
                "roles": json.dumps(roles),
                "created_ms": str(now),
            },
        )
        await self.redis.sadd(f"org:{org}:users", name)

    async def user(self, name: str) -> dict[str, str]:
        return await self.redis.hgetall(f"user:{name}")  # type: ignore[no-any-return]

    async def users(self, org: str) -> list[dict[str, object]]:
        out = []
        for name in sorted(await self.redis.smembers(f"org:{org}:users")):
            u = await self.user(name)
            if u:
                out.append({"name": name, "roles": json.loads(u["roles"])})
        return out

    async def role_table(self, org: str) -> dict[str, list[str]]:
        custom = await self.redis.hgetall(f"org:{org}:roles")
        table = {str(r): sorted(p.value for p in perms) for r, perms in DEFAULT_ROLES.items()}
        table.update({r: json.loads(v) for r, v in custom.items()})
        return table

    async def set_role_permissions(self, org: str, role: str, permissions: list[str]) -> None:
        if role not in Role._value2member_map_:
            raise AccountError("unknown_role")
        if any(p not in Permission._value2member_map_ for p in permissions):
            raise AccountError("bad_field")
        await self.redis.hset(f"org:{org}:roles", role, json.dumps(sorted(set(permissions))))

    async def set_user_roles(self, org: str, name: str, roles: list[str]) -> None:
        u = await self.user(name)
        if not u or u.get("org") != org:
            raise AccountError("not_found")
        if not roles or any(r not in Role._value2member_map_ for r in roles):
            raise AccountError("unknown_role")
        await self.redis.hset(f"user:{name}", "roles", json.dumps(roles))

    # --- sessions -----------------------------------------------------------------------

    async def login(self, name: str, password: str, now: int) -> tuple[str, Principal]:
        if not USER_NAME.fullmatch(name):
            raise AccountError("login_failed")
        # a user under attack is locked for a while: count first (atomic), forgive on success
        failures = await self.redis.incr(f"loginfail:{name}")
        await self.redis.expire(f"loginfail:{name}", LOGIN_LOCKOUT_S)
        if failures > MAX_LOGIN_FAILURES:
            raise AccountError("too_many_attempts")
        u = await self.user(name)
        if not await _verify(u.get("pw") or _DUMMY_HASH, password) or not u:
            raise AccountError("login_failed")
        await self.redis.delete(f"loginfail:{name}")
        token = secrets.token_urlsafe(32)
        sha = session_hash(token)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                f"hrsession:{sha}", mapping={"user": name, "org": u["org"], "created_ms": now}
            )
            pipe.expire(f"hrsession:{sha}", self.session_ttl_s)
            pipe.sadd(f"usersessions:{name}", sha)
            await pipe.execute()
        principal = await self.principal_for(sha)
        assert principal is not None
        return token, principal

    async def principal(self, token: str) -> Principal | None:
        """The user behind a session token, with their current permissions (None: logged out)."""
        return await self.principal_for(session_hash(token)) if token else None

    async def principal_for(self, sha: str) -> Principal | None:
        session = await self.redis.hgetall(f"hrsession:{sha}")
        if not session:
            return None
        u = await self.user(session["user"])
        if not u:
            return None
        roles = tuple(json.loads(u["roles"]))
        table = await self.role_table(u["org"])
        return Principal(session["user"], u["org"], roles, permissions_of(roles, table), sha)

    async def logout(self, sha: str) -> str | None:
        """End one session; returns its user."""
        session = await self.redis.hgetall(f"hrsession:{sha}")
        await self.redis.delete(f"hrsession:{sha}")
        if session:
            await self.redis.srem(f"usersessions:{session['user']}", sha)
            return str(session["user"])
        return None

    async def sessions_of(self, name: str) -> set[str]:
        return await self.redis.smembers(f"usersessions:{name}")  # type: ignore[no-any-return]
