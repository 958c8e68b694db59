// Generated from protocol/ by `uv run python -m client.web_protocol`: do not edit.
// tests/client/test_web_protocol.py fails when this file and protocol/ disagree.

// WebSocket close codes by name (SPEC §13).
export const CLOSE = Object.freeze({
  "NORMAL": 1000,
  "POLICY_VIOLATION": 1008,
  "MESSAGE_TOO_BIG": 1009,
  "INTERNAL_ERROR": 1011,
  "EXITED": 4000,
  "COMPLETED": 4001,
  "TAKEN_OVER": 4002,
  "ENDED": 4003,
  "JOIN_REFUSED": 4004,
  "BAD_MESSAGES": 4005,
  "JOIN_TIMEOUT": 4006,
  "TOO_SLOW": 4007,
  "LOGGED_OUT": 4008,
  "NOT_AUTHENTICATED": 4009,
  "IDLE": 4010
});

// After these a candidate's client does not reconnect by itself.
export const CANDIDATE_FINAL_CLOSES = Object.freeze([
  4000,
  4001,
  4002,
  4003,
  4004,
  4005
]);

// After these it reconnects when the candidate does something again.
export const CANDIDATE_WAITS_FOR_ACTIVITY = Object.freeze([
  4010
]);

// After these a monitor does not reconnect (its HR session is gone).
export const MONITOR_FINAL_CLOSES = Object.freeze([
  4008,
  4009
]);

// Every reason code: its HTTP status and its messages (SPEC §12).
export const REASONS = Object.freeze({
  "link_invalid": {
    "status": 404,
    "en": "This interview link is not valid. Please check the link or contact HR.",
    "zh-CN": "面试链接无效，请检查链接或联系 HR。"
  },
  "link_expired": {
    "status": 409,
    "en": "This interview link has expired. Please contact HR for a new one.",
    "zh-CN": "面试链接已过期，请联系 HR 获取新的链接。"
  },
  "link_expired_while_away": {
    "status": 409,
    "en": "Your interview was interrupted and its link expired before you came back. What you answered is saved. Please contact HR, who can let you continue or start again.",
    "zh-CN": "您的面试中断后，在链接过期前未能回来继续。已作答的内容均已保存。请联系 HR，HR 可以允许您继续作答或重新开始。"
  },
  "identity_mismatch": {
    "status": 403,
    "en": "The ID-card or phone number does not match this interview.",
    "zh-CN": "身份证号或手机号与本次面试不符。"
  },
  "too_many_attempts": {
    "status": 429,
    "en": "Too many failed attempts. Please wait a while and try again, or contact HR.",
    "zh-CN": "尝试次数过多，请稍后再试或联系 HR。"
  },
  "address_locked_out": {
    "status": 429,
    "en": "Too many failed attempts from your network. Please wait up to 15 minutes and try again, or contact HR.",
    "zh-CN": "来自您所在网络的失败尝试过多，请等待最多 15 分钟后再试，或联系 HR。"
  },
  "interview_ended": {
    "status": 409,
    "en": "HR has ended this interview. You can no longer answer.",
    "zh-CN": "HR 已结束本次面试，您无法继续作答。"
  },
  "already_completed": {
    "status": 409,
    "en": "You have already completed this interview. Thank you.",
    "zh-CN": "您已完成本次面试，感谢参与。"
  },
  "reentry_not_permitted": {
    "status": 409,
    "en": "A second entry is not allowed for this interview. Please contact HR.",
    "zh-CN": "本次面试不允许再次进入，请联系 HR。"
  },
  "reentry_window_over": {
    "status": 409,
    "en": "The time allowed for coming back to this interview is over. Please contact HR.",
    "zh-CN": "重新进入面试的时限已过，请联系 HR。"
  },
  "not_joined": {
    "status": 409,
    "en": "Please verify your identity first.",
    "zh-CN": "请先完成身份验证。"
  },
  "already_joined": {
    "status": 409,
    "en": "You are already in this interview.",
    "zh-CN": "您已在面试中。"
  },
  "not_in_progress": {
    "status": 409,
    "en": "The interview is not in progress.",
    "zh-CN": "面试当前未在进行中。"
  },
  "not_current_question": {
    "status": 409,
    "en": "This answer belongs to a question that is not the current one.",
    "zh-CN": "该回答不属于当前题目。"
  },
  "time_up": {
    "status": 409,
    "en": "The time for this question is up; what arrived in time is saved.",
    "zh-CN": "本题作答时间已到，按时提交的内容已保存。"
  },
  "seq_gap": {
    "status": 409,
    "en": "Part of the answer is missing; your device will send it again.",
    "zh-CN": "部分回答内容缺失，您的设备将重新发送。"
  },
  "answer_incomplete": {
    "status": 409,
    "en": "Part of the answer has not been saved yet; your device will send it again.",
    "zh-CN": "部分回答尚未保存，您的设备将重新发送。"
  },
  "no_exit_requested": {
    "status": 409,
    "en": "Please ask to exit first; then confirm.",
    "zh-CN": "请先申请退出，再进行确认。"
  },
  "reset_not_allowed": {
    "status": 409,
    "en": "Only an interview that is over (exited, ended, expired or completed) can be reset.",
    "zh-CN": "只有已结束（已退出、已终止、已过期或已完成）的面试才能重置。"
  },
  "taken_over": {
    "status": 409,
    "en": "This interview was opened on another device, which has taken over.",
    "zh-CN": "面试已在另一台设备上打开，当前设备已被接管。"
  },
  "malformed": {
    "status": 400,
    "en": "The message could not be read.",
    "zh-CN": "无法读取该消息。"
  },
  "unknown_type": {
    "status": 409,
    "en": "The message type is not known.",
    "zh-CN": "未知的消息类型。"
  },
  "bad_field": {
    "status": 400,
    "en": "A field of the message is missing or has the wrong type.",
    "zh-CN": "消息字段缺失或类型错误。"
  },
  "too_large": {
    "status": 413,
    "en": "The message is too large.",
    "zh-CN": "消息过大。"
  },
  "rate_limited": {
    "status": 429,
    "en": "Too many requests in a short time; please slow down.",
    "zh-CN": "请求过于频繁，请稍后再试。"
  },
  "too_many_connections": {
    "status": 409,
    "en": "Too many connections from your network. Close other interview tabs and try again.",
    "zh-CN": "来自您所在网络的连接过多。请关闭其他面试页面后重试。"
  },
  "idle_timeout": {
    "status": 409,
    "en": "Paused after a long time without activity. Your answers are saved; continue to reconnect.",
    "zh-CN": "长时间无操作，连接已暂停。您的回答均已保存，继续作答即可重新连接。"
  },
  "erase_not_allowed": {
    "status": 409,
    "en": "Only an interview that is over can be erased; end it first.",
    "zh-CN": "只有已结束的面试才能删除，请先终止面试。"
  },
  "interview_erased": {
    "status": 409,
    "en": "This interview's data has been erased; it can no longer be ended, reset, reopened or sent a new link.",
    "zh-CN": "该面试的数据已被删除，无法再终止、重置、重新开放或发送新链接。"
  },
  "no_recording": {
    "status": 404,
    "en": "Nothing was recorded by camera or microphone for this answer.",
    "zh-CN": "该题没有摄像头或麦克风录制的内容。"
  },
  "human_review_kept": {
    "status": 409,
    "en": "You asked for human-only review of this interview; that choice stays. Contact HR if you have questions.",
    "zh-CN": "您已要求本次面试仅由人工评估，该选择不可撤回。如有疑问，请联系 HR。"
  },
  "no_transcript": {
    "status": 404,
    "en": "This answer has no transcript (yet): nothing spoken was recorded, or it is still being transcribed.",
    "zh-CN": "该题暂无文字转写：没有录到语音，或仍在转写中。"
  },
  "chunk_too_large": {
    "status": 409,
    "en": "This part of the answer is too large; send it in smaller parts.",
    "zh-CN": "该段回答过大，请分段发送。"
  },
  "answer_too_long": {
    "status": 409,
    "en": "This answer has reached its maximum length.",
    "zh-CN": "该回答已达到最大长度。"
  },
  "subprotocol_required": {
    "status": 409,
    "en": "The connection must use the interview-hub.v1 subprotocol.",
    "zh-CN": "连接必须使用 interview-hub.v1 子协议。"
  },
  "origin_not_allowed": {
    "status": 403,
    "en": "This page is not allowed to connect to the interview.",
    "zh-CN": "该页面无权连接面试服务。"
  },
  "internal_error": {
    "status": 409,
    "en": "Something went wrong on our side. Your saved answers are safe; please reconnect.",
    "zh-CN": "服务器出现问题。已保存的回答不会丢失，请重新连接。"
  },
  "service_unavailable": {
    "status": 409,
    "en": "The interview service is briefly unavailable. Your saved answers are safe; reconnecting continues where you left off.",
    "zh-CN": "面试服务暂时不可用。已保存的回答不会丢失，重新连接后即可从中断处继续。"
  },
  "connection_interrupted": {
    "status": 409,
    "en": "The connection was interrupted on our side (not by another device). Your saved answers are safe; reconnecting continues where you left off.",
    "zh-CN": "连接因服务器原因中断（并非其他设备登录）。已保存的回答不会丢失，重新连接后即可从中断处继续。"
  },
  "permission_denied": {
    "status": 403,
    "en": "You do not have the permission needed for this action. An administrator can grant it under role management",
    "zh-CN": "您没有执行此操作所需的权限。管理员可在“角色管理”中授予该权限"
  },
  "login_failed": {
    "status": 401,
    "en": "The user name or password is wrong.",
    "zh-CN": "用户名或密码错误。"
  },
  "not_logged_in": {
    "status": 401,
    "en": "Please log in; your session has expired or you logged out.",
    "zh-CN": "请登录：会话已过期或您已退出登录。"
  },
  "not_found": {
    "status": 404,
    "en": "There is no such interview in your organisation.",
    "zh-CN": "您所在的组织中没有该面试。"
  },
  "confirm_required": {
    "status": 400,
    "en": "Please confirm this action.",
    "zh-CN": "请确认此操作。"
  },
  "not_endable": {
    "status": 409,
    "en": "This interview is already over (completed or expired) and cannot be ended.",
    "zh-CN": "该面试已结束（已完成或已过期），无法终止。"
  },
  "too_slow": {
    "status": 409,
    "en": "This monitor could not keep up and was disconnected; reload to continue.",
    "zh-CN": "监控连接跟不上实时数据，已断开；请刷新后继续。"
  },
  "unknown_role": {
    "status": 400,
    "en": "There is no such role.",
    "zh-CN": "没有该角色。"
  },
  "user_exists": {
    "status": 409,
    "en": "A user with this name already exists.",
    "zh-CN": "该用户名已存在。"
  },
  "unknown_user": {
    "status": 404,
    "en": "There is no such user in your organisation.",
    "zh-CN": "您所在的组织中没有该用户。"
  },
  "account_disabled": {
    "status": 403,
    "en": "This account is disabled. An administrator of your organisation can enable it again.",
    "zh-CN": "该账号已被停用，可请所在组织的管理员重新启用。"
  },
  "wrong_password": {
    "status": 403,
    "en": "The current password is wrong.",
    "zh-CN": "当前密码错误。"
  },
  "password_too_short": {
    "status": 400,
    "en": "The password is too short: it needs at least this many characters",
    "zh-CN": "密码太短，至少需要以下字符数"
  },
  "password_too_common": {
    "status": 400,
    "en": "This password is too easy to guess: it is a common password, or made of common words, names, dates or keyboard patterns. Choose another.",
    "zh-CN": "该密码太容易被猜到：它是常见密码，或由常见单词、姓名、日期或键盘序列组成。请另选一个。"
  },
  "password_is_user_name": {
    "status": 400,
    "en": "The password must not be the user name.",
    "zh-CN": "密码不能与用户名相同。"
  },
  "own_account": {
    "status": 409,
    "en": "You cannot do this to your own account: ask another administrator.",
    "zh-CN": "不能对自己的账号执行此操作，请联系其他管理员。"
  },
  "last_admin": {
    "status": 409,
    "en": "This is the organisation's last active administrator: add or enable another one first.",
    "zh-CN": "这是本组织最后一位有效的管理员，请先添加或启用另一位管理员。"
  },
  "no_manager_left": {
    "status": 409,
    "en": "This would leave nobody active in the organisation who can manage roles and users (role.manage and user.manage): give both to another active user first.",
    "zh-CN": "此操作将使本组织没有任何有效用户能管理角色和用户（role.manage 和 user.manage），请先将这两项权限授予另一位有效用户。"
  }
});

// Every permission (docs/hr.md).
export const PERMISSIONS = Object.freeze([
  "interview.create",
  "interview.view",
  "interview.end",
  "interview.reset",
  "interview.reentry.grant",
  "report.generate",
  "log.view",
  "role.manage",
  "user.manage",
  "data.erase"
]);

// Every role and the permissions it has until an admin changes it.
export const DEFAULT_ROLES = Object.freeze({
  "admin": [
    "data.erase",
    "interview.create",
    "interview.end",
    "interview.reentry.grant",
    "interview.reset",
    "interview.view",
    "log.view",
    "report.generate",
    "role.manage",
    "user.manage"
  ],
  "recruiting_manager": [
    "interview.create",
    "interview.end",
    "interview.reentry.grant",
    "interview.reset",
    "interview.view",
    "log.view",
    "report.generate"
  ],
  "interview_lead": [
    "interview.create",
    "interview.end",
    "interview.reentry.grant",
    "interview.view",
    "log.view",
    "report.generate"
  ],
  "recruiter": [
    "interview.view"
  ]
});
