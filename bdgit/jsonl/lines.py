"""The JSONL as lines: its content digest, and the patch that writes only what changed.

**Digest.** What the database last wrote or read is recorded as a digest of the file's lines
(``n:<hex>``: how many non-blank lines, and the sum modulo 2**128 of a 128-bit hash of each),
not of its bytes: a patch changes a few lines, and the digest follows by subtracting the old
lines' hashes and adding the new ones', without reading the rest of the file. Two files with
the same lines in another order (or with blank lines) have one digest; importing either changes
nothing, so taking one for the other is harmless.

**Patch.** After our own write the file is canonical: sorted by id, one line per issue, ``\\n``
after each. While its stat is still the one we recorded (``jsonl_written``), a flush of a few
dirty issues finds each one's line by binary search over the file (mapped, not read), and writes
the new file as the old one's unchanged byte ranges (copied by the kernel) with the new lines in
between: atomically, as every write (temp file, fsync, rename). Any other file (an import of a
pulled file came first, a hand edit, a first write) takes the whole rewrite of ``files.flush``.
"""
from __future__ import annotations

import mmap
import os
from collections.abc import Iterable
from pathlib import Path

_MOD = 1 << 128
#: dirty issues beyond which a whole rewrite is cheaper than finding each line
PATCH_MAX = 5000


def _h(line: bytes) -> int:
    import hashlib  # lazily (~3 ms of OpenSSL): most commands never digest anything
    return int.from_bytes(hashlib.blake2b(line, digest_size=16).digest(), "big")


def _fmt(n: int, total: int) -> str:
    return f"{n}:{total % _MOD:032x}"


def _parse(digest: str) -> tuple[int, int] | None:
    n, sep, total = digest.partition(":")
    if not sep or not n.isdigit() or len(total) != 32:
        return None
    try:
        return int(n), int(total, 16)
    except ValueError:
        return None


def digest_lines(lines: Iterable[str]) -> str:
    """The digest of these lines (each without its newline; blank ones do not count)."""
    n = total = 0
    for line in lines:
        if line.strip():
            n += 1
            total += _h(line.encode())
    return _fmt(n, total)


def digest_text(text: str) -> str:
    """The digest of a file's text (lines split at ``\\n``, a ``\\r`` before it dropped)."""
    return digest_lines(line.rstrip("\r") for line in text.split("\n"))


# --- finding a line ---------------------------------------------------------------------------

def _line_id(raw: bytes) -> bytes:
    """The id of one line of the file (canonical lines start with it; any other is parsed)."""
    if raw.startswith(b'{"id":"'):
        end = raw.find(b'"', 7)
        if end != -1:
            return raw[7:end]
    import json
    try:
        value = json.loads(raw)["id"]
    except (ValueError, KeyError, TypeError):
        raise ValueError("not a JSONL record") from None
    if not isinstance(value, str):
        raise ValueError("not a JSONL record")
    return value.encode()


def find_line(mm: mmap.mmap | bytes, key: bytes, lo: int = 0) -> tuple[int, int, bool]:
    """In a file sorted by id, the byte range ``[start, end)`` (newline included) of the line of
    id ``key``, or the empty range where it would go; and whether it is there. ``lo``: the
    search starts there (the start of a line before which every id is smaller)."""
    size = len(mm)
    hi = size
    while lo < hi:
        mid = (lo + hi) // 2
        start = mm.rfind(b"\n", lo, mid) + 1 if mid > lo else lo
        if start < lo:
            start = lo
        end = mm.find(b"\n", start)
        end = size if end == -1 else end
        if _line_id(bytes(mm[start:end])) < key:
            lo = end + 1
        else:
            hi = start
    if lo >= size:
        return size, size, False
    end = mm.find(b"\n", lo)
    end = size if end == -1 else end
    if _line_id(bytes(mm[lo:end])) == key:
        return lo, min(end + 1, size), True
    return lo, lo, False


# --- the patch -------------------------------------------------------------------------------

class Patch:
    """The new file as ranges of the old one and new lines, with its digest and size."""

    __slots__ = ("parts", "digest", "size", "changed")

    def __init__(self) -> None:
        #: (start, end) of the old file to copy, or the bytes of a new line (newline included)
        self.parts: list[tuple[int, int] | bytes] = []
        self.digest = ""
        self.size = 0
        #: ids whose line changed
        self.changed: list[str] = []


def plan(path: Path, digest: str, fresh: dict[str, str], ids: list[str]) -> Patch | None:
    """The patch that gives every id of ``ids`` its line from ``fresh`` (an id missing from
    ``fresh`` loses its line), for the file at ``path`` whose digest is ``digest``. None when the
    file cannot be patched (not sorted, a line that is not a record): rewrite it whole."""
    parsed = _parse(digest)
    if parsed is None:
        return None
    n, total = parsed
    out = Patch()
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            return None
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        try:
            if mm[size - 1:size] != b"\n":
                return None
            pos = 0
            for iid in sorted(set(ids)):
                key = iid.encode()
                try:
                    start, end, found = find_line(mm, key, pos)
                except ValueError:
                    return None
                new = fresh.get(iid)
                old = bytes(mm[start:end - 1]) if found else None
                if new is not None and old is not None and new.encode() == old:
                    continue
                if start > pos:
                    out.parts.append((pos, start))
                if old is not None:
                    n -= 1
                    total -= _h(old)
                if new is not None:
                    raw = new.encode()
                    out.parts.append(raw + b"\n")
                    n += 1
                    total += _h(raw)
                out.changed.append(iid)
                pos = end
            if pos < size:
                out.parts.append((pos, size))
        finally:
            mm.close()
    out.digest = _fmt(n, total)
    out.size = sum(p[1] - p[0] if isinstance(p, tuple) else len(p) for p in out.parts)
    return out


def write(patch: Patch, src: Path, fd: int) -> None:
    """Write the patched file into ``fd``: the old file's ranges (from ``src``) copied by the
    kernel where it can, the new lines written."""
    with open(src, "rb") as f:
        s = f.fileno()
        for part in patch.parts:
            if isinstance(part, bytes):
                view = memoryview(part)
                while view:
                    view = view[os.write(fd, view):]
                continue
            start, end = part
            while start < end:
                try:
                    k = os.copy_file_range(s, fd, end - start, start)
                except OSError:  # a filesystem without it (or across devices): copy through here
                    k = os.write(fd, os.pread(s, min(end - start, 1 << 20), start))
                if k <= 0:
                    raise OSError(f"could not copy {src}: it changed while it was copied")
                start += k
