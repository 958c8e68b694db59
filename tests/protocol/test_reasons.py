"""Reason codes and their human messages in en and zh-CN."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from protocol.reasons import HTTP_STATUS, LANGUAGES, Reason, http_status, message, messages

CJK = re.compile(r"[\u4e00-\u9fff]")

PUBLISHED = {
    "link_invalid",
    "link_expired",
    "link_expired_while_away",
    "identity_mismatch",
    "too_many_attempts",
    "address_locked_out",
    "interview_ended",
    "already_completed",
    "reentry_not_permitted",
    "reentry_window_over",
    "not_joined",
    "already_joined",
    "not_in_progress",
    "not_current_question",
    "time_up",
    "seq_gap",
    "answer_incomplete",
    "no_exit_requested",
    "reset_not_allowed",
    "taken_over",
    "malformed",
    "unknown_type",
    "bad_field",
    "too_large",
    "rate_limited",
    "too_many_connections",
    "idle_timeout",
    "erase_not_allowed",
    "interview_erased",
    "no_recording",
    "human_review_kept",
    "no_transcript",
    "chunk_too_large",
    "answer_too_long",
    "subprotocol_required",
    "origin_not_allowed",
    "internal_error",
    "service_unavailable",
    "connection_interrupted",
    "permission_denied",
    "login_failed",
    "not_logged_in",
    "not_found",
    "confirm_required",
    "not_endable",
    "too_slow",
    "unknown_role",
    "user_exists",
    "unknown_user",
    "account_disabled",
    "wrong_password",
    "password_too_short",
    "password_too_common",
    "password_is_user_name",
    "own_account",
    "last_admin",
    "no_manager_left",
}


def test_published_codes_are_stable() -> None:
    """The set of reason codes is exactly the published one: clients switch on these strings."""
    assert {r.value for r in Reason} == PUBLISHED


def test_languages() -> None:
    """Messages exist in English and Simplified Chinese."""
    assert LANGUAGES == ("en", "zh-CN")


@pytest.mark.parametrize("reason", list(Reason))
def test_every_reason_has_en_and_zh_messages(reason: Reason) -> None:
    """Every reason has a non-empty English and a Chinese message, and they differ."""
    msgs = messages(reason)
    assert set(msgs) == set(LANGUAGES)
    en, zh = msgs["en"], msgs["zh-CN"]
    assert en.strip() and zh.strip()
    assert not CJK.search(en)
    assert CJK.search(zh)
    assert en != zh


def test_messages_are_distinct_per_reason() -> None:
    """No two reasons share a message, so a person can tell them apart."""
    en = [messages(r)["en"] for r in Reason]
    zh = [messages(r)["zh-CN"] for r in Reason]
    assert len(set(en)) == len(en)
    assert len(set(zh)) == len(zh)


def test_permission_denied_names_the_permission() -> None:
    """permission_denied:interview.end carries the permission in both languages."""
    base = messages(Reason.PERMISSION_DENIED)
    msgs = messages("permission_denied:interview.end")
    assert msgs["en"] == f"{base['en']} (interview.end)."
    assert msgs["zh-CN"] == f"{base['zh-CN']}（interview.end）。"
    assert "role management" in msgs["en"] and "角色管理" in msgs["zh-CN"]  # who can grant it


def test_message_picks_language() -> None:
    """message(reason, lang) returns that language's text; English by default."""
    assert message(Reason.LINK_EXPIRED) == messages(Reason.LINK_EXPIRED)["en"]
    assert message(Reason.LINK_EXPIRED, "en") == messages(Reason.LINK_EXPIRED)["en"]
    assert message(Reason.LINK_EXPIRED, "zh-CN") == messages(Reason.LINK_EXPIRED)["zh-CN"]
    assert message("permission_denied:interview.end", "zh-CN").endswith("（interview.end）。")


@pytest.mark.parametrize("lang", ["fr", "", "zh", "zh-TW", "EN"])
def test_unknown_language_falls_back_to_english(lang: str) -> None:
    """A language without messages gets the English one."""
    assert message(Reason.INTERVIEW_ENDED, lang) == messages(Reason.INTERVIEW_ENDED)["en"]


def test_plain_string_codes_work() -> None:
    """A code received as a plain string (e.g. from Refused.reason) looks up the same messages."""
    assert messages("seq_gap") == messages(Reason.SEQ_GAP)


def test_unknown_code_raises() -> None:
    """An unknown reason code is a programming error: ValueError, not a made-up message."""
    with pytest.raises(ValueError):
        messages("no_such_reason")
    with pytest.raises(ValueError):
        message("no_such_reason:x", "zh-CN")


def test_reason_is_a_str() -> None:
    """Reason values compare equal to their wire strings."""
    assert Reason.TAKEN_OVER == "taken_over"
    assert str(Reason.TAKEN_OVER) == "taken_over"


def spec_statuses() -> dict[str, int]:
    """SPEC §12's table "The HTTP status of a refusal": reason -> status (409 rows aside)."""
    spec = (Path(__file__).parents[2] / "protocol" / "SPEC.md").read_text()
    table = spec.split("**The HTTP status of a refusal**", 1)[1].split("\n\n", 2)[1]
    out: dict[str, int] = {}
    for row in table.splitlines()[2:]:
        status, reasons = (cell.strip() for cell in row.strip("|").split("|"))
        if status != "409":
            out.update({code: int(status) for code in re.findall(r"`([a-z_]+)`", reasons)})
    return out


def test_every_http_status_is_the_one_spec_12_names() -> None:
    """One map gives every endpoint's refusal status; it is exactly SPEC §12's table, every other reason is 409, and a parameter does not change it."""
    assert spec_statuses() == dict(HTTP_STATUS)
    for reason in Reason:
        assert http_status(reason) == HTTP_STATUS.get(reason, 409)
    assert http_status("permission_denied:interview.end") == 403
    assert http_status("password_too_short:12") == 400
    assert http_status("not_in_progress") == 409
    assert http_status("no_such_reason") == 409
