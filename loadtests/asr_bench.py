"""What transcription costs here: model load time, and CPU seconds per minute of audio.

    uv run python -m loadtests.asr_bench [--minutes 1] [--threads 1] [--model whisper-base]

Speaks English (espeak-ng, 150 words a minute, with pauses) and Mandarin (espeak-ng's
cmn-latn-pinyin voice) for about ``--minutes`` each, and transcribes them the way the worker
does (server/asr.py: int8 on the CPU, word times, voice activity). CPU time is the process'
user + system time around each call (getrusage), so it counts every thread of the model.
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

from server import asr
from server.settings import Settings
from tests.speech import espeak, silence, word_error_rate

ENGLISH = [
    "I led a team of engineers to rebuild the billing system.",
    "The old system failed every month and the customers were unhappy.",
    "First we measured where the errors came from, then we fixed the worst ones.",
    "Because we tested every change, the new system has been stable since March.",
    "I learned that a clear plan and honest reporting matter more than speed.",
]
PINYIN = [
    "wo3 men5 tuan2 dui4 you3 wu3 ge4 gong1 cheng2 shi1",
    "shou3 xian1 wo3 men5 fen1 xi1 le5 wen4 ti2 de5 yuan2 yin1",
    "ran2 hou4 wo3 men5 xiu1 gai3 le5 xi4 tong3",
]
HANZI = "我们团队有五个工程师首先我们分析了问题的原因然后我们修改了系统"


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def speech(lines: list[str], voice: str, seconds: float) -> tuple[bytes, str]:
    pcm, said = b"", []
    while len(pcm) < seconds * 32_000:
        for line in lines:
            pcm += espeak(line, voice) + silence(800)
            said.append(line)
    return pcm, " ".join(said)


def measure(engine: asr.Engine, pcm: bytes, lang: str) -> tuple[dict[str, float], str]:
    before_cpu, before = cpu_s(), time.perf_counter()
    record = asr.transcribe_answer(engine, pcm, lang, 700, 0)
    cpu, wall = cpu_s() - before_cpu, time.perf_counter() - before
    audio_min = record["audio_ms"] / 60_000
    figures = {
        "audio_s": round(record["audio_ms"] / 1000, 1),
        "cpu_s": round(cpu, 1),
        "wall_s": round(wall, 1),
        "cpu_s_per_audio_min": round(cpu / audio_min, 1),
        "wall_x_audio": round(wall / (audio_min * 60), 2),
    }
    return figures, str(record["text"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--model", default="whisper-base")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as cache:
        settings = Settings(asr=args.model, asr_cache=cache, asr_threads=args.threads)
        started = time.perf_counter()
        asr.model_dir(args.model, Path(cache))
        join_s = time.perf_counter() - started
        engine = asr.WhisperEngine(args.model, settings)
        engine.load()  # the cached file: checked once more, then loaded
        load_s = engine.load_s
        en_pcm, en_said = speech(ENGLISH, "en", args.minutes * 60)
        en, en_text = measure(engine, en_pcm, "en")
        zh_pcm, _ = speech(PINYIN, "cmn-latn-pinyin", args.minutes * 60)
        zh, zh_text = measure(engine, zh_pcm, "zh-CN")
    en["wer"] = round(word_error_rate(en_said, en_text), 3)
    zh["heard"] = zh_text[:80]
    zh["said"] = HANZI
    print(
        json.dumps(
            {
                "model": args.model,
                "threads": args.threads,
                "join_and_hash_s": round(join_s, 1),
                "load_s": round(load_s, 1),
                "en": en,
                "zh": zh,
            },
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
