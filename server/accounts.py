"""HR accounts: users with argon2 passwords, per-organisation role tables, sessions, the
account life cycle (disable, enable, delete, password change and reset) and the login
lock-out.

The records live in Redis through the store (server/store/accounts.py; the keys are listed
in server/store/keys.py).

The lock-out (docs/hr.md): failures count per user *and* address, so a stranger who
guesses locks out only their own address; an address guessing many users is capped in
hr_api; and many failures for one user from everywhere (a distributed guess) put a brake
on the addresses that user has not logged in from lately: one password check per
interval between them, while the user's own addresses are never held back.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from protocol.permissions import DEFAULT_ROLES, Permission, Role, beyond, permissions_of
from protocol.reasons import Reason
from server.passwords import policy_refusal
from server.refusals import Refusal
from server.settings import Settings
from server.store import Store
from server.store.accounts import AccountWrites

USER_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")  # safe in keys, logs and JSON
_hasher = PasswordHasher()
# argon2 is slow on purpose: off the event loop, and only a few at a time
_hashing = asyncio.Semaphore(4)
KNOWN_ADDRESSES = 20  # per user: the newest addresses it logged in from
# who holds both can manage everything else (and give both again): an organisation keeps one
MANAGING = frozenset({Permission.ROLE_MANAGE, Permission.USER_MANAGE})


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
@functools.cache
def _dummy_hash() -> str:
    """Made on the first login, not at import: every process (each CLI call) would pay it."""
    return _hasher.hash("not-a-password")


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


def _is_active(user: dict[str, str]) -> bool:
    return "roles" in user and "org" in user and not user.get("disabled_ms")


def _active_admins(users: dict[str, dict[str, str]]) -> int:
    return sum(1 for u in users.values() if _is_active(u) and Role.ADMIN in json.loads(u["roles"]))


def _active_managers(users: dict[str, dict[str, str]], table: dict[str, list[str]]) -> int:
    """Active users holding both role.manage and user.manage under ``table``."""
    return sum(
        1
        for u in users.values()
        if _is_active(u) and permissions_of(json.loads(u["roles"]), table) >= MANAGING
    )


def _table_of(custom: dict[str, str]) -> dict[str, list[str]]:
    """The role table from the organisation's changed roles over the defaults."""
    table = {str(r): sorted(p.value for p in perms) for r, perms in DEFAULT_ROLES.items()}
    table.update({r: json.loads(v) for r, v in custom.items()})
    return table


# What a guarded change does, told in memory: to the users (name -> record) and the table
Projection = Callable[[dict[str, dict[str, str]], dict[str, list[str]]], None]


class Accounts:
    def __init__(self, store: Store, session_ttl_s: int, settings: Settings | None = None) -> None:
        self.store = store
        self.session_ttl_s = session_ttl_s
        self.settings = settings or Settings()

    # --- users --------------------------------------------------------------------------

    async def check_password(self, password: str, name: str, org: str = "") -> None:
        """Raise the policy's refusal (server/passwords.py) unless ``password`` may be set."""
        refused = await asyncio.to_thread(
            policy_refusal, password, name, self.settings.password_min_length, org
        )
        if refused:
            raise Refusal(refused)

    async def add_user(
        self,
        name: str,
        password: str,
        org: str,
        roles: list[str],
        now: int,
        *,
        demo: bool = False,
        check_policy: bool = True,
    ) -> None:
        """A new user. ``demo``: a demo account, whose password is published (a later
        ``serve`` without ``--demo`` disables it). ``check_policy=False`` skips the password
        policy: for demo accounts and test fixtures only; the API and the command line
        always apply it."""
        unknown = [r for r in roles if r not in Role._value2member_map_]
        if unknown or not roles:
            raise Refusal(Reason.UNKNOWN_ROLE)
        if not USER_NAME.fullmatch(name) or not USER_NAME.fullmatch(org) or not password:
            raise Refusal(Reason.BAD_FIELD)
        if check_policy:
            await self.check_password(password, name, org)
        if await self.user(name):
            raise Refusal(Reason.USER_EXISTS)
        if not await self.store.claim_user_name(name):
            raise Refusal(Reason.USER_EXISTS)
        fields = {
            "org": org,
            "pw": await _hash(password),
            "roles": json.dumps(roles),
            "created_ms": str(now),
            "stamp": secrets.token_hex(8),
        }
        if demo:
            fields["demo"] = "1"
        await self.store.fill_user(name, org, fields, demo)

    async def user(self, name: str) -> dict[str, str]:
        """The user's record; {} for none (also for what a half-done delete left behind)."""
        if not USER_NAME.fullmatch(name):
            return {}
        u = await self.store.user_record(name)
        return u if "org" in u and "pw" in u else {}

    async def users(self, org: str) -> list[dict[str, Any]]:
        out = []
        for name in sorted(await self.store.user_names(org)):
            u = await self.user(name)
            if u:
                out.append(
                    {
                        "name": name,
                        "roles": json.loads(u["roles"]),
                        "disabled": bool(u.get("disabled_ms")),
                        "disabled_ms": int(u.get("disabled_ms") or 0),
                        "disabled_by": u.get("disabled_by", ""),
                        "demo": u.get("demo") == "1",
                        "created_ms": int(u.get("created_ms") or 0),
                        "last_login_ms": int(u.get("last_login_ms") or 0),
                    }
                )
        return out

    async def demo_users(self) -> list[str]:
        return sorted(await self.store.demo_user_names())

    async def role_table(self, org: str) -> dict[str, list[str]]:
        return _table_of(await self.store.changed_roles(org))

    async def set_role_permissions(self, org: str, role: str, permissions: list[str]) -> None:
        """Set a role's permissions, unless that leaves nobody active to manage roles and
        users (``no_manager_left``)."""
        if role not in Role._value2member_map_:
            raise Refusal(Reason.UNKNOWN_ROLE)
        if any(p not in Permission._value2member_map_ for p in permissions):
            raise Refusal(Reason.BAD_FIELD)
        chosen = sorted(set(permissions))

        def project(users: dict[str, dict[str, str]], table: dict[str, list[str]]) -> None:
            table[role] = chosen

        await self._guarded_change(
            org, lambda writes: writes.set_role_permissions(org, role, json.dumps(chosen)), project
        )

    async def reset_roles(self, org: str) -> None:
        """Every role of ``org`` back to the defaults (the operator's way back in)."""
        await self.store.reset_role_table(org)

    async def managers(self, org: str) -> int:
        """How many active users of ``org`` hold both role.manage and user.manage."""
        names = await self.store.user_names(org)
        users = {n: await self.user(n) for n in names}
        return _active_managers(users, await self.role_table(org))

    async def set_user_roles(self, org: str, name: str, roles: list[str]) -> None:
        """Change a user's roles, keeping an active admin and an active user who manages
        roles and users."""
        u = await self.user(name)
        if not u or u.get("org") != org:
            raise Refusal(Reason.UNKNOWN_USER)
        if not roles or any(r not in Role._value2member_map_ for r in roles):
            raise Refusal(Reason.UNKNOWN_ROLE)

        def project(users: dict[str, dict[str, str]], table: dict[str, list[str]]) -> None:
            users[name] = {**users[name], "roles": json.dumps(roles)}

        await self._guarded_change(
            org,
            lambda writes: writes.set_user_fields(name, {"roles": json.dumps(roles)}),
            project,
            target=name,
        )

    # --- managing another user's account ------------------------------------------------

    async def manageable(self, actor: Principal, name: str) -> dict[str, str]:
        """The account ``actor`` may manage: in their organisation, not their own, and
        holding no permission they do not hold themselves."""
        u = await self.user(name)
        if not u or u.get("org") != actor.org:
            raise Refusal(Reason.UNKNOWN_USER)
        if name == actor.user:
            raise Refusal(Reason.OWN_ACCOUNT)
        table = await self.role_table(actor.org)
        stronger = beyond(actor.permissions, permissions_of(json.loads(u["roles"]), table))
        if stronger:
            raise Refusal(stronger)
        return u

    async def may_give_roles(self, actor: Principal, roles: list[str]) -> None:
        """Refuse roles that would give a new user more than ``actor`` holds."""
        table = await self.role_table(actor.org)
        stronger = beyond(actor.permissions, permissions_of(roles, table))
        if stronger:
            raise Refusal(stronger)

    async def set_disabled(
        self, org: str, name: str, disabled: bool, by: str, now: int, *, keep_an_admin: bool = True
    ) -> None:
        """Disable (every session ends at once) or enable a user. ``keep_an_admin``: refuse
        to disable the organisation's last active admin, or its last active user who
        manages roles and users (the command line may: it is the way back in)."""

        def change(writes: AccountWrites) -> None:
            if disabled:
                writes.set_user_fields(name, {"disabled_ms": str(now), "disabled_by": by})
            else:
                writes.drop_user_fields(name, "disabled_ms", "disabled_by")

        def project(users: dict[str, dict[str, str]], table: dict[str, list[str]]) -> None:
            if disabled:
                users[name] = {**users[name], "disabled_ms": str(now)}
            else:
                users[name] = {k: v for k, v in users[name].items() if k != "disabled_ms"}

        await self._guarded_change(org, change, project, target=name, guard=keep_an_admin)
        if disabled:
            await self.revoke_sessions(name)

    async def delete_user(self, org: str, name: str) -> None:
        """Delete a user: sessions first, then the record; the logs keep their name."""

        def change(writes: AccountWrites) -> None:
            writes.remove_user(org, name)

        def project(users: dict[str, dict[str, str]], table: dict[str, list[str]]) -> None:
            users.pop(name, None)

        await self._guarded_change(org, change, project, target=name)
        await self.revoke_sessions(name)
        await self.store.forget_session_list(name)

    async def disable_demo_users(self, by: str, now: int) -> list[str]:
        """Disable every demo account still enabled (a start without ``--demo``: their
        passwords are published); returns their names."""
        disabled = []
        for name in await self.demo_users():
            u = await self.user(name)
            if u and u.get("demo") == "1" and not u.get("disabled_ms"):
                await self.set_disabled(u["org"], name, True, by, now, keep_an_admin=False)
                disabled.append(name)
        return disabled

    async def restore_demo_user(self, name: str, password: str) -> bool:
        """Enable a demo account again with its published password (``serve --demo``).
        False when ``name`` is not a demo account: a real user of that name is left alone."""
        u = await self.user(name)
        if not u or u.get("demo") != "1":
            return False
        await self.store.set_user_fields(name, {"pw": await _hash(password)})
        await self.store.drop_user_fields(name, "disabled_ms", "disabled_by")
        return True

    async def reset_password(self, name: str, password: str, org: str) -> None:
        """Set a new password (an admin's reset, or the command line's): every session ends."""
        await self.check_password(password, name, org)
        await self._set_password(name, password)
        await self.revoke_sessions(name)

    async def change_password(
        self, p: Principal, current: str, new: str, ip: str, now: int
    ) -> None:
        """The user's own change: the current password is needed (and counted like a login);
        every other session of theirs ends, this one goes on."""
        await self._may_guess(p.user, ip, now)
        u = await self.user(p.user)
        if not u or not await _verify(u["pw"], current):
            await self._count_failure(p.user)
            raise Refusal(Reason.WRONG_PASSWORD)
        await self.store.forgive_login_tries(p.user, ip)
        await self.check_password(new, p.user, p.org)
        await self._set_password(p.user, new)
        await self.revoke_sessions(p.user, keep=p.session)

    async def _set_password(self, name: str, password: str) -> None:
        hashed = await _hash(password)
        if not await self.user(name):
            raise Refusal(Reason.UNKNOWN_USER)
        await self.store.set_user_fields(name, {"pw": hashed, "demo": ""})
        await self.store.forget_demo_user(name)  # its password is no longer the published one

    async def _guarded_change(
        self,
        org: str,
        change: Callable[[AccountWrites], object],
        project: Projection,
        *,
        target: str = "",
        guard: bool = True,
    ) -> None:
        """Apply ``change`` in one transaction, unless what ``project`` says it does (to the
        users and the role table, in memory) takes the organisation's last active admin
        away (``last_admin``), or its last active user holding both role.manage and
        user.manage (``no_manager_left``: nobody could give them back). An organisation
        that already has none may still change: every step towards a fix must be possible.
        Every user, and the role table, is WATCHed (``Store.guarded_account_change``): two
        changes at once that are each fine alone but together leave nobody cannot both
        win. ``target``: the user changed, who must be in ``org``; ``guard=False``: no
        check (the command line)."""

        def check(users: dict[str, dict[str, str]], roles: dict[str, str] | None) -> None:
            if target and users[target].get("org") != org:
                raise Refusal(Reason.UNKNOWN_USER)
            if roles is None:
                return
            table = _table_of(roles)
            after, after_table = dict(users), {r: list(p) for r, p in table.items()}
            project(after, after_table)
            if _active_admins(users) and not _active_admins(after):
                raise Refusal(Reason.LAST_ADMIN)
            if _active_managers(users, table) and not _active_managers(after, after_table):
                raise Refusal(Reason.NO_MANAGER_LEFT)

        if not await self.store.guarded_account_change(
            org, check, change, target=target, with_roles=guard
        ):
            raise Refusal(Reason.RATE_LIMITED)  # changed under us again and again

    # --- sessions -----------------------------------------------------------------------

    async def login(
        self, name: str, password: str, now: int, ip: str = ""
    ) -> tuple[str, Principal]:
        if not USER_NAME.fullmatch(name):
            raise Refusal(Reason.LOGIN_FAILED)
        await self._may_guess(name, ip, now)
        u = await self.user(name)
        if not await _verify(u.get("pw") or _dummy_hash(), password) or not u:
            await self._count_failure(name)
            raise Refusal(Reason.LOGIN_FAILED)
        await self._remember_address(name, ip, now)
        if u.get("disabled_ms"):
            raise Refusal(Reason.ACCOUNT_DISABLED)  # told only to whoever knows the password
        token = secrets.token_urlsafe(32)
        sha = session_hash(token)
        await self.store.open_hr_session(
            sha, name, u["org"], u.get("stamp", ""), now, self.session_ttl_s
        )
        principal = await self.principal_for(sha)
        if principal is None:  # disabled, deleted or signed out everywhere meanwhile
            raise Refusal(Reason.LOGIN_FAILED)
        return token, principal

    async def _may_guess(self, name: str, ip: str, now: int) -> None:
        """Raise too_many_attempts unless ``name``'s password may be checked for ``ip``."""
        s = self.settings
        if s.max_login_failures_per_user_ip and (
            await self.store.login_failures(name, ip) >= s.max_login_failures_per_user_ip
        ):
            # locked out for this user already: refused before the brake, so a locked-out
            # address cannot keep taking the one check the brake lets through
            raise Refusal(Reason.TOO_MANY_ATTEMPTS)
        if s.login_brake_after:
            total = await self.store.login_failures(name)
            if total >= s.login_brake_after and not await self._known_address(name, ip, now):
                # a distributed guess: one check per interval from addresses the user has
                # not logged in from, which never touches the user's own addresses
                hold_ms = max(1, int(s.login_brake_interval_s * 1000))
                if not await self.store.hold_login_brake(name, ip, hold_ms):
                    raise Refusal(Reason.TOO_MANY_ATTEMPTS)
        if s.max_login_failures_per_user_ip:
            # counted before the check (atomic, so parallel guesses count), forgiven on success
            failures = await self.store.count_login_try(name, ip, s.login_lockout_s)
            if failures > s.max_login_failures_per_user_ip:
                raise Refusal(Reason.TOO_MANY_ATTEMPTS)

    async def _count_failure(self, name: str) -> None:
        await self.store.count_login_failure(name, self.settings.login_lockout_s)

    async def _known_address(self, name: str, ip: str, now: int) -> bool:
        last = await self.store.login_address_seen(name, ip)
        window_ms = self.settings.login_known_address_days * 86_400_000
        return last is not None and last >= now - window_ms

    async def _remember_address(self, name: str, ip: str, now: int) -> None:
        await self.store.remember_login_address(
            name, ip, now, KNOWN_ADDRESSES, self.settings.login_known_address_days * 86_400
        )

    async def principal(self, token: str) -> Principal | None:
        """The user behind a session token, with their current permissions (None: logged out)."""
        return await self.principal_for(session_hash(token)) if token else None

    async def principal_for(self, sha: str) -> Principal | None:
        """None for a session that is gone, or whose user is gone, disabled or has had every
        session ended since it was made (the stamp changed)."""
        session = await self.store.hr_session(sha)
        if not session:
            return None
        u = await self.user(session["user"])
        if not u or u.get("disabled_ms") or session.get("stamp", "") != u.get("stamp", ""):
            return None
        roles = tuple(json.loads(u["roles"]))
        table = await self.role_table(u["org"])
        return Principal(session["user"], u["org"], roles, permissions_of(roles, table), sha)

    async def logout(self, sha: str) -> str | None:
        """End one session; returns its user."""
        session = await self.store.end_hr_session(sha)
        return str(session["user"]) if session else None

    async def revoke_sessions(self, name: str, keep: str = "") -> None:
        """End every session of ``name`` but ``keep``. The user's stamp changes first, so a
        session that a login is making at this moment is void as well."""
        stamp = secrets.token_hex(8)
        if await self.user(name):
            await self.store.set_user_fields(name, {"stamp": stamp})
        await self.store.end_hr_sessions(name, await self.sessions_of(name), keep, stamp)

    async def sessions_of(self, name: str) -> set[str]:
        return await self.store.session_hashes(name)
