"""The one exception type a user can cause.

Everything that a user can get wrong (a bad path, a corrupt file, a wrong shape, a nonsense
option) raises :class:`LitelabError` with one line that says what is wrong and, where it
helps, what to do instead. The CLI prints that line and exits with code 2; library users
catch it like any other exception.
"""

from __future__ import annotations


class LitelabError(Exception):
    """A user-facing error: one clear line, no traceback."""

    exit_code = 2
