"""The one rule for git conflict markers in a JSONL: a line that starts with ``<<<<<<<``,
``>>>>>>>`` or ``|||||||`` (diff3), or is exactly ``=======``. No JSON line starts that way,
so such a line means a merge left the file half-resolved."""
from __future__ import annotations

_STARTS = ("<<<<<<<", ">>>>>>>", "|||||||")
_STARTS_B = tuple(s.encode() for s in _STARTS)


def is_marker(line: str) -> bool:
    """Whether one line (without its newline) is a conflict marker."""
    return line.startswith(_STARTS) or line.rstrip("\r") == "======="


def find_marker(data: bytes | str) -> int | None:
    """The 1-based number of the first marker line in ``data``, or None."""
    raw = data.encode() if isinstance(data, str) else data
    if b"<<<<<<<" not in raw and b">>>>>>>" not in raw and b"=======" not in raw and b"|||||||" not in raw:
        return None  # the common case: one scan, no split
    for n, line in enumerate(raw.split(b"\n"), start=1):
        if line.startswith(_STARTS_B) or line.rstrip(b"\r") == b"=======":
            return n
    return None
