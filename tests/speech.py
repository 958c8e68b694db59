"""Real speech for the transcription tests: espeak-ng's voices, at 16 kHz, and a word error rate."""

from __future__ import annotations

import re
import subprocess
import tempfile
import wave
from pathlib import Path
from typing import Any

import numpy as np

RATE = 16_000


def espeak(text: str, voice: str = "en", words_per_minute: int = 150) -> bytes:
    """``text`` spoken by espeak-ng, as 16 kHz mono 16-bit PCM (espeak speaks at 22050 Hz)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "speech.wav"
        subprocess.run(
            ["espeak-ng", "-v", voice, "-s", str(words_per_minute), "-w", str(out), text],
            check=True,
            capture_output=True,
        )
        with wave.open(str(out)) as w:
            rate, frames = w.getframerate(), w.readframes(w.getnframes())
            assert w.getnchannels() == 1 and w.getsampwidth() == 2
    samples = np.frombuffer(frames, dtype="<i2").astype(np.float64)
    times = np.arange(int(len(samples) * RATE / rate)) / RATE
    resampled = np.interp(times, np.arange(len(samples)) / rate, samples)
    return resampled.round().astype("<i2").tobytes()


def silence(ms: int) -> bytes:
    return b"\x00\x00" * (RATE * ms // 1000)


def write_wav(path: Path, pcm: bytes, rate: int = RATE) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    return path


def seconds_of(pcm: bytes, start_ms: int) -> list[dict[str, Any]]:
    """``pcm`` cut into one-second segments with their times, as server/media.py stores
    them: a segment's time is when its second was complete."""
    out = []
    for n, at in enumerate(range(0, len(pcm), RATE * 2)):
        piece = pcm[at : at + RATE * 2]
        out.append({"n": n, "data": piece, "t": start_ms + (at + len(piece)) * 1000 // (RATE * 2)})
    return out


def words_of(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def word_error_rate(reference: str, heard: str) -> float:
    """(substitutions + deletions + insertions) / reference words (Levenshtein on words)."""
    ref, hyp = words_of(reference), words_of(heard)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        previous, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (r != h))
    return row[len(hyp)] / max(1, len(ref))
