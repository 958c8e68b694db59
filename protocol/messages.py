"""The wire messages of interview-hub.v1, one frozen dataclass each.

Names per direction follow one habit each: what a client sends is a command (``Join``,
``SendChunk``, ``FinishAnswer``, ``RequestExit`` ...); what the server sends is a fact
(``Joined``, ``ChunkAcked``, ``AnswerSaved``, ``ExitPreviewed`` ...). Every message is a
msgpack map whose ``type`` key holds the class's ``TYPE``; the other keys are the fields.
``protocol/SPEC.md`` documents each one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True, slots=True)
class Progress:
    """How far the candidate is: closed questions out of the total."""

    answered: int  # answered fully, or closed by the question's time limit
    partial: int  # interrupted by an exit: kept, but not counted as answered
    total: int

    @property
    def percent(self) -> int:
        return (self.answered * 100) // self.total if self.total else 100

    def to_wire(self) -> dict[str, int]:
        return {
            "answered": self.answered,
            "partial": self.partial,
            "total": self.total,
            "percent": self.percent,
        }


# --- client → server: commands ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Join:
    """First message on a candidate socket: the invitation token and an identity proof."""

    TYPE: ClassVar[str] = "join"
    token: str
    identity: str  # the candidate's ID-card number or phone number
    device: str = ""  # free text the client chooses, e.g. its user agent
    # an opaque id the client keeps per device (its own earlier socket is not "another
    # device"); left off the wire when empty, so a join without it keeps its bytes
    device_id: str = field(default="", metadata={"omit_default": True})


@dataclass(frozen=True, slots=True)
class SendChunk:
    """A piece of the answer to question ``q``; ``seq`` counts from 1 per question."""

    TYPE: ClassVar[str] = "chunk"
    q: int
    seq: int
    data: str | bytes


@dataclass(frozen=True, slots=True)
class FinishAnswer:
    """The answer to ``q`` is complete; ``last_seq`` is its final chunk (0: empty answer)."""

    TYPE: ClassVar[str] = "finish"
    q: int
    last_seq: int


@dataclass(frozen=True, slots=True)
class RequestExit:
    """The candidate pressed exit: ask for the progress and what happens on exit."""

    TYPE: ClassVar[str] = "exit_request"


@dataclass(frozen=True, slots=True)
class CancelExit:
    """The candidate closed the confirm dialog and stays."""

    TYPE: ClassVar[str] = "exit_cancel"


@dataclass(frozen=True, slots=True)
class ConfirmExit:
    """The candidate confirmed the exit."""

    TYPE: ClassVar[str] = "exit_confirm"


# --- server → client: facts ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Joined:
    """Identity accepted; ``mode`` says whether this starts, resumes or re-enters."""

    TYPE: ClassVar[str] = "joined"
    interview_id: str
    mode: str  # "start" | "resume" | "reenter"
    candidate: str
    position: str
    progress: Progress
    second_entry: bool
    reentry_window_s: int
    resume_grace_s: int


@dataclass(frozen=True, slots=True)
class QuestionStarted:
    """The current question. ``acked_seq`` is the last chunk already stored for it."""

    TYPE: ClassVar[str] = "question"
    q: int
    text: str
    total: int
    time_limit_s: int  # 0: no limit
    deadline_ms: int  # server time (ms since the epoch) when time is up; 0: no limit
    acked_seq: int


@dataclass(frozen=True, slots=True)
class ChunkAcked:
    """Every chunk of ``q`` up to and including ``seq`` is stored (cumulative)."""

    TYPE: ClassVar[str] = "ack"
    q: int
    seq: int


@dataclass(frozen=True, slots=True)
class AnswerSaved:
    """Question ``q`` is closed: ``status`` is "answered", "timed_out" or "partial"."""

    TYPE: ClassVar[str] = "answer_saved"
    q: int
    status: str
    last_seq: int
    progress: Progress


@dataclass(frozen=True, slots=True)
class ExitPreviewed:
    """What an exit would mean now: progress, what stays saved, whether re-entry is open."""

    TYPE: ClassVar[str] = "exit_preview"
    progress: Progress
    current_q: int  # -1 when no question is open
    saved_seq: int  # chunks of the current answer already stored (kept as partial)
    reentry_allowed: bool
    reentry_until_ms: int  # 0 when re-entry is not allowed


@dataclass(frozen=True, slots=True)
class Exited:
    """The exit is done and everything is saved; the socket closes with 4000 next."""

    TYPE: ClassVar[str] = "exited"
    progress: Progress
    partial_q: int  # the interrupted question, kept as partial; -1 if none
    reentry_allowed: bool
    reentry_until_ms: int


@dataclass(frozen=True, slots=True)
class Completed:
    """Every question is closed; the socket closes with 4001 next."""

    TYPE: ClassVar[str] = "completed"
    progress: Progress


@dataclass(frozen=True, slots=True)
class Ended:
    """HR ended the interview; the socket closes with 4003 next."""

    TYPE: ClassVar[str] = "ended"
    by: str
    note: str


@dataclass(frozen=True, slots=True)
class TakenOver:
    """Another device joined this interview; the socket closes with 4002 next."""

    TYPE: ClassVar[str] = "taken_over"
    device: str


@dataclass(frozen=True, slots=True)
class Refused:
    """A command was refused. ``fatal``: the server closes the socket right after."""

    TYPE: ClassVar[str] = "refused"
    reason: str
    message: dict[str, str] = field(default_factory=dict)  # {"en": ..., "zh-CN": ...}
    refused_type: str = ""  # the type of the refused message, "" when unreadable
    expected_seq: int = 0  # with seq_gap / answer_incomplete: the seq the server wants next
    fatal: bool = False


# --- HR monitor socket (subprotocol interview-hub.monitor.v1) ------------------------------


@dataclass(frozen=True, slots=True)
class Authenticate:
    """First message on a monitor socket unless the handshake carried the session cookie."""

    TYPE: ClassVar[str] = "auth"
    token: str


@dataclass(frozen=True, slots=True)
class Watch:
    """Follow one interview ("" : the whole organisation) from the given stream offsets.

    ``after_event`` / ``after_chunk``: "" live from now, "0" from the beginning, or the last
    id this monitor received (a reconnect replays what it missed, nothing twice).
    """

    TYPE: ClassVar[str] = "watch"
    interview_id: str
    after_event: str = ""
    after_chunk: str = ""


@dataclass(frozen=True, slots=True)
class Unwatch:
    TYPE: ClassVar[str] = "unwatch"
    interview_id: str


@dataclass(frozen=True, slots=True)
class EndInterview:
    """HR ends an interview from the monitor (needs interview.end, and confirm)."""

    TYPE: ClassVar[str] = "end"
    interview_id: str
    confirm: bool
    note: str = ""


@dataclass(frozen=True, slots=True)
class MonitorReady:
    TYPE: ClassVar[str] = "ready"
    user: str
    org: str
    permissions: list[str]


@dataclass(frozen=True, slots=True)
class Watching:
    """The interview's state when the watch began; events and chunks follow, each after
    the offset given here (what "from now" meant, or what the watch asked for): a monitor
    that drops before its first entry watches again from these and misses nothing."""

    TYPE: ClassVar[str] = "watching"
    interview_id: str
    summary: dict[str, Any]
    after_event: str = ""
    after_chunk: str = ""


@dataclass(frozen=True, slots=True)
class LiveEvent:
    """One event of an interview (joined, exit_requested, exited, ended, ...): ``id`` is
    its offset in the watched stream: the interview's, or for an organisation watch
    (``watch`` == "") the organisation's."""

    TYPE: ClassVar[str] = "event"
    watch: str  # the Watch.interview_id this event answers ("" : the organisation)
    interview_id: str
    id: str
    t: int
    kind: str
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class LiveChunk:
    """One stored answer chunk, as it arrives; ``id`` is its offset in the chunk stream."""

    TYPE: ClassVar[str] = "chunk"
    interview_id: str
    id: str
    t: int
    q: int
    seq: int
    data: str | bytes


@dataclass(frozen=True, slots=True)
class Behind:
    """The offset asked for is no longer kept: reload the state, then watch from now."""

    TYPE: ClassVar[str] = "behind"
    interview_id: str
    stream: str


@dataclass(frozen=True, slots=True)
class EndDone:
    TYPE: ClassVar[str] = "end_done"
    interview_id: str
    state: str


# --- v2: media signalling (camera and microphone over WebRTC, SPEC §16) -----------------


@dataclass(frozen=True, slots=True)
class MediaOffer:
    """The client's WebRTC offer (SDP, ICE gathering complete: no trickle)."""

    TYPE: ClassVar[str] = "media_offer"
    sdp: str


@dataclass(frozen=True, slots=True)
class MediaStop:
    """The client turns its camera and microphone off (text answers go on), and says why
    (e.g. ``no_camera``, ``permission_denied``, ``ice_failed``; shown to HR)."""

    TYPE: ClassVar[str] = "media_stop"
    reason: str = ""


@dataclass(frozen=True, slots=True)
class MediaAnswer:
    """The hub's WebRTC answer (SDP, with its ICE candidates)."""

    TYPE: ClassVar[str] = "media_answer"
    sdp: str


@dataclass(frozen=True, slots=True)
class MediaState:
    """Where the media connection is: connecting, connected, failed, closed (and why)."""

    TYPE: ClassVar[str] = "media_state"
    state: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Ping:
    """v2: is the hub still there? A browser cannot send websocket pings, and a dead network
    path (no FIN, no RST) is only noticed by silence: the hub answers with ``pong``."""

    TYPE: ClassVar[str] = "ping"


@dataclass(frozen=True, slots=True)
class Pong:
    """v2: the answer to a ``ping``."""

    TYPE: ClassVar[str] = "pong"


@dataclass(frozen=True, slots=True)
class LiveMedia:
    """Monitor: one stored media entry (a JPEG frame, or a second of 16 kHz PCM audio)."""

    TYPE: ClassVar[str] = "media"
    interview_id: str
    id: str
    t: int
    q: int
    kind: str  # "jpeg" | "pcm16k"
    level: int  # audio level 0..100 (pcm16k); 0 for frames
    data: bytes


MonitorClientMessage = Authenticate | Watch | Unwatch | EndInterview
MonitorServerMessage = (
    LiveChunk | LiveEvent | LiveMedia | MonitorReady | Watching | Behind | EndDone | Refused
)
MediaClientMessage = MediaOffer | MediaStop | Ping
MediaServerMessage = MediaAnswer | MediaState | Pong

ClientMessage = SendChunk | Join | FinishAnswer | RequestExit | CancelExit | ConfirmExit
ServerMessage = (
    ChunkAcked
    | Joined
    | QuestionStarted
    | AnswerSaved
    | ExitPreviewed
    | Exited
    | Completed
    | Ended
    | TakenOver
    | Refused
)
Message = (
    ClientMessage
    | ServerMessage
    | MonitorClientMessage
    | MonitorServerMessage
    | MediaClientMessage
    | MediaServerMessage
)

CLIENT_TYPES: dict[str, type[ClientMessage]] = {
    cls.TYPE: cls for cls in (SendChunk, Join, FinishAnswer, RequestExit, CancelExit, ConfirmExit)
}
SERVER_TYPES: dict[str, type[ServerMessage]] = {
    cls.TYPE: cls
    for cls in (
        ChunkAcked,
        Joined,
        QuestionStarted,
        AnswerSaved,
        ExitPreviewed,
        Exited,
        Completed,
        Ended,
        TakenOver,
        Refused,
    )
}

MONITOR_CLIENT_TYPES: dict[str, type[MonitorClientMessage]] = {
    cls.TYPE: cls for cls in (Authenticate, Watch, Unwatch, EndInterview)
}
MONITOR_SERVER_TYPES: dict[str, type[MonitorServerMessage]] = {
    cls.TYPE: cls
    for cls in (LiveChunk, LiveEvent, LiveMedia, MonitorReady, Watching, Behind, EndDone, Refused)
}
# v2 adds these to a candidate socket (both directions): media signalling and the heartbeat
MEDIA_CLIENT_TYPES: dict[str, type[MediaClientMessage]] = {
    cls.TYPE: cls for cls in (MediaOffer, MediaStop, Ping)
}
MEDIA_SERVER_TYPES: dict[str, type[MediaServerMessage]] = {
    cls.TYPE: cls for cls in (MediaAnswer, MediaState, Pong)
}
