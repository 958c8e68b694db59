"""HR roles and permissions: the default table, permissions_of and refusal."""

from __future__ import annotations

import pytest

from protocol.permissions import (
    DEFAULT_ROLES,
    GRANTED_BY,
    Permission,
    Role,
    beyond,
    permissions_of,
    refusal,
)
from protocol.reasons import messages

P = Permission
EVERYTHING = frozenset(Permission)


def test_permission_names_are_stable() -> None:
    """Permission names are published strings: stored role tables and refusals carry them."""
    assert {p.value for p in Permission} == {
        "interview.create",
        "interview.view",
        "interview.end",
        "interview.reset",
        "interview.reentry.grant",
        "report.generate",
        "log.view",
        "role.manage",
        "user.manage",
        "data.erase",
    }


def test_role_names_are_stable() -> None:
    """The default role names are the published ones."""
    assert {r.value for r in Role} == {
        "admin",
        "recruiting_manager",
        "interview_lead",
        "recruiter",
    }


def test_every_role_has_a_default() -> None:
    """DEFAULT_ROLES lists every role, each with a frozenset of Permission members."""
    assert set(DEFAULT_ROLES) == set(Role)
    for perms in DEFAULT_ROLES.values():
        assert isinstance(perms, frozenset)
        assert all(type(p) is Permission for p in perms)


def test_admin_holds_everything() -> None:
    """The admin role holds every permission."""
    assert DEFAULT_ROLES[Role.ADMIN] == EVERYTHING


def test_recruiting_manager_holds_all_but_role_management() -> None:
    """The recruiting manager holds every permission except role.manage, user.manage and data.erase."""
    assert DEFAULT_ROLES[Role.RECRUITING_MANAGER] == EVERYTHING - {
        P.ROLE_MANAGE,
        P.USER_MANAGE,
        P.DATA_ERASE,
    }


def test_interview_lead_defaults() -> None:
    """The interview lead runs interviews but may neither reset nor erase them, nor manage roles."""
    assert DEFAULT_ROLES[Role.INTERVIEW_LEAD] == EVERYTHING - {
        P.INTERVIEW_RESET,
        P.ROLE_MANAGE,
        P.USER_MANAGE,
        P.DATA_ERASE,
    }


def test_recruiter_is_view_only() -> None:
    """The recruiter may only view interviews."""
    assert DEFAULT_ROLES[Role.RECRUITER] == {P.INTERVIEW_VIEW}


def test_only_admin_manager_and_lead_may_end() -> None:
    """By default exactly admin, recruiting_manager and interview_lead hold interview.end."""
    enders = {role for role, perms in DEFAULT_ROLES.items() if P.INTERVIEW_END in perms}
    assert enders == {Role.ADMIN, Role.RECRUITING_MANAGER, Role.INTERVIEW_LEAD}


def test_only_admin_manages_roles() -> None:
    """Role management is the admin's alone, and the admin is who a refusal points to."""
    managers = {role for role, perms in DEFAULT_ROLES.items() if P.ROLE_MANAGE in perms}
    assert managers == {Role.ADMIN}
    assert GRANTED_BY is Role.ADMIN


def test_only_admin_manages_users() -> None:
    """Managing accounts (disable, delete, reset a password) is the admin's alone by default."""
    managers = {role for role, perms in DEFAULT_ROLES.items() if P.USER_MANAGE in perms}
    assert managers == {Role.ADMIN}


def test_beyond_names_the_first_permission_not_held() -> None:
    """beyond(): nobody acts on an account (or gives a role) holding more than they hold."""
    manager = permissions_of(["recruiting_manager"])
    assert beyond(manager, permissions_of(["recruiter"])) is None
    assert beyond(manager, manager) is None
    assert beyond(manager, permissions_of(["admin"])) == "permission_denied:data.erase"
    assert beyond([], ["log.view", "interview.view"]) == "permission_denied:interview.view"


@pytest.mark.parametrize("role", list(Role))
def test_permissions_of_one_role_is_its_default(role: Role) -> None:
    """permissions_of a single role (as a plain string) is that role's default set."""
    assert permissions_of([role.value]) == DEFAULT_ROLES[role]


def test_permissions_of_unions_roles() -> None:
    """Several roles hold the union of their permissions."""
    custom = {"a": ["interview.view"], "b": ["log.view", "interview.view"]}
    assert permissions_of(["a", "b"], custom) == {P.INTERVIEW_VIEW, P.LOG_VIEW}
    assert permissions_of(["recruiter", "interview_lead"]) == DEFAULT_ROLES[Role.INTERVIEW_LEAD]


def test_permissions_of_no_roles_is_nothing() -> None:
    """No roles hold no permission."""
    assert permissions_of([]) == frozenset()


def test_permissions_of_ignores_unknown_roles() -> None:
    """A role missing from the table adds nothing and raises nothing."""
    assert permissions_of(["ghost"]) == frozenset()
    assert permissions_of(["ghost", "recruiter"]) == {P.INTERVIEW_VIEW}


def test_permissions_of_uses_a_custom_table() -> None:
    """A custom table replaces the defaults entirely, even an empty one."""
    custom = {"admin": ["log.view"]}
    assert permissions_of(["admin"], custom) == {P.LOG_VIEW}
    assert permissions_of(["admin"], {}) == frozenset()


def test_permissions_of_ignores_unknown_permission_names() -> None:
    """Names in a custom table that are no Permission are dropped; the result is Permissions."""
    custom = {"r": ["interview.end", "interview.delete", "", "INTERVIEW.END"]}
    held = permissions_of(["r"], custom)
    assert held == {P.INTERVIEW_END}
    assert all(type(p) is Permission for p in held)
    assert isinstance(held, frozenset)


def test_refusal_none_when_held() -> None:
    """A held permission (as a member or a plain string) is no refusal."""
    assert refusal({P.INTERVIEW_END}, P.INTERVIEW_END) is None
    assert refusal(["interview.end"], P.INTERVIEW_END) is None
    assert refusal(permissions_of(["admin"]), P.ROLE_MANAGE) is None


def test_refusal_names_the_missing_permission() -> None:
    """A missing permission is refused as permission_denied:<permission>."""
    assert refusal(permissions_of(["recruiter"]), P.INTERVIEW_END) == (
        "permission_denied:interview.end"
    )
    assert refusal([], P.REENTRY_GRANT) == "permission_denied:interview.reentry.grant"
    assert refusal(permissions_of(["recruiting_manager"]), P.ROLE_MANAGE) == (
        "permission_denied:role.manage"
    )


def test_refusal_accepts_a_one_shot_iterable() -> None:
    """held may be a generator: it is read once."""
    assert refusal((p for p in ["log.view"]), P.LOG_VIEW) is None


@pytest.mark.parametrize("perm", list(Permission))
def test_every_refusal_has_messages(perm: Permission) -> None:
    """Every permission's refusal is a reason code with en and zh-CN messages naming it."""
    code = refusal([], perm)
    assert code == f"permission_denied:{perm.value}"
    msgs = messages(code)
    assert perm.value in msgs["en"] and perm.value in msgs["zh-CN"]
