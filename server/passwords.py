"""The password policy for HR accounts: applied when a password is set (add, change, reset).

A password is refused, with a reason that says which rule it broke, when it is

- shorter than ``min_length`` characters (``password_too_short:<min_length>``);
- the user name, ignoring case (``password_is_user_name``);
- one of the 30 000 most common passwords, or scores below 3 of 4 in zxcvbn's estimate
  (common words, names, dates, keyboard patterns, repeats, the user's own name or
  organisation: ``password_too_common``).

The common-password list and the estimator come with the ``zxcvbn`` package (Dropbox's
estimator, ported to Python); nothing is fetched at run time.
"""

from __future__ import annotations

import functools

from protocol.reasons import Reason

# zxcvbn: 3 = "safely unguessable: moderate protection from an offline slow-hash scenario"
MIN_SCORE = 3
# zxcvbn's matching grows quickly with the length; the first 72 characters decide (a
# password whose first 72 characters are strong is strong)
ESTIMATE_CHARS = 72
MAX_PASSWORD_CHARS = 1024  # longer is a mistake or an attack on the hashing


@functools.cache
def common_passwords() -> frozenset[str]:
    """zxcvbn's 30 000 most common passwords, loaded when a password is first checked."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def policy_refusal(password: str, user: str, min_length: int, org: str = "") -> str | None:
    """The reason ``password`` may not be ``user``'s password, or None when it may."""
    if len(password) < min_length:
        return f"{Reason.PASSWORD_TOO_SHORT}:{min_length}"
    if len(password) > MAX_PASSWORD_CHARS:
        return Reason.BAD_FIELD
    if password.casefold() == user.casefold():
        return Reason.PASSWORD_IS_USER_NAME
    if password.casefold() in common_passwords():
        return Reason.PASSWORD_TOO_COMMON
    from zxcvbn import zxcvbn

    hints = [h for h in (user, org, *user.replace("_", ".").replace("-", ".").split(".")) if h]
    if zxcvbn(password[:ESTIMATE_CHARS], user_inputs=hints)["score"] < MIN_SCORE:
        return Reason.PASSWORD_TOO_COMMON
    return None
