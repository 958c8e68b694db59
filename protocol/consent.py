"""The candidate's choices before recording and AI assessment: the rule for changing them.

A candidate records, after reading the notice (docs/privacy.md), how they want to be
assessed (``review``: "ai", the AI assists HR; "human_only", no AI score is computed) and
whether the camera may record their face (``camera``: "on" or "off", a separate consent for
face data, PIPL Art. 29). Both sit in the interview's meta; absent means "not recorded".

The rule: human-only review may be asked for at any time and is never undone by the
candidate's side (a later "ai" is refused); the camera consent may be given or withdrawn.
Pure: no clock, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocol.reasons import Reason

REVIEWS = ("ai", "human_only")
CAMERAS = ("on", "off")


@dataclass(frozen=True, slots=True)
class Consent:
    """One set of choices, as stored in the meta (``consent_ms`` 0: never recorded)."""

    review: str = ""  # "ai" | "human_only"; "": not recorded
    camera: str = ""  # "on" | "off"; "": not recorded
    consent_ms: int = 0
    notice: str = ""  # the version of the notice the candidate was shown

    @classmethod
    def from_meta(cls, meta: dict[str, str]) -> Consent:
        return cls(
            review=meta.get("review", ""),
            camera=meta.get("camera", ""),
            consent_ms=int(meta.get("consent_ms", 0) or 0),
            notice=meta.get("consent_notice", ""),
        )

    def to_meta(self) -> dict[str, str]:
        return {
            "review": self.review,
            "camera": self.camera,
            "consent_ms": str(self.consent_ms),
            "consent_notice": self.notice,
        }

    def to_record(self) -> dict[str, str | int]:
        """As HR, the report and the candidate centre show it (ConsentRecord)."""
        return {
            "review": self.review,
            "camera": self.camera,
            "consent_ms": self.consent_ms,
            "notice": self.notice,
        }


@dataclass(frozen=True, slots=True)
class ConsentChange:
    """What a request does: the new choices, or why not; ``changed`` False: as before."""

    consent: Consent
    refusal: str | None = None
    changed: bool = False


def video_allowed(camera: str | None) -> bool:
    """Face data is stored only with its own, recorded consent (the meta's ``camera``)."""
    return camera == "on"


def choose(current: Consent, review: str, camera: str, notice: str, now: int) -> ConsentChange:
    """Apply the candidate's request ``review``/``camera`` (read against the notice version
    ``notice``) to ``current``, at ``now``."""
    if review not in REVIEWS or camera not in CAMERAS or not notice:
        return ConsentChange(current, Reason.BAD_FIELD)
    if current.review == "human_only" and review != "human_only":
        return ConsentChange(current, Reason.HUMAN_REVIEW_KEPT)
    if (current.review, current.camera, current.notice) == (review, camera, notice):
        return ConsentChange(current)
    return ConsentChange(Consent(review, camera, now, notice), changed=True)


__all__ = ["CAMERAS", "REVIEWS", "Consent", "ConsentChange", "choose", "video_allowed"]
