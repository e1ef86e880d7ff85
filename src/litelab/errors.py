"""The one exception type a user can cause.

Everything that a user can get wrong (a bad path, a corrupt file, a wrong shape, a nonsense
option) raises :class:`LitelabError` with one line that says what is wrong and, where it
helps, what to do instead. The CLI prints that line and exits with code 2; library users
catch it like any other exception.
"""

from __future__ import annotations

from collections.abc import Iterable


class LitelabError(Exception):
    """A user-facing error: one clear line, no traceback."""

    exit_code = 2


def one_of(what: str, value: object, choices: Iterable[object], *, hint: str = "") -> None:
    """Raise :class:`LitelabError` unless ``value`` is one of ``choices``.

    The one message format for a value outside its allowed set, e.g.
    ``unknown optimizer 'adamw'; choose one of adam, sgd, nesterov, rmsprop``.
    """
    allowed = list(choices)
    if value not in allowed:
        raise LitelabError(unknown(what, value, allowed, hint=hint))


def unknown(what: str, value: object, choices: Iterable[object], *, hint: str = "") -> str:
    """The message :func:`one_of` raises, for callers that raise another error type."""
    text = f"unknown {what} {value!r}; choose one of {', '.join(str(c) for c in choices)}"
    return f"{text} {hint}".rstrip()
