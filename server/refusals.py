"""The one refusal: an exception carrying a stable reason code (protocol/reasons.py).

Every service raises it (the candidate's, HR's, the accounts'); the HTTP layer answers it
with ``http_models.refused``, whose status comes from ``protocol.reasons.http_status``, and
the command line prints its message.
"""

from __future__ import annotations


class Refusal(Exception):
    """A refused request; ``reason`` is a protocol.reasons value (with its detail, if any)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


__all__ = ["Refusal"]
