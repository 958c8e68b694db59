"""HR accounts' records: users, role tables, sessions and the login lock-out's counters.

The rules (password policy, who may change whom, the lock-out's thresholds) are in
server/accounts.py; this module only reads and writes the keys (keys.py lists them).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import redis.exceptions

from server.store.base import StoreBase
from server.store.keys import (
    DEMO_USERS,
    hr_session_key,
    login_addresses_key,
    login_brake_key,
    login_failures_key,
    org_roles,
    org_users,
    user_key,
    user_sessions_key,
)
from server.store.replies import as_fields, text_hash, text_set

GUARD_RETRIES = 20  # a guarded change that lost a race to another change is re-run


class AccountWrites:
    """The writes a guarded change may make, queued in its transaction."""

    def __init__(self, pipe: Any) -> None:
        self._pipe = pipe

    def set_role_permissions(self, org: str, role: str, permissions_json: str) -> None:
        self._pipe.hset(org_roles(org), role, permissions_json)

    def set_user_fields(self, name: str, fields: Mapping[str, str]) -> None:
        self._pipe.hset(user_key(name), mapping=as_fields(fields))

    def drop_user_fields(self, name: str, *fields: str) -> None:
        self._pipe.hdel(user_key(name), *fields)

    def remove_user(self, org: str, name: str) -> None:
        """The user's record, known addresses and failure count, and its memberships."""
        self._pipe.delete(user_key(name), login_addresses_key(name), login_failures_key(name))
        self._pipe.srem(org_users(org), name)
        self._pipe.srem(DEMO_USERS, name)


# Told the organisation's users (name -> record, as WATCHed) and its changed roles (None
# when not asked for); raises to refuse the change
AccountCheck = Callable[[dict[str, dict[str, str]], dict[str, str] | None], None]


class AccountRecords(StoreBase):
    """HR accounts' records."""

    # --- users and role tables -----------------------------------------------------------

    async def claim_user_name(self, name: str) -> bool:
        """Take ``name`` for a new user; False when a record of that name exists."""
        return bool(await self.redis.hsetnx(user_key(name), "name", name))

    async def fill_user(self, name: str, org: str, fields: Mapping[str, str], demo: bool) -> None:
        """Write a new user's record (after ``claim_user_name``) and list it."""
        await self.redis.hset(user_key(name), mapping=as_fields(fields))
        await self.redis.sadd(org_users(org), name)
        if demo:
            await self.redis.sadd(DEMO_USERS, name)

    async def user_record(self, name: str) -> dict[str, str]:
        return text_hash(await self.redis.hgetall(user_key(name)))

    async def user_names(self, org: str) -> set[str]:
        return text_set(await self.redis.smembers(org_users(org)))

    async def demo_user_names(self) -> set[str]:
        return text_set(await self.redis.smembers(DEMO_USERS))

    async def changed_roles(self, org: str) -> dict[str, str]:
        """The organisation's roles changed from the defaults: role -> JSON permissions."""
        return text_hash(await self.redis.hgetall(org_roles(org)))

    async def reset_role_table(self, org: str) -> None:
        await self.redis.delete(org_roles(org))

    async def set_user_fields(self, name: str, fields: Mapping[str, str]) -> None:
        await self.redis.hset(user_key(name), mapping=as_fields(fields))

    async def drop_user_fields(self, name: str, *fields: str) -> None:
        await self.redis.hdel(user_key(name), *fields)

    async def forget_demo_user(self, name: str) -> None:
        """``name``'s password is no longer the published one."""
        await self.redis.srem(DEMO_USERS, name)

    async def guarded_account_change(
        self,
        org: str,
        check: AccountCheck,
        change: Callable[[AccountWrites], object],
        *,
        target: str = "",
        with_roles: bool = True,
    ) -> bool:
        """Make ``change`` in one transaction if ``check`` lets it, with every user of
        ``org`` (and ``target``) and the role table WATCHed: two changes at once that are
        each fine alone but together break what ``check`` guards cannot both win.
        ``with_roles``: ``check`` is given the changed roles. False: the users or roles
        changed under it again and again (GUARD_RETRIES times)."""
        for _ in range(GUARD_RETRIES):
            async with self.redis.pipeline(transaction=True) as pipe:
                try:
                    names = set(await self.user_names(org))
                    watched = sorted(names | ({target} if target else set()))
                    watching = (user_key(n) for n in watched)
                    await pipe.watch(org_users(org), org_roles(org), *watching)
                    users = {n: text_hash(await pipe.hgetall(user_key(n))) for n in watched}
                    roles = text_hash(await pipe.hgetall(org_roles(org))) if with_roles else None
                    check(users, roles)
                    pipe.multi()
                    change(AccountWrites(pipe))
                    await pipe.execute()
                    return True
                except redis.exceptions.WatchError:
                    continue
        return False

    # --- sessions ------------------------------------------------------------------------------

    async def open_hr_session(
        self, sha: str, name: str, org: str, stamp: str, now: int, ttl_s: int
    ) -> None:
        """A new session (by its token's hash), listed with the user's, and the login time."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                hr_session_key(sha),
                mapping={"user": name, "org": org, "stamp": stamp, "created_ms": now},
            )
            pipe.expire(hr_session_key(sha), ttl_s)
            pipe.sadd(user_sessions_key(name), sha)
            pipe.expire(user_sessions_key(name), ttl_s)  # as long as the newest
            pipe.hset(user_key(name), "last_login_ms", str(now))
            await pipe.execute()

    async def hr_session(self, sha: str) -> dict[str, str]:
        return text_hash(await self.redis.hgetall(hr_session_key(sha)))

    async def end_hr_session(self, sha: str) -> dict[str, str]:
        """End one session; returns what it was ({}: none)."""
        session = await self.hr_session(sha)
        await self.redis.delete(hr_session_key(sha))
        if session:
            await self.redis.srem(user_sessions_key(session["user"]), sha)
        return session

    async def session_hashes(self, name: str) -> set[str]:
        return text_set(await self.redis.smembers(user_sessions_key(name)))

    async def end_hr_sessions(self, name: str, shas: set[str], keep: str, stamp: str) -> None:
        """End ``shas`` but ``keep``, which takes the user's new ``stamp``."""
        async with self.redis.pipeline(transaction=True) as pipe:
            for sha in shas:
                if sha != keep:
                    pipe.delete(hr_session_key(sha))
                    pipe.srem(user_sessions_key(name), sha)
            if keep in shas:
                pipe.hset(hr_session_key(keep), "stamp", stamp)
            await pipe.execute()

    async def forget_session_list(self, name: str) -> None:
        await self.redis.delete(user_sessions_key(name))

    # --- the login lock-out ----------------------------------------------------------------------

    async def login_failures(self, name: str, ip: str | None = None) -> int:
        """Failed password checks of ``name`` from ``ip`` (None: from every address)."""
        return int(await self.redis.get(login_failures_key(name, ip)) or 0)

    async def count_login_try(self, name: str, ip: str, lockout_s: int) -> int:
        """Count a password check of ``name`` from ``ip`` (before it is made, so parallel
        guesses count); the count so far."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(login_failures_key(name, ip))
            pipe.expire(login_failures_key(name, ip), lockout_s)
            failures, _ = await pipe.execute()
        return int(failures)

    async def count_login_failure(self, name: str, lockout_s: int) -> None:
        """Count a failed check of ``name`` from any address."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(login_failures_key(name))
            pipe.expire(login_failures_key(name), lockout_s)
            await pipe.execute()

    async def forgive_login_tries(self, name: str, ip: str) -> None:
        await self.redis.delete(login_failures_key(name, ip))

    async def hold_login_brake(self, name: str, ip: str, hold_ms: int) -> bool:
        """Take the brake's one check for ``hold_ms``; False: another address holds it."""
        return bool(await self.redis.set(login_brake_key(name), ip, nx=True, px=hold_ms))

    async def login_address_seen(self, name: str, ip: str) -> float | None:
        """When ``name`` last logged in from ``ip`` (ms), or None."""
        return await self.redis.zscore(login_addresses_key(name), ip)

    async def remember_login_address(
        self, name: str, ip: str, now: int, keep: int, ttl_s: int
    ) -> None:
        """A login from ``ip``: its tries forgiven, it is one of the newest ``keep``
        addresses the user logged in from."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(login_failures_key(name, ip))
            pipe.zadd(login_addresses_key(name), {ip: now})
            pipe.zremrangebyrank(login_addresses_key(name), 0, -keep - 1)
            pipe.expire(login_addresses_key(name), ttl_s)
            await pipe.execute()
