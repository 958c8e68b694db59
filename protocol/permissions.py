"""HR roles and permissions: the default table and the one check every HR action goes through.

Pure data and functions. An organisation may change a role's permissions (role management);
these are the defaults a new organisation starts with.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum


class Permission(StrEnum):
    INTERVIEW_CREATE = "interview.create"
    INTERVIEW_VIEW = "interview.view"
    INTERVIEW_END = "interview.end"
    INTERVIEW_RESET = "interview.reset"
    REENTRY_GRANT = "interview.reentry.grant"
    REPORT_GENERATE = "report.generate"
    LOG_VIEW = "log.view"
    ROLE_MANAGE = "role.manage"  # a role's permissions, a user's roles
    USER_MANAGE = "user.manage"  # add, disable, enable, delete users; reset their passwords
    DATA_ERASE = "data.erase"  # erase an interview on request; set the retention


class Role(StrEnum):
    ADMIN = "admin"
    RECRUITING_MANAGER = "recruiting_manager"
    INTERVIEW_LEAD = "interview_lead"
    RECRUITER = "recruiter"


P = Permission
DEFAULT_ROLES: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.RECRUITING_MANAGER: frozenset(Permission) - {P.ROLE_MANAGE, P.USER_MANAGE, P.DATA_ERASE},
    Role.INTERVIEW_LEAD: frozenset(
        {
            P.INTERVIEW_CREATE,
            P.INTERVIEW_VIEW,
            P.INTERVIEW_END,
            P.REENTRY_GRANT,
            P.REPORT_GENERATE,
            P.LOG_VIEW,
        }
    ),
    Role.RECRUITER: frozenset({P.INTERVIEW_VIEW}),  # view only
}

# Who can grant a missing permission: named in the refusal so a person knows whom to ask.
GRANTED_BY = Role.ADMIN


def permissions_of(
    roles: Iterable[str], table: Mapping[str, Iterable[str]] | None = None
) -> frozenset[Permission]:
    """Every permission that any of ``roles`` holds, in ``table`` (default: DEFAULT_ROLES)."""
    source: Mapping[str, Iterable[str]] = (
        table if table is not None else {str(k): v for k, v in DEFAULT_ROLES.items()}
    )
    held: set[Permission] = set()
    for role in roles:
        for name in source.get(role, ()):
            if name in Permission._value2member_map_:
                held.add(Permission(name))
    return frozenset(held)


def beyond(held: Iterable[str], wanted: Iterable[str]) -> str | None:
    """``permission_denied:<permission>`` for the first permission of ``wanted`` not in
    ``held``, else None: nobody manages an account, or gives a role, stronger than their own."""
    missing = sorted(set(wanted) - set(held))
    return f"permission_denied:{missing[0]}" if missing else None


def refusal(held: Iterable[str], needed: Permission) -> str | None:
    """``permission_denied:<permission>`` when ``needed`` is not held, else None."""
    return None if needed in set(held) else f"permission_denied:{needed.value}"
