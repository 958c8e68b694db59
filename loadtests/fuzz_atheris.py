"""libFuzzer (atheris) harness over the pure decoders of what a hub receives.

    uv run --with atheris python -m loadtests.fuzz_atheris -atheris_runs=1000000

Every input must either decode or raise ``ProtocolError`` with a reason code, for both the
candidate decoder and the monitor decoder; a message that decodes must survive
``encode`` -> decode unchanged. Any other exception is a finding (libFuzzer writes the
input to ``crash-*``). The live-socket fuzzing is ``tests/server/test_router_fuzz.py``;
see ``docs/fuzzing.md``.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    from protocol.codec import ProtocolError, decode_client, decode_monitor_client, encode


def test_one_input(data: bytes) -> None:
    for decode in (decode_client, decode_monitor_client):
        try:
            msg = decode(data)
        except ProtocolError as exc:
            if not exc.reason:
                raise AssertionError("a ProtocolError without a reason code") from exc
            continue
        again = decode(encode(msg))  # type: ignore[arg-type]
        if again != msg:
            raise AssertionError(f"round trip changed {msg!r} into {again!r}")


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
