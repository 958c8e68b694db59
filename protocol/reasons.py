"""Stable reason codes for every refusal, with the human messages in zh-CN and en.

A reason code never changes once published: clients switch on it. The messages are what a
person sees; ``message(reason, lang)`` picks one. ``permission_denied:<permission>`` is the
one parametrised code: the permission name follows the colon.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType


class Reason(StrEnum):
    # Joining and identity
    LINK_INVALID = "link_invalid"
    LINK_EXPIRED = "link_expired"
    LINK_EXPIRED_WHILE_AWAY = "link_expired_while_away"  # interrupted, not resumed in time
    IDENTITY_MISMATCH = "identity_mismatch"
    TOO_MANY_ATTEMPTS = "too_many_attempts"
    ADDRESS_LOCKED_OUT = "address_locked_out"
    INTERVIEW_ENDED = "interview_ended"
    ALREADY_COMPLETED = "already_completed"
    REENTRY_NOT_PERMITTED = "reentry_not_permitted"
    REENTRY_WINDOW_OVER = "reentry_window_over"
    # Messages in the wrong place or order
    NOT_JOINED = "not_joined"
    ALREADY_JOINED = "already_joined"
    NOT_IN_PROGRESS = "not_in_progress"
    NOT_CURRENT_QUESTION = "not_current_question"
    TIME_UP = "time_up"
    SEQ_GAP = "seq_gap"
    ANSWER_INCOMPLETE = "answer_incomplete"
    NO_EXIT_REQUESTED = "no_exit_requested"
    RESET_NOT_ALLOWED = "reset_not_allowed"
    TAKEN_OVER = "taken_over"
    # Malformed or hostile input
    MALFORMED = "malformed"
    UNKNOWN_TYPE = "unknown_type"
    BAD_FIELD = "bad_field"
    TOO_LARGE = "too_large"
    RATE_LIMITED = "rate_limited"
    TOO_MANY_CONNECTIONS = "too_many_connections"
    IDLE_TIMEOUT = "idle_timeout"
    ERASE_NOT_ALLOWED = "erase_not_allowed"
    INTERVIEW_ERASED = "interview_erased"
    NO_RECORDING = "no_recording"
    HUMAN_REVIEW_KEPT = "human_review_kept"
    NO_TRANSCRIPT = "no_transcript"
    CHUNK_TOO_LARGE = "chunk_too_large"
    ANSWER_TOO_LONG = "answer_too_long"
    SUBPROTOCOL_REQUIRED = "subprotocol_required"
    ORIGIN_NOT_ALLOWED = "origin_not_allowed"
    # Ours, or the hub's surroundings (never the candidate's doing: they reconnect)
    INTERNAL_ERROR = "internal_error"
    SERVICE_UNAVAILABLE = "service_unavailable"
    CONNECTION_INTERRUPTED = "connection_interrupted"
    # HR side
    PERMISSION_DENIED = "permission_denied"
    LOGIN_FAILED = "login_failed"
    NOT_LOGGED_IN = "not_logged_in"
    NOT_FOUND = "not_found"
    CONFIRM_REQUIRED = "confirm_required"
    NOT_ENDABLE = "not_endable"
    TOO_SLOW = "too_slow"
    UNKNOWN_ROLE = "unknown_role"
    USER_EXISTS = "user_exists"
    UNKNOWN_USER = "unknown_user"
    ACCOUNT_DISABLED = "account_disabled"
    WRONG_PASSWORD = "wrong_password"
    PASSWORD_TOO_SHORT = "password_too_short"  # parametrised: the minimum length
    PASSWORD_TOO_COMMON = "password_too_common"
    PASSWORD_IS_USER_NAME = "password_is_user_name"
    OWN_ACCOUNT = "own_account"
    LAST_ADMIN = "last_admin"
    NO_MANAGER_LEFT = "no_manager_left"


_MESSAGES: dict[Reason, tuple[str, str]] = {
    # reason: (en, zh-CN)
    Reason.LINK_INVALID: (
        "This interview link is not valid. Please check the link or contact HR.",
        "面试链接无效，请检查链接或联系 HR。",
    ),
    Reason.LINK_EXPIRED: (
        "This interview link has expired. Please contact HR for a new one.",
        "面试链接已过期，请联系 HR 获取新的链接。",
    ),
    Reason.LINK_EXPIRED_WHILE_AWAY: (
        "Your interview was interrupted and its link expired before you came back. What you "
        "answered is saved. Please contact HR, who can let you continue or start again.",
        "您的面试中断后，在链接过期前未能回来继续。已作答的内容均已保存。"
        "请联系 HR，HR 可以允许您继续作答或重新开始。",
    ),
    Reason.ADDRESS_LOCKED_OUT: (
        "Too many failed attempts from your network. Please wait up to 15 minutes and try "
        "again, or contact HR.",
        "来自您所在网络的失败尝试过多，请等待最多 15 分钟后再试，或联系 HR。",
    ),
    Reason.IDENTITY_MISMATCH: (
        "The ID-card or phone number does not match this interview.",
        "身份证号或手机号与本次面试不符。",
    ),
    Reason.TOO_MANY_ATTEMPTS: (
        "Too many failed attempts. Please wait a while and try again, or contact HR.",
        "尝试次数过多，请稍后再试或联系 HR。",
    ),
    Reason.INTERVIEW_ENDED: (
        "HR has ended this interview. You can no longer answer.",
        "HR 已结束本次面试，您无法继续作答。",
    ),
    Reason.ALREADY_COMPLETED: (
        "You have already completed this interview. Thank you.",
        "您已完成本次面试，感谢参与。",
    ),
    Reason.REENTRY_NOT_PERMITTED: (
        "A second entry is not allowed for this interview. Please contact HR.",
        "本次面试不允许再次进入，请联系 HR。",
    ),
    Reason.REENTRY_WINDOW_OVER: (
        "The time allowed for coming back to this interview is over. Please contact HR.",
        "重新进入面试的时限已过，请联系 HR。",
    ),
    Reason.NOT_JOINED: (
        "Please verify your identity first.",
        "请先完成身份验证。",
    ),
    Reason.ALREADY_JOINED: (
        "You are already in this interview.",
        "您已在面试中。",
    ),
    Reason.NOT_IN_PROGRESS: (
        "The interview is not in progress.",
        "面试当前未在进行中。",
    ),
    Reason.NOT_CURRENT_QUESTION: (
        "This answer belongs to a question that is not the current one.",
        "该回答不属于当前题目。",
    ),
    Reason.TIME_UP: (
        "The time for this question is up; what arrived in time is saved.",
        "本题作答时间已到，按时提交的内容已保存。",
    ),
    Reason.SEQ_GAP: (
        "Part of the answer is missing; your device will send it again.",
        "部分回答内容缺失，您的设备将重新发送。",
    ),
    Reason.ANSWER_INCOMPLETE: (
        "Part of the answer has not been saved yet; your device will send it again.",
        "部分回答尚未保存，您的设备将重新发送。",
    ),
    Reason.NO_EXIT_REQUESTED: (
        "Please ask to exit first; then confirm.",
        "请先申请退出，再进行确认。",
    ),
    Reason.RESET_NOT_ALLOWED: (
        "Only an interview that is over (exited, ended, expired or completed) can be reset.",
        "只有已结束（已退出、已终止、已过期或已完成）的面试才能重置。",
    ),
    Reason.TAKEN_OVER: (
        "This interview was opened on another device, which has taken over.",
        "面试已在另一台设备上打开，当前设备已被接管。",
    ),
    Reason.MALFORMED: (
        "The message could not be read.",
        "无法读取该消息。",
    ),
    Reason.UNKNOWN_TYPE: (
        "The message type is not known.",
        "未知的消息类型。",
    ),
    Reason.BAD_FIELD: (
        "A field of the message is missing or has the wrong type.",
        "消息字段缺失或类型错误。",
    ),
    Reason.TOO_LARGE: (
        "The message is too large.",
        "消息过大。",
    ),
    Reason.RATE_LIMITED: (
        "Too many requests in a short time; please slow down.",
        "请求过于频繁，请稍后再试。",
    ),
    Reason.NO_RECORDING: (
        "Nothing was recorded by camera or microphone for this answer.",
        "该题没有摄像头或麦克风录制的内容。",
    ),
    Reason.NO_TRANSCRIPT: (
        "This answer has no transcript (yet): nothing spoken was recorded, or it is still "
        "being transcribed.",
        "该题暂无文字转写：没有录到语音，或仍在转写中。",
    ),
    Reason.ERASE_NOT_ALLOWED: (
        "Only an interview that is over can be erased; end it first.",
        "只有已结束的面试才能删除，请先终止面试。",
    ),
    Reason.INTERVIEW_ERASED: (
        "This interview's data has been erased; it can no longer be ended, reset, reopened "
        "or sent a new link.",
        "该面试的数据已被删除，无法再终止、重置、重新开放或发送新链接。",
    ),
    Reason.HUMAN_REVIEW_KEPT: (
        "You asked for human-only review of this interview; that choice stays. Contact HR "
        "if you have questions.",
        "您已要求本次面试仅由人工评估，该选择不可撤回。如有疑问，请联系 HR。",
    ),
    Reason.IDLE_TIMEOUT: (
        "Paused after a long time without activity. Your answers are saved; continue to reconnect.",
        "长时间无操作，连接已暂停。您的回答均已保存，继续作答即可重新连接。",
    ),
    Reason.TOO_MANY_CONNECTIONS: (
        "Too many connections from your network. Close other interview tabs and try again.",
        "来自您所在网络的连接过多。请关闭其他面试页面后重试。",
    ),
    Reason.CHUNK_TOO_LARGE: (
        "This part of the answer is too large; send it in smaller parts.",
        "该段回答过大，请分段发送。",
    ),
    Reason.ANSWER_TOO_LONG: (
        "This answer has reached its maximum length.",
        "该回答已达到最大长度。",
    ),
    Reason.SUBPROTOCOL_REQUIRED: (
        "The connection must use the interview-hub.v1 subprotocol.",
        "连接必须使用 interview-hub.v1 子协议。",
    ),
    Reason.ORIGIN_NOT_ALLOWED: (
        "This page is not allowed to connect to the interview.",
        "该页面无权连接面试服务。",
    ),
    Reason.INTERNAL_ERROR: (
        "Something went wrong on our side. Your saved answers are safe; please reconnect.",
        "服务器出现问题。已保存的回答不会丢失，请重新连接。",
    ),
    Reason.SERVICE_UNAVAILABLE: (
        "The interview service is briefly unavailable. Your saved answers are safe; "
        "reconnecting continues where you left off.",
        "面试服务暂时不可用。已保存的回答不会丢失，重新连接后即可从中断处继续。",
    ),
    Reason.CONNECTION_INTERRUPTED: (
        "The connection was interrupted on our side (not by another device). Your saved "
        "answers are safe; reconnecting continues where you left off.",
        "连接因服务器原因中断（并非其他设备登录）。已保存的回答不会丢失，重新连接后即可从中断处继续。",
    ),
    Reason.PERMISSION_DENIED: (
        "You do not have the permission needed for this action. An administrator can grant "
        "it under role management",
        "您没有执行此操作所需的权限。管理员可在“角色管理”中授予该权限",
    ),
    Reason.LOGIN_FAILED: (
        "The user name or password is wrong.",
        "用户名或密码错误。",
    ),
    Reason.NOT_LOGGED_IN: (
        "Please log in; your session has expired or you logged out.",
        "请登录：会话已过期或您已退出登录。",
    ),
    Reason.NOT_FOUND: (
        "There is no such interview in your organisation.",
        "您所在的组织中没有该面试。",
    ),
    Reason.CONFIRM_REQUIRED: (
        "Please confirm this action.",
        "请确认此操作。",
    ),
    Reason.NOT_ENDABLE: (
        "This interview is already over (completed or expired) and cannot be ended.",
        "该面试已结束（已完成或已过期），无法终止。",
    ),
    Reason.TOO_SLOW: (
        "This monitor could not keep up and was disconnected; reload to continue.",
        "监控连接跟不上实时数据，已断开；请刷新后继续。",
    ),
    Reason.UNKNOWN_ROLE: (
        "There is no such role.",
        "没有该角色。",
    ),
    Reason.USER_EXISTS: (
        "A user with this name already exists.",
        "该用户名已存在。",
    ),
    Reason.UNKNOWN_USER: (
        "There is no such user in your organisation.",
        "您所在的组织中没有该用户。",
    ),
    Reason.ACCOUNT_DISABLED: (
        "This account is disabled. An administrator of your organisation can enable it again.",
        "该账号已被停用，可请所在组织的管理员重新启用。",
    ),
    Reason.WRONG_PASSWORD: (
        "The current password is wrong.",
        "当前密码错误。",
    ),
    Reason.PASSWORD_TOO_SHORT: (
        "The password is too short: it needs at least this many characters",
        "密码太短，至少需要以下字符数",
    ),
    Reason.PASSWORD_TOO_COMMON: (
        "This password is too easy to guess: it is a common password, or made of common "
        "words, names, dates or keyboard patterns. Choose another.",
        "该密码太容易被猜到：它是常见密码，或由常见单词、姓名、日期或键盘序列组成。请另选一个。",
    ),
    Reason.PASSWORD_IS_USER_NAME: (
        "The password must not be the user name.",
        "密码不能与用户名相同。",
    ),
    Reason.OWN_ACCOUNT: (
        "You cannot do this to your own account: ask another administrator.",
        "不能对自己的账号执行此操作，请联系其他管理员。",
    ),
    Reason.LAST_ADMIN: (
        "This is the organisation's last active administrator: add or enable another one first.",
        "这是本组织最后一位有效的管理员，请先添加或启用另一位管理员。",
    ),
    Reason.NO_MANAGER_LEFT: (
        "This would leave nobody active in the organisation who can manage roles and users "
        "(role.manage and user.manage): give both to another active user first.",
        "此操作将使本组织没有任何有效用户能管理角色和用户（role.manage 和 user.manage），"
        "请先将这两项权限授予另一位有效用户。",
    ),
}

LANGUAGES = ("en", "zh-CN")

# The HTTP status of a refusal, one map for every endpoint (the candidate's and HR's; SPEC
# §10 and §12): what the caller did wrong or may not do is 4xx by its kind; a reason about
# the interview's state, or not listed, is 409 Conflict
HTTP_STATUS: Mapping[str, int] = MappingProxyType(  # Reason -> status
    {
        Reason.MALFORMED: 400,
        Reason.BAD_FIELD: 400,
        Reason.CONFIRM_REQUIRED: 400,
        Reason.UNKNOWN_ROLE: 400,
        Reason.PASSWORD_TOO_SHORT: 400,
        Reason.PASSWORD_TOO_COMMON: 400,
        Reason.PASSWORD_IS_USER_NAME: 400,
        Reason.LOGIN_FAILED: 401,
        Reason.NOT_LOGGED_IN: 401,
        Reason.IDENTITY_MISMATCH: 403,
        Reason.PERMISSION_DENIED: 403,
        Reason.ACCOUNT_DISABLED: 403,
        Reason.WRONG_PASSWORD: 403,
        Reason.ORIGIN_NOT_ALLOWED: 403,
        Reason.LINK_INVALID: 404,
        Reason.NOT_FOUND: 404,
        Reason.UNKNOWN_USER: 404,
        Reason.NO_RECORDING: 404,
        Reason.NO_TRANSCRIPT: 404,
        Reason.TOO_LARGE: 413,
        Reason.TOO_MANY_ATTEMPTS: 429,
        Reason.ADDRESS_LOCKED_OUT: 429,
        Reason.RATE_LIMITED: 429,
    }
)
CONFLICT = 409


def http_status(reason: str) -> int:
    """The HTTP status of a refusal with ``reason`` (a parameter after a colon aside)."""
    return HTTP_STATUS.get(reason.partition(":")[0], CONFLICT)


def messages(reason: str) -> dict[str, str]:
    """The human messages for a reason code, keyed by language tag."""
    base, _, detail = reason.partition(":")
    en, zh = _MESSAGES[Reason(base)]
    if detail:
        en = f"{en} ({detail})."
        zh = f"{zh}（{detail}）。"
    return {"en": en, "zh-CN": zh}


def message(reason: str, lang: str = "en") -> str:
    """One human message; unknown languages fall back to English."""
    return messages(reason).get(lang, messages(reason)["en"])
