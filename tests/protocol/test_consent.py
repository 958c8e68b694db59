"""The rule for the candidate's choices after the notice (protocol/consent.py)."""

from __future__ import annotations

from protocol.consent import Consent, choose, video_allowed


def test_human_only_review_is_never_undone_by_the_rule() -> None:
    """The pure rule: human-only may be asked at any time; a later "ai" is refused; the camera may be withdrawn; bad values are bad_field."""
    start = Consent()
    ai = choose(start, "ai", "on", "1", 10)
    assert ai.changed and ai.consent == Consent("ai", "on", 10, "1")
    human = choose(ai.consent, "human_only", "on", "1", 20)
    assert human.changed and human.consent.review == "human_only"
    assert choose(human.consent, "ai", "on", "1", 30).refusal == "human_review_kept"
    off = choose(human.consent, "human_only", "off", "1", 40)
    assert off.changed and off.consent == Consent("human_only", "off", 40, "1")
    assert not choose(off.consent, "human_only", "off", "1", 50).changed
    assert choose(start, "maybe", "on", "1", 1).refusal == "bad_field"
    assert choose(start, "ai", "yes", "1", 1).refusal == "bad_field"
    assert video_allowed("on") and not video_allowed("off") and not video_allowed(None)


def test_the_meta_fields_round_trip() -> None:
    """The choices read back from the meta as written, and absent fields read as not recorded."""
    chosen = Consent("human_only", "off", 123, "1")
    assert Consent.from_meta(chosen.to_meta()) == chosen
    assert Consent.from_meta({}).to_record() == {
        "review": "",
        "camera": "",
        "consent_ms": 0,
        "notice": "",
    }
