"""The HTTP API's bodies and answers, one frozen dataclass each (shapes, server/shapes.py).

Every JSON endpoint reads its request body into one of these (``bodies.read_body``) and
answers with one (``answer``), and ``/openapi.json`` describes each route with their JSON
Schemas (server/openapi.py): this module is the one place a body's or an answer's shape is
written down. Request bodies ignore keys they do not name (SPEC §10); answers carry no key
their shape does not name, and one that would is our bug (a 500, logged), never a silent
change of the API.

Records the hub reads back from Redis as they were written (log entries, reports) are open:
they keep keys a later version may add, so reading an older record never fails.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from starlette.responses import JSONResponse

from protocol.interview import State
from protocol.permissions import Permission, Role
from protocol.reasons import Reason, http_status, messages
from server.accounts import USER_NAME
from server.interviews import (
    MAX_EXPECTED_POINTS,
    MAX_POINT_TEXT,
    MAX_QUESTIONS,
    MAX_S,
    MAX_TEXT,
)
from server.shapes import (
    ABSENT,
    Absent,
    Doc,
    IgnoresUnknownKeys,
    Key,
    Length,
    Lenient,
    Pattern,
    Range,
    Rest,
    ShapeError,
    conform,
    write,
)

MAX_WINDOW_S = 366 * 24 * 3600  # a second entry's window: at most a year
# every reason code there is, optionally with its detail after a colon
REASON_PATTERN = "(?:" + "|".join(r.value for r in Reason) + ")(?::.+)?"


def only_true(value: Any) -> bool:
    return value is True


Confirm = Annotated[
    bool,
    Lenient(
        only_true,
        "Only the JSON value true confirms; anything else, or leaving it out, does not.",
    ),
]
AnyText = Annotated[str, Lenient(str, "Any other JSON value is read as its text.")]
Millis = Annotated[int, Doc("Unix time in milliseconds; 0: none.")]


# --- shared -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Messages:
    """A refusal's human message in each language."""

    en: str
    zh_cn: Annotated[str, Key("zh-CN")]


@dataclass(frozen=True, slots=True, kw_only=True)
class Refused:
    """A refusal: a stable reason code (SPEC §12) and its message in zh-CN and en; a
    missing permission also names it and who grants it."""

    reason: Annotated[
        str,
        Pattern(REASON_PATTERN),
        Doc("A reason code, with a detail after a colon for some (permission_denied:<perm>)."),
    ]
    message: Messages
    permission: str | Absent = ABSENT
    granted_by: Literal["admin"] | Absent = ABSENT

    @classmethod
    def of(cls, reason: str) -> Refused:
        base, _, detail = reason.partition(":")
        text = messages(reason)
        if base == Reason.PERMISSION_DENIED:
            return cls(
                reason=reason,
                message=Messages(en=text["en"], zh_cn=text["zh-CN"]),
                permission=detail,
                granted_by="admin",
            )
        return cls(reason=reason, message=Messages(en=text["en"], zh_cn=text["zh-CN"]))


@dataclass(frozen=True, slots=True, kw_only=True)
class Progress:
    """How far the candidate is: closed questions out of the total."""

    answered: int
    partial: Annotated[int, Doc("Interrupted by an exit: kept, not counted as answered.")]
    total: int
    percent: Annotated[int, Range(0, 100)]


@dataclass(frozen=True, slots=True, kw_only=True)
class Interruptions:
    disconnects: int
    exits: int


@dataclass(frozen=True, slots=True, kw_only=True)
class NextStep:
    """What the candidate can do next, and until when (SPEC §10.2); for none and contact_hr
    also why (the reason code a join gets now) and its message."""

    action: Literal["start", "continue", "reenter", "none", "contact_hr"]
    until_ms: Millis
    why: str | Absent = ABSENT  # for none and contact_hr: the reason a join gets now
    message: Messages | Absent = ABSENT  # and its text


@dataclass(frozen=True, slots=True, kw_only=True)
class Ok:
    ok: Literal[True]


OK = Ok(ok=True)


# --- the candidate's endpoints (SPEC §10) ---------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CandidateProof(IgnoresUnknownKeys):
    """The invitation token and an identity proof, as in a socket's join."""

    token: str
    identity: Annotated[str, Doc("The candidate's ID-card number or phone number.")]
    device_id: Annotated[
        str, Doc("The asking device's id, as its joins give it (optional): `connected_here`.")
    ] = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ExitBody(CandidateProof):
    """An exit without a socket: a preview, or with confirm true the exit itself."""

    confirm: Confirm = False


@dataclass(frozen=True, slots=True, kw_only=True)
class HelpBody(CandidateProof):
    """The candidate asks HR for something the page cannot give (SPEC §10.8)."""

    kind: Annotated[
        Literal["reset", "more_time"],
        Doc("reset: to start the interview again; more_time: a new link or a second entry."),
    ]


@dataclass(frozen=True, slots=True, kw_only=True)
class HelpRequest:
    """The candidate's request to HR, pending until HR resets, renews the link or grants a
    second entry; kind "" when there is none."""

    kind: Literal["", "reset", "more_time"]
    requested_ms: Millis


@dataclass(frozen=True, slots=True, kw_only=True)
class HelpAsked(HelpRequest):
    repeated: Annotated[
        bool, Doc("That kind was pending already: nothing was recorded or told again.")
    ]


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsentBody(CandidateProof):
    """The candidate's choices after reading the notice (docs/privacy.md)."""

    review: Annotated[
        Literal["ai", "human_only"],
        Doc("ai: AI assists HR; human_only: no AI score is computed. Never back to ai."),
    ]
    camera: Annotated[bool, Doc("Consent to record the face (video); false: audio and text.")]
    notice_version: Annotated[
        str, Pattern("[A-Za-z0-9._-]{1,32}"), Doc("The version of the notice shown.")
    ]


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsentRecord:
    """The candidate's choices as recorded; "" and 0: not recorded (a client that never
    showed the notice, SPEC §10.5)."""

    review: Literal["ai", "human_only", ""]
    camera: Literal["on", "off", ""]
    consent_ms: Annotated[int, Doc("When the latest choice was recorded (Unix ms); 0: never.")]
    notice: Annotated[str, Doc("The version of the notice the choice was made on.")]


@dataclass(frozen=True, slots=True, kw_only=True)
class ExitPreview:
    """What an exit would mean now (confirm not true): the exit is requested, not done."""

    state: State
    progress: Progress
    current_q: Annotated[int, Doc("The open question; -1: none.")]
    saved_seq: int
    reentry_allowed: bool
    reentry_until_ms: Millis


@dataclass(frozen=True, slots=True, kw_only=True)
class ExitDone:
    """The exit, done (confirm true)."""

    state: State
    progress: Progress
    partial_q: Annotated[int, Doc("The interrupted question; -1: none.")]
    reentry_allowed: bool
    reentry_until_ms: Millis


@dataclass(frozen=True, slots=True, kw_only=True)
class CentreInterview:
    interview_id: str
    position: str
    state: State
    progress: Progress
    interruptions: Interruptions
    created_ms: Millis
    next: NextStep
    consent: ConsentRecord
    connected: Annotated[
        bool,
        Doc("A device holds the interview now: a join would take it over, so a page asks first."),
    ]
    connected_device: Annotated[
        str, Doc("That device as its join described it; empty when none is connected.")
    ]
    connected_here: Annotated[
        bool,
        Doc("The device holding it joined with the device_id asked with: no need to ask."),
    ]
    help_request: HelpRequest


@dataclass(frozen=True, slots=True, kw_only=True)
class Notice:
    """What the notice before recording needs from the hub: the organisation's retention."""

    retention_days: Annotated[int, Doc("Days the data is kept after the interview is over.")]


@dataclass(frozen=True, slots=True, kw_only=True)
class HrContact:
    """Whom the organisation's candidates contact (its settings); "" where not set."""

    name: str
    phone: str
    email: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Centre:
    """The verified candidate's interviews with this employer, by interview_id."""

    candidate: str
    interviews: list[CentreInterview]
    notice: Notice
    hr_contact: HrContact


@dataclass(frozen=True, slots=True, kw_only=True)
class SavedAnswer:
    """The open question's text as stored; the next chunk is seq + 1."""

    q: int
    seq: int
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class IceServer:
    """A W3C RTCIceServer."""

    urls: str
    username: str | Absent = ABSENT
    credential: str | Absent = ABSENT


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaConfig:
    iceServers: list[IceServer]  # the W3C name


@dataclass(frozen=True, slots=True, kw_only=True)
class Health:
    """The hub's health (SPEC §10.3); lease only on /readyz."""

    status: Literal["ok", "degraded"]
    redis: Annotated[str, Doc('"ok" or the error.')]
    sockets: Annotated[int, Doc("Open candidate sockets on this hub.")]
    tasks: Annotated[
        dict[str, str], Doc('Each task: "running", "degraded: <why>" or "down: <error>".')
    ]
    restarts: dict[str, int]
    log_anchors: Annotated[str, Doc('"ok" or why the last checkpoints were not written.')]
    reasons: Annotated[
        list[str],
        Doc(
            "Why it answers 503 (empty on a 200): redis_unreachable, task_down:<task>, "
            "task_degraded:<task>; on /readyz also lease_lapsed, draining."
        ),
    ]
    lease: Literal["held", "lapsed"] | Absent = ABSENT
    draining: bool | Absent = ABSENT  # /readyz: the hub is stopping


# --- HR: sessions and accounts --------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class LoginBody(IgnoresUnknownKeys):
    username: AnyText = ""
    password: AnyText = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class LoggedIn:
    """A session token (also set as the ih_session cookie) and who it is."""

    token: str
    user: str
    org: str
    roles: list[str]
    permissions: list[str]


@dataclass(frozen=True, slots=True, kw_only=True)
class Me:
    user: str
    org: str
    roles: list[str]
    permissions: list[str]
    password_min_length: int
    roles_by_permission: Annotated[
        dict[str, list[str]],
        Doc("Every permission with the organisation's roles that hold it (who to ask)."),
    ]


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionNone:
    logged_in: Literal[False]


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionHeld(Me):
    logged_in: Literal[True]


@dataclass(frozen=True, slots=True, kw_only=True)
class PasswordChange(IgnoresUnknownKeys):
    current: str
    new: str


@dataclass(frozen=True, slots=True, kw_only=True)
class NewPassword(IgnoresUnknownKeys):
    password: str


@dataclass(frozen=True, slots=True, kw_only=True)
class User:
    name: str
    roles: list[str]
    disabled: bool
    disabled_ms: Millis
    disabled_by: str
    demo: bool
    created_ms: Millis
    last_login_ms: Millis


@dataclass(frozen=True, slots=True, kw_only=True)
class UserList:
    users: list[User]


@dataclass(frozen=True, slots=True, kw_only=True)
class NewUser(IgnoresUnknownKeys):
    username: Annotated[str, Pattern(USER_NAME.pattern)]
    password: AnyText = ""
    roles: list[Annotated[str, Doc("A role name (GET /api/hr/roles: role_names).")]]


@dataclass(frozen=True, slots=True, kw_only=True)
class UserRoles(IgnoresUnknownKeys):
    roles: list[Annotated[str, Doc("A role name (GET /api/hr/roles: role_names).")]]


@dataclass(frozen=True, slots=True, kw_only=True)
class RolePermissions(IgnoresUnknownKeys):
    permissions: list[Annotated[str, Doc("A permission (GET /api/hr/roles: permissions).")]]


@dataclass(frozen=True, slots=True, kw_only=True)
class RoleTable:
    """Every role's permissions, every permission there is, every role."""

    roles: dict[str, list[str]]
    permissions: list[Permission]
    role_names: list[Role]


# --- HR: interviews -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CandidateSpec(IgnoresUnknownKeys):
    name: Annotated[str, Length(0, 200)]
    id_number: Annotated[str, Doc("The ID-card number and/or the phone: at least one.")] = ""
    phone: str = ""
    email: Annotated[str, Doc("One plain address, for notifications by e-mail too.")] = ""
    lang: Annotated[str, Doc('"en"; anything else is zh-CN (the default).')] = "zh-CN"


@dataclass(frozen=True, slots=True, kw_only=True)
class QuestionSpec(IgnoresUnknownKeys):
    text: Annotated[str, Length(1, MAX_TEXT)]
    time_limit_s: Annotated[int, Range(0, MAX_S), Doc("0: no limit.")] = 0
    expected_points: Annotated[
        list[Annotated[str, Length(1, MAX_POINT_TEXT)]],
        Length(0, MAX_EXPECTED_POINTS),
        Doc("Short phrases a good answer touches; the assessment checks them (optional)."),
    ] = field(default_factory=list)
    pressure: Annotated[
        bool, Doc("A pressure/setback question: composure is scored from these answers only.")
    ] = False


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicySpec(IgnoresUnknownKeys):
    """Absent values come from the settings (docs/interview-spec.md)."""

    link_ttl_s: Annotated[int | None, Range(0, MAX_S)] = None
    second_entry: bool = False
    reentry_window_s: Annotated[int | None, Range(0, MAX_S)] = None
    resume_grace_s: Annotated[
        int | None,
        Range(0, MAX_S),
        Doc("A lost connection stays resumable at least this long, even past the link's expiry."),
    ] = None
    grace_exits: Annotated[
        bool,
        Doc(
            "Ignored: a lost connection is never an exit (protocol/SPEC.md §8.1). Accepted so "
            "that older requests stay valid."
        ),
    ] = False
    report_auto: Annotated[
        bool | None,
        Doc("A report when it completes or HR ends it; absent: the organisation's default."),
    ] = None
    notify: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class InterviewSpecBody(IgnoresUnknownKeys):
    """An interview spec (docs/interview-spec.md); the organisation is the user's own. Read
    by InterviewSpec.from_dict, as the command line's spec files are: a refusal is
    bad_field:<which field and why>."""

    candidate: CandidateSpec
    position: Annotated[str, Length(1, 200)]
    questions: Annotated[
        list[QuestionSpec | Annotated[str, Length(1, MAX_TEXT)]], Length(1, MAX_QUESTIONS)
    ]
    policy: PolicySpec | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Created:
    """A new interview and its invitation link (the invitation is sent)."""

    interview_id: str
    token: str
    link: str


@dataclass(frozen=True, slots=True, kw_only=True)
class InterviewSummary:
    """An interview with its live state; a sealed field that does not open is "" and named
    in unreadable."""

    interview_id: str
    candidate: str
    position: str
    phone: Annotated[str, Doc("Masked.")]
    id_number: Annotated[str, Doc("Masked.")]
    state: State
    progress: Progress
    connected: bool
    disconnected_ms: Annotated[
        Millis,
        Doc(
            "In progress without a connected device: when the connection was lost (the "
            "interview waits at the same question); 0 otherwise."
        ),
    ]
    current_q: int
    device: str
    last_activity_ms: Millis
    created_ms: Millis
    interruptions: Interruptions
    second_entry: bool
    reentry_until_ms: Millis
    link_expires_ms: Millis
    attempt: int
    erased_ms: Millis
    ended_by: Annotated[str, Doc('Ended by HR: the user who ended it; "" otherwise.')] = ""
    ended_at_ms: Annotated[Millis, Doc("Ended by HR: when; 0 otherwise.")] = 0
    files: Annotated[
        str,
        Doc(
            "After an erasure: whether Redis' own files were rewritten without it (rewritten, "
            'not_persisted, pending, failed: <why>); "" before an erasure.'
        ),
    ] = ""
    next: NextStep
    consent: Annotated[ConsentRecord, Doc("The candidate's choices after the notice.")]
    report_auto: Annotated[
        bool, Doc("Whether a report is made when it completes or HR ends it.")
    ] = True
    help_request: Annotated[
        HelpRequest, Doc("What the candidate asked HR for, still pending (SPEC §10.9).")
    ]
    unreadable: list[Literal["candidate", "phone", "id_number"]] | Absent = ABSENT


@dataclass(frozen=True, slots=True, kw_only=True)
class InterviewList:
    interviews: list[InterviewSummary]


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaCount:
    frames: int
    audio_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Answer:
    """One question's answer; some of its chunks not opening: unreadable ["text"]."""

    media: MediaCount
    q: int
    question: str
    time_limit_s: Annotated[int, Doc("The question's time limit in seconds; 0: none.")] = 0
    status: Annotated[str, Doc('answered, timed_out, partial, open, or "" (not reached).')]
    started_ms: Millis
    ended_ms: Millis
    chunks: int
    text: str
    transcript: Annotated[
        Literal["none", "pending", "done", "failed"],
        Doc(
            "The spoken answer's transcription: none (no audio, or transcription off), "
            "pending (queued or being retried), done, failed (given up: transcript_reason)."
        ),
    ] = "none"
    transcript_reason: str | Absent = ABSENT
    unreadable: list[Literal["text"]] | Absent = ABSENT
    unreadable_chunks: int | Absent = ABSENT


@dataclass(frozen=True, slots=True, kw_only=True)
class TranscriptWord:
    start_ms: int
    end_ms: int
    word: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TranscriptSegment:
    start_ms: Annotated[int, Doc("From the start of the answer's audio.")]
    end_ms: int
    text: str
    words: list[TranscriptWord]


@dataclass(frozen=True, slots=True, kw_only=True)
class Pause:
    start_ms: int
    end_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Transcript:
    """One spoken answer's transcript (server/transcribe.py); times in ms from the start of
    the answer's audio. A record that does not open is unreadable ["transcript"]."""

    q: int
    text: str | Absent = ABSENT
    language: str | Absent = ABSENT
    engine: Annotated[str, Doc("faster-whisper, or remote.")] | Absent = ABSENT
    model: str | Absent = ABSENT
    segments: list[TranscriptSegment] | Absent = ABSENT
    audio_ms: int | Absent = ABSENT
    speech_ms: Annotated[int, Doc("Speaking time (voice activity).")] | Absent = ABSENT
    pauses: Annotated[list[Pause], Doc("Silences of pause_min_ms or more.")] | Absent = ABSENT
    pause_min_ms: Annotated[int, Doc("HUB_ASR_PAUSE_MS when it was made.")] | Absent = ABSENT
    recording_offset_ms: (
        Annotated[int, Doc("Where the transcript's time 0 is in the answer's recording.")] | Absent
    ) = ABSENT
    made_ms: Millis | Absent = ABSENT
    unreadable: list[Literal["transcript"]] | Absent = ABSENT
    more: Annotated[dict[str, Any], Rest()] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchHit:
    interview_id: str
    candidate: str
    position: str
    q: int
    source: Literal["text", "transcript"]
    excerpt: Annotated[str, Doc("The phrase with up to 40 characters either side.")]


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchResult:
    """Answers containing the phrase, newest interviews first."""

    hits: list[SearchHit]
    searched: Annotated[int, Doc("Interviews read (the organisation's newest 200 at most).")]
    truncated: Annotated[bool, Doc("More answers matched than the 50 returned.")]


@dataclass(frozen=True, slots=True, kw_only=True)
class InterviewDetail(InterviewSummary):
    """One interview (an attempt kept by a reset is read_only) with its answers."""

    attempts: int
    read_only: bool
    answers: list[Answer]


@dataclass(frozen=True, slots=True, kw_only=True)
class EndBody(IgnoresUnknownKeys):
    confirm: Confirm = False
    note: Annotated[str, Lenient(str, "For the candidate and the log; 500 characters kept.")] = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfirmBody(IgnoresUnknownKeys):
    confirm: Confirm = False


@dataclass(frozen=True, slots=True, kw_only=True)
class EndDone:
    state: State
    progress: Progress


@dataclass(frozen=True, slots=True, kw_only=True)
class ResetDone:
    """A new attempt with a new link (sent); the old attempt stays, read-only."""

    interview_id: str
    state: State
    token: str
    link: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ReentryBody(IgnoresUnknownKeys):
    grant: Annotated[bool, Doc("true grants (or extends) a second entry; false revokes it.")] = True
    window_s: Annotated[
        int | None, Range(1, MAX_WINDOW_S), Doc("Absent: the interview's own window.")
    ] = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ReentryDone:
    state: State
    second_entry: bool
    reentry_until_ms: Millis


@dataclass(frozen=True, slots=True, kw_only=True)
class Erased:
    interview_id: str
    erased_ms: Millis
    files: Annotated[
        str, Doc("rewritten, not_persisted, pending, or failed: <why> (Redis' own files).")
    ]


@dataclass(frozen=True, slots=True, kw_only=True)
class RetentionBody(IgnoresUnknownKeys):
    days: Annotated[int, Range(1, 3650)]


@dataclass(frozen=True, slots=True, kw_only=True)
class Retention:
    org: str
    retention_days: int
    default: Annotated[bool, Doc("Whether it is the hub's default (HUB_RETENTION_DAYS).")]


@dataclass(frozen=True, slots=True, kw_only=True)
class OrgProfileBody(IgnoresUnknownKeys):
    """What to change; an absent field stays as it is."""

    display_name: Annotated[str | None, Length(0, 200), Doc("Shown on reports.")] = None
    time_zone: Annotated[
        str | None, Length(0, 64), Doc('An IANA time zone, e.g. "Asia/Shanghai"; "": default.')
    ] = None
    report_auto: Annotated[
        bool | None, Doc("New interviews make their report by themselves unless their spec says.")
    ] = None
    hr_contact_name: Annotated[
        str | None, Length(0, 100), Doc("Whom candidates contact: shown on their pages.")
    ] = None
    hr_contact_phone: Annotated[
        str | None, Pattern(r"[0-9+()\- ]{0,32}"), Doc('Their phone; "": none.')
    ] = None
    hr_contact_email: Annotated[
        str | None, Pattern(r"([^@\s]{1,64}@[^@\s]{1,190})?"), Doc('Their e-mail; "": none.')
    ] = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportAutoBody(IgnoresUnknownKeys):
    on: Annotated[bool, Doc("Make the report when the interview completes or HR ends it.")]


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportAuto:
    interview_id: str
    report_auto: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class OrgProfile:
    """How reports show the organisation (its name; local times in its time zone)."""

    org: str
    display_name: Annotated[str, Doc('"": reports show the organisation\'s id.')]
    time_zone: str
    report_auto: bool
    hr_contact: HrContact


@dataclass(frozen=True, slots=True, kw_only=True)
class NewLink:
    """A new link (the old one stops working), sent again."""

    interview_id: str
    token: str
    link: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Notification:
    id: str
    kind: str
    channel: str
    state: Literal["queued", "retrying", "sent", "failed"]
    attempts: int
    last_error: str
    queued_ms: Millis
    sent_ms: Millis
    provider: str | Absent = ABSENT
    interview_id: Annotated[str | Absent, Doc("An ATS webhook delivery's interview.")] = ABSENT


@dataclass(frozen=True, slots=True, kw_only=True)
class NotificationList:
    notifications: list[Notification]


# --- HR: the operation log ------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class LogEntry:
    """One operation, refusals included; personal parts read "[erased]" after an erasure."""

    id: str
    t: Millis
    action: str
    outcome: Annotated[str, Doc('"ok" or the reason code.')]
    actor: str
    role: str
    ip: str
    device: str
    proof: Annotated[str, Doc("The identity proof used, masked.")] | Absent = ABSENT
    detail: dict[str, Any] | Absent = ABSENT
    interview_id: str | Absent = ABSENT
    more: Annotated[dict[str, Any], Rest()] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class LogEntries:
    entries: list[LogEntry]


PROBLEM_DOC = Doc(
    "One of mac, out_of_place, malformed, head, no_head, missing_tail, missing_log, "
    'anchor_mismatch, bad_anchor, old_format, unanchored; "" when ok.'
)


@dataclass(frozen=True, slots=True, kw_only=True)
class LogVerdict:
    """The check of a hash-chained log against its signed checkpoints."""

    ok: bool
    entries: int
    first_bad: Annotated[int, Doc("The first entry that fails, or where the tail is missing.")]
    first_bad_id: str
    reason: str
    problem: Annotated[str, PROBLEM_DOC]
    anchored: int


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredLogEntry:
    """An entry as stored in Redis (a tampered one as it is)."""

    id: str
    fields: Annotated[dict[str, str], Rest()] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class SignedCheckpoint:
    scope: str
    n: int
    id: str
    mac: str
    t: Millis
    kid: str
    sig: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LogExport:
    """The verdict with the proof: every entry as stored, the head, the checkpoints and the
    public key (PEM) that checks them."""

    ok: bool
    entries: list[StoredLogEntry]
    first_bad: int
    first_bad_id: str
    reason: str
    problem: Annotated[str, PROBLEM_DOC]
    anchored: int
    interview_id: str
    scope: str
    head: str | None
    checkpoints: list[SignedCheckpoint]
    public_key: str


# --- HR: reports ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportAnswer:
    q: int
    question: str
    status: str
    partial: bool
    text: str
    chunks: int
    started_ms: Millis
    ended_ms: Millis
    duration_s: float | None
    unreadable: list[Literal["text"]] | Absent = ABSENT
    unreadable_chunks: int | Absent = ABSENT
    kind: Annotated[
        Literal["typed", "spoken"] | Absent, Doc("Spoken: given by voice (has a recording).")
    ] = ABSENT
    transcript: Annotated[
        dict[str, Any] | Absent | None,
        Doc(
            "Spoken answers: text, language, segments [{start_ms, end_ms, text}], audio_ms, "
            "speech_ms, pauses [{start_ms, end_ms}]; null while it is not made yet."
        ),
    ] = ABSENT
    expected_points: list[str] | Absent = ABSENT
    pressure: bool | Absent = ABSENT
    more: Annotated[dict[str, Any], Rest()] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportEvent:
    kind: str
    t: Millis
    more: Annotated[dict[str, Any], Rest()] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportInterruptions:
    disconnects: int
    exits: int
    history: list[ReportEvent]


@dataclass(frozen=True, slots=True, kw_only=True)
class Scores:
    """What the scorer says (docs/assessment.md): status "scored" or "insufficient_data"
    (the rubric, with rubric_version, recommendation and per dimension its score, band,
    explanation, measures and evidence), "not_scored" (HUB_SCORER=none) or "human_only"
    (the candidate asked for a person only; no AI score is computed)."""

    status: Literal["scored", "insufficient_data", "not_scored", "human_only"]
    scorer: str
    dimensions: dict[str, Any]
    rubric_version: str | Absent = ABSENT
    reason: str | Absent = ABSENT
    more: Annotated[dict[str, Any], Rest()] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    """One version of the report: the facts, then the scores."""

    interview_id: str
    version: int
    attempt: int
    candidate: str
    position: str
    state: State
    caused_by: str | None
    progress: Progress
    started_ms: Millis
    answers: list[ReportAnswer]
    interruptions: ReportInterruptions
    generated_ms: Millis
    trigger: str
    scores: Scores
    unreadable: list[Literal["candidate"]] | Absent = ABSENT
    lang: Annotated[str | Absent, Doc("The interview's language: the page's default.")] = ABSENT
    review: Annotated[
        str | Absent,
        Doc('The candidate\'s choice: "ai", "human_only" (no AI score), "" not recorded.'),
    ] = ABSENT
    hr_review: Annotated[
        dict[str, Any] | Absent,
        Doc(
            "A person's review: overrides {dimension: {score, machine_score, reason, by, "
            "at_ms}} and decision {decision, comment, by, at_ms} or null."
        ),
    ] = ABSENT
    more: Annotated[dict[str, Any], Rest()] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class OverrideBody(IgnoresUnknownKeys):
    dimension: Annotated[
        Literal["language_expression", "logical_thinking", "emotional_stability"],
        Doc("The dimension a person scores."),
    ]
    score: Annotated[int, Range(0, 100)]
    reason: Annotated[str, Length(1, 2000), Doc("Required: why; kept beside the machine score.")]


@dataclass(frozen=True, slots=True, kw_only=True)
class DecisionBody(IgnoresUnknownKeys):
    decision: Literal["advance", "hold", "reject"]
    comment: Annotated[str, Length(0, 2000)] = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ComparedDimension:
    machine: Annotated[int | None, Doc("The scorer's score; null: not scored.")]
    status: str
    override: Annotated[int | None, Doc("A person's score, if they gave one.")]
    quote: Annotated[str, Doc("The first evidence quote.")]


@dataclass(frozen=True, slots=True, kw_only=True)
class ComparedCandidate:
    interview_id: str
    candidate: str
    state: State
    progress: Progress
    report_version: Annotated[int, Doc("0: no report yet.")]
    scores_status: str
    recommendation: Annotated[str, Doc("The scorer's advisory suggestion.")]
    dimensions: dict[str, ComparedDimension]
    effective: Annotated[
        dict[str, float | None],
        Doc("Per dimension the override if any, else the machine score; overall: their mean."),
    ]
    decision: dict[str, Any] | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Comparison:
    position: str
    sort: str
    candidates: list[ComparedCandidate]


# --- HR: the candidate's file and the ATS webhook ---------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportOutline:
    """An attempt's latest report version, in outline."""

    version: int
    generated_ms: Millis | Absent = ABSENT
    trigger: str | Absent = ABSENT
    scores_status: Annotated[str | Absent, Doc('"scored", "insufficient_data"...')] = ABSENT
    recommendation: Annotated[str | Absent, Doc("Advisory; a person decides.")] = ABSENT
    decision: Annotated[
        str | Absent, Doc('A person\'s: "advance", "hold", "reject"; "": none yet.')
    ] = ABSENT
    unreadable: Annotated[bool | Absent, Doc("Its sealed record does not open.")] = ABSENT


@dataclass(frozen=True, slots=True, kw_only=True)
class AttemptOutline:
    attempt: int
    current: Annotated[bool, Doc("The attempt in progress now (earlier ones were reset).")]
    state: str
    versions: Annotated[int, Doc("How many report versions it has.")]
    latest: ReportOutline | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ProfileInterview:
    interview_id: str
    candidate: str
    position: str
    state: State
    progress: Progress
    created_ms: Millis
    attempts: list[AttemptOutline]
    unreadable: list[Literal["candidate", "phone", "id_number"]] | Absent = ABSENT


@dataclass(frozen=True, slots=True, kw_only=True)
class CandidateProfile:
    """Every interview of one candidate in the organisation (docs/assessment.md)."""

    profile_id: Annotated[
        str,
        Doc("From the ID-card number, else the phone, and the organisation: stable per org."),
    ]
    candidate: Annotated[str, Doc("The name on the newest interview.")]
    phone: Annotated[str, Doc("Masked.")]
    id_number: Annotated[str, Doc("Masked.")]
    interviews: Annotated[list[ProfileInterview], Doc("Oldest first.")]


WebhookEvent = Literal["report.ready", "decision.made"]


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookBody(IgnoresUnknownKeys):
    url: Annotated[
        str,
        Length(1, 2000),
        Doc("https:// (http:// and private addresses only where the operator allows them)."),
    ]
    events: Annotated[list[WebhookEvent], Length(1, 2)] = field(
        default_factory=lambda: ["report.ready", "decision.made"]
    )
    rotate_secret: Annotated[bool, Doc("Make a new signing secret; the old one stops.")] = False


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookSetting:
    url: Annotated[str, Doc('"": no webhook.')]
    events: list[WebhookEvent]
    secret_fingerprint: Annotated[str, Doc("The first 12 hex digits of the secret's SHA-256.")]
    secret_made_ms: Millis
    secret: Annotated[
        str | Absent, Doc("The signing secret: only in the answer that made it, never again.")
    ] = ABSENT
    deliveries: Annotated[list[Notification], Doc("The newest 100, newest first.")]


@dataclass(frozen=True, slots=True, kw_only=True)
class UnreadableReport:
    """A report version whose sealed record does not open."""

    interview_id: str
    version: int
    unreadable: list[Literal["report"]]


AnyReport = Report | UnreadableReport


# --- answering ------------------------------------------------------------------------------

log = logging.getLogger("interview_hub.http")


def answer(kind: Any, value: Any, status: int = 200) -> JSONResponse:
    """A route's JSON answer of shape ``kind`` (a shape, or a union of shapes): ``value`` is
    an instance, or what a service built, read as the shape.

    A dict that does not fit its shape is our bug (the document and the code drifted
    apart): it is logged as an error, once per shape and problem, and the answer is sent as
    it was built rather than failing the person who asked (tests/server/test_openapi.py
    checks every route's answers against the document)."""
    if _is_instance(value, kind):
        return JSONResponse(write(value), status_code=status)
    try:
        body = conform(kind, value)
    except ShapeError as exc:
        problem = (getattr(kind, "__name__", str(kind)), str(exc))
        if problem not in _DRIFT_REPORTED:
            _DRIFT_REPORTED.add(problem)
            log.error("answer does not fit its documented shape %s: %s", *problem)
        body = value
    return JSONResponse(body, status_code=status)


_DRIFT_REPORTED: set[tuple[str, str]] = set()


def _is_instance(value: Any, kind: Any) -> bool:
    try:
        return isinstance(value, kind)
    except TypeError:  # not a class (e.g. a Literal): read it
        return False


def refused(reason: str, status: int | None = None) -> JSONResponse:
    """The one answer to a refusal, on every endpoint: ``Refused`` with the reason's
    status (protocol.reasons.http_status) unless the route knows better."""
    return answer(Refused, Refused.of(reason), status or http_status(reason))
