"""Creating interviews from a spec (YAML or JSON): validation, tokens, the first snapshot."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from protocol.interview import Snapshot, State
from server import identity
from server.bodies import nested_deeper_than
from server.notify import is_one_address
from server.settings import Settings
from server.store import MASKED_META, Store

ORG_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")  # it goes into key names
MAX_S = 366 * 24 * 3600  # a year: every time stays far below 2**53 ms
MAX_TEXT = 4000
MAX_QUESTIONS = 200
MAX_EXPECTED_POINTS = 10  # per question: short phrases HR expects a good answer to touch
MAX_POINT_TEXT = 200


class SpecError(ValueError):
    """The interview spec is not usable; the message says which field and why."""


@dataclass(frozen=True, slots=True)
class Question:
    text: str
    time_limit_s: int = 0
    # for the assessment (docs/assessment.md): what a good answer touches, and whether this
    # is a pressure/setback question (composure is scored from those answers only)
    expected_points: tuple[str, ...] = ()
    pressure: bool = False

    def rubric(self) -> dict[str, Any]:
        return {"expected_points": list(self.expected_points), "pressure": self.pressure}


@dataclass(frozen=True, slots=True)
class InterviewSpec:
    candidate_name: str
    id_number: str
    phone: str
    position: str
    questions: tuple[Question, ...]
    org: str = "default"
    link_ttl_s: int | None = None
    second_entry: bool = False
    reentry_window_s: int | None = None
    resume_grace_s: int | None = None
    report_auto: bool | None = None  # None: the organisation's default (on unless set off)
    notify: bool = True
    email: str = ""
    lang: str = "zh-CN"

    def __post_init__(self) -> None:
        # here, not only in from_dict: every way of making a spec (API, CLI, bulk) passes
        if self.email and not is_one_address(self.email):
            raise SpecError(
                "candidate.email must be one plain address like name@example.com "
                "(no list, display name or line break)"
            )

    @classmethod
    def from_dict(cls, data: Any) -> InterviewSpec:
        if not isinstance(data, dict):
            raise SpecError("the spec is a mapping with candidate, position, questions, policy")
        cand = data.get("candidate")
        if not isinstance(cand, dict) or not isinstance(cand.get("name"), str):
            raise SpecError("candidate.name is required")
        id_number = str(cand.get("id_number") or "")
        phone = str(cand.get("phone") or "")
        if not identity.normalise(id_number) and not identity.normalise(phone):
            raise SpecError("candidate.id_number or candidate.phone is required")
        position = data.get("position")
        if not isinstance(position, str) or not position:
            raise SpecError("position is required")
        raw_questions = data.get("questions")
        if not isinstance(raw_questions, list) or not raw_questions:
            raise SpecError("questions must be a non-empty list")
        if len(raw_questions) > MAX_QUESTIONS:
            raise SpecError(f"at most {MAX_QUESTIONS} questions")
        questions = []
        for i, q in enumerate(raw_questions):
            if isinstance(q, str):
                q = {"text": q}
            if not isinstance(q, dict) or not isinstance(q.get("text"), str) or not q["text"]:
                raise SpecError(f"questions[{i}].text is required")
            if len(q["text"]) > MAX_TEXT:
                raise SpecError(f"questions[{i}].text is longer than {MAX_TEXT} characters")
            limit = q.get("time_limit_s", 0)
            if not isinstance(limit, int) or isinstance(limit, bool) or not 0 <= limit <= MAX_S:
                raise SpecError(f"questions[{i}].time_limit_s must be 0 to {MAX_S} seconds")
            points = q.get("expected_points") or []
            if (
                not isinstance(points, list)
                or len(points) > MAX_EXPECTED_POINTS
                or not all(isinstance(p, str) and 0 < len(p) <= MAX_POINT_TEXT for p in points)
            ):
                raise SpecError(
                    f"questions[{i}].expected_points must be a list of at most "
                    f"{MAX_EXPECTED_POINTS} phrases of 1 to {MAX_POINT_TEXT} characters"
                )
            pressure = q.get("pressure", False)
            if not isinstance(pressure, bool):
                raise SpecError(f"questions[{i}].pressure must be true or false")
            questions.append(Question(q["text"], limit, tuple(points), pressure))
        policy = data.get("policy") or {}
        if not isinstance(policy, dict):
            raise SpecError("policy must be a mapping")

        def seconds(name: str) -> int | None:
            value = policy.get(name)
            if value is None:
                return None
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_S:
                raise SpecError(f"policy.{name} must be a whole number of seconds, 0 to {MAX_S}")
            return value

        org = str(data.get("org") or "default")
        if not ORG_NAME.fullmatch(org):
            raise SpecError("org must be 1-64 of a-z, 0-9, '.', '_', '-'")
        if len(cand["name"]) > 200 or len(position) > 200:
            raise SpecError("candidate.name and position are at most 200 characters")
        return cls(
            candidate_name=cand["name"],
            id_number=id_number,
            phone=phone,
            position=position,
            questions=tuple(questions),
            org=org,
            link_ttl_s=seconds("link_ttl_s"),
            second_entry=bool(policy.get("second_entry", False)),
            reentry_window_s=seconds("reentry_window_s"),
            resume_grace_s=seconds("resume_grace_s"),
            # policy.grace_exits is ignored: a lost connection is never an exit (SPEC §8.1)
            report_auto=None
            if policy.get("report_auto") is None
            else bool(policy.get("report_auto")),
            notify=bool(policy.get("notify", True)),
            email=str(cand.get("email") or "").strip(),
            lang="en" if cand.get("lang") == "en" else "zh-CN",
        )

    @classmethod
    def from_file(cls, path: Path) -> InterviewSpec:
        """A spec from a YAML or JSON file (``.json``); any problem is a SpecError."""
        with path.open("rb") as f:
            raw = f.read(MAX_SPEC_BYTES + 1)
        if len(raw) > MAX_SPEC_BYTES:
            raise SpecError(f"the spec file is larger than {MAX_SPEC_BYTES // 1024} KiB")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise SpecError("the spec file is not UTF-8 text") from None
        if path.suffix == ".json":
            if nested_deeper_than(raw, MAX_SPEC_DEPTH):
                raise SpecError(f"the spec nests deeper than {MAX_SPEC_DEPTH} levels")
            try:
                data = json.loads(text)
            except ValueError as exc:
                raise SpecError(f"not JSON: {exc}") from None
        else:
            data = load_yaml(text)
        return cls.from_dict(data)


MAX_SPEC_BYTES = 1024 * 1024  # 200 questions of 4,000 characters fit, with room
MAX_SPEC_DEPTH = 32  # a spec is four levels deep; anything far deeper is not a spec


class PlainYamlLoader(yaml.SafeLoader):
    """YAML without anchors and aliases (a few lines of ``&a``/``*a`` can expand to
    billions of nodes: "billion laughs") and without deep nesting (the composer recurses).
    A spec never needs either."""

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        # types-PyYAML leaves Parser.peek_event unannotated (it returns an Event or None)
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise SpecError(
                f"YAML anchors and aliases (&name, *name) are not accepted "
                f"(line {event.start_mark.line + 1})"
            )
        self._depth += 1
        try:
            if self._depth > MAX_SPEC_DEPTH:
                raise SpecError(f"the spec nests deeper than {MAX_SPEC_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def load_yaml(text: str) -> Any:
    """``text`` as plain YAML (PlainYamlLoader); any problem is a SpecError."""
    loader = PlainYamlLoader(text)
    try:
        return loader.get_single_data()
    except yaml.YAMLError as exc:
        raise SpecError(f"not valid YAML: {exc}") from None
    finally:
        loader.dispose()


@dataclass(frozen=True, slots=True)
class CreatedInterview:
    interview_id: str
    token: str
    link: str


async def create_interview(
    store: Store, settings: Settings, spec: InterviewSpec, now: int
) -> CreatedInterview:
    iv_id = identity.new_interview_id()
    token, token_sha = identity.new_token(iv_id)
    link_ttl = spec.link_ttl_s if spec.link_ttl_s is not None else settings.link_ttl_s
    window = (
        spec.reentry_window_s if spec.reentry_window_s is not None else settings.reentry_window_s
    )
    grace = spec.resume_grace_s if spec.resume_grace_s is not None else settings.resume_grace_s
    snap = Snapshot(
        state=State.INVITED,
        version=1,
        time_limits_s=tuple(q.time_limit_s for q in spec.questions),
        link_expires_ms=now + link_ttl * 1000,
        second_entry=spec.second_entry,
        reentry_window_ms=window * 1000,
        resume_grace_ms=grace * 1000,
    )
    report_auto = (
        spec.report_auto if spec.report_auto is not None else await store.org_report_auto(spec.org)
    )
    hashes = [
        identity.keyed_hash(settings.secret, v)
        for v in (spec.id_number, spec.phone)
        if identity.normalise(v)
    ]
    data_key = store.new_data_key(iv_id, now)  # under this month's KEK
    static = {
        "id": iv_id,
        "dek": data_key,
        "org": spec.org,
        "candidate": "",  # sealed below
        "position": spec.position,
        "questions": json.dumps([q.text for q in spec.questions], ensure_ascii=False),
        "question_rubric": json.dumps([q.rubric() for q in spec.questions], ensure_ascii=False),
        "token_sha": token_sha,
        "id_hash": identity.keyed_hash(settings.secret, spec.id_number) if spec.id_number else "",
        "phone_hash": identity.keyed_hash(settings.secret, spec.phone) if spec.phone else "",
        "id_masked": "",  # sealed below
        "phone_masked": "",
        "link_ttl_s": str(link_ttl),
        "report_auto": "1" if report_auto else "0",
        "notify": "1" if spec.notify else "0",
        "disconnects": "0",
        "exits": "0",
        "device": "",
        "last_activity_ms": "0",
    }
    static["profile"] = identity.profile_id(
        settings.secret, spec.org, static["id_hash"], static["phone_hash"]
    )
    # the name, the masked numbers (a mask narrows a keyed hash to 10^4 guesses) and how to
    # reach the candidate are sealed like the answers
    cipher = store.cipher_for(iv_id, data_key)
    static["candidate"] = cipher.seal_text("meta|candidate", spec.candidate_name)
    for field, number in zip(MASKED_META, (spec.id_number, spec.phone), strict=True):
        if identity.normalise(number):
            static[field] = cipher.seal_text(f"meta|{field}", identity.mask(number))
    await store.create(iv_id, snap, static, hashes, now)
    contact = {
        "phone": cipher.seal_text("contact|phone", identity.normalise(spec.phone))
        if spec.phone
        else "",
        "email": cipher.seal_text("contact|email", spec.email) if spec.email else "",
        "lang": spec.lang,
    }
    await store.set_contact(iv_id, {k: v for k, v in contact.items() if v})
    await store.schedule(iv_id, snap.link_expires_ms)
    return CreatedInterview(iv_id, token, f"{settings.base_url}/i/{token}")
