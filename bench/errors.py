"""User-facing errors: each becomes one line on stderr and exit code 2 in the CLI."""

from __future__ import annotations

import re

MAX_ERROR_CHARS = 300  # the longest error line the CLI prints
_LONG_TOKEN = 60  # a quoted value or word longer than this is shortened in an error line


def one_line(message: str, limit: int = MAX_ERROR_CHARS) -> str:
    """``message`` as one printable line of at most ``limit`` characters, for stderr.

    Control characters (newlines, NUL, terminal colour codes) and undecodable bytes are shown
    escaped (``\\n``, ``\\x1b``, ``\\udcff``); a value echoed back that is longer than 60 characters
    keeps its first 40 and says how long it was (a path keeps its start and its last 36 characters,
    the file name), so that the sentence around it stays whole.
    """
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in message.strip())

    def shorten(match: re.Match) -> str:
        value = match.group(0)
        if len(value) <= _LONG_TOKEN:
            return value
        if "/" in value[1:] or "\\" in value:  # a path: its file name is what tells the user which file
            return f"{value[:12]}…{value[-36:]}"
        return f"{value[:40]}…({len(value)} characters)"

    if len(text) > limit:
        text = re.sub(r"[^'\s]+", shorten, text)
    if len(text) > limit:
        text = re.sub(r"\S+", shorten, text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class BenchError(Exception):
    """Bad input or an unusable environment; the message is shown to the user as it is."""

    exit_code = 2


class MissingBackendError(BenchError):
    """An optional backend is not installed; the message names the pip extra to install."""

    def __init__(self, what: str, extra: str, package: str):
        super().__init__(f"{what} needs {package}: pip install 'edge-bench[{extra}]'")
