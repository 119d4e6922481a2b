"""Data shown to a human cannot drive their terminal.

Titles, descriptions, labels, assignees and comments arrive from other people through a pulled
JSONL. Printed raw, an ESC, OSC, CR or BEL in them could clear the screen, set the window
title, rewrite earlier lines or hide text; bidirectional overrides could show text in another
order than it is stored. Human output passes data through :func:`clean` (or
:func:`clean_data` for whole records), which writes such characters as visible escapes
(``\\x1b``, ``\\r``, ``\\u202e``). ``--json`` output is never cleaned: it keeps exact values
(JSON escapes control characters itself).
"""
from __future__ import annotations

import re
from typing import Any

from ..lazyre import Lazy

#: C0 controls but tab and newline, DEL, C1 controls, and bidirectional controls
_UNSAFE_MULTI = Lazy("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
#: the same, plus tab and newline (one-line fields)
_UNSAFE_LINE = Lazy("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}

#: record keys whose values are prose: newlines and tabs stay
MULTILINE_KEYS = frozenset({"description", "design", "notes", "acceptance_criteria", "text", "comment",
                            "reason", "close_reason"})


def _escape(m: re.Match[str]) -> str:
    c = m.group()
    named = _NAMED.get(c)
    if named:
        return named
    n = ord(c)
    return f"\\x{n:02x}" if n < 0x100 else f"\\u{n:04x}"


def clean(text: str, *, multiline: bool = False) -> str:
    """``text`` with every character that a terminal would act on written as an escape;
    ``multiline`` keeps newlines and tabs."""
    if text.isprintable():  # the common case, checked in C
        return text
    return (_UNSAFE_MULTI if multiline else _UNSAFE_LINE).sub(_escape, text)


#: bd's own colours (SGR: ESC [ digits m), which ``clean_output`` leaves alone
_SGR = Lazy("(\x1b\\[[0-9;]*m)")


def clean_output(text: str) -> str:
    """A line bd is about to print: every control character escaped except newlines, tabs and
    bd's own colour codes. The safety net under the renderers, which clean data fully first."""
    if text.isprintable():
        return text
    parts = _SGR.split(text)
    for n in range(0, len(parts), 2):  # even parts are not colour codes
        parts[n] = clean(parts[n], multiline=True)
    return "".join(parts)


def clean_data(obj: Any, key: str | None = None) -> Any:
    """A copy of ``obj`` (dicts, lists, strings) with every string cleaned; values of
    :data:`MULTILINE_KEYS` keep their newlines. Keys are bd's own and stay as they are."""
    if isinstance(obj, str):
        return clean(obj, multiline=key in MULTILINE_KEYS)
    if isinstance(obj, dict):
        return {k: clean_data(v, k) for k, v in obj.items()}
    if isinstance(obj, list):
        return [clean_data(v, key) for v in obj]
    return obj
