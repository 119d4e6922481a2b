"""Checking a large JSONL file on two cores: the second half in a forked process.

Decoding and checking a line costs far more than sending its decoded object back (pickle is
several times faster than ``json.loads`` plus the checks), so for a large file (``bd init`` in
a clone of a big workspace) a child process parses the second half of the lines while this one
parses the first. The result is the one ``parse_range`` gives over all the lines: the records
in line order, the warnings in line order, and the first bad line's error (the first half's
error comes first; the child's is raised only when the first half is good).

Forking is done only where it is safe and cheap: a platform with ``fork`` and a process with a
single thread (the daemon's worker threads could hold locks the child would need). Anywhere
else, and whenever the child fails for any reason of its own (killed, out of memory), this
process parses the second half itself: the outcome never depends on the child.
"""
from __future__ import annotations

import os
import pickle
import threading
from typing import Any

from ..errors import ImportFormatError
from .parse import Record, parse_range


def parse_halves(raws: list[str], strict: bool, known: dict[str, str] | None,
                 clean: bool) -> tuple[list[Record], list[str]]:
    """``parse`` of the lines ``raws``, the second half checked by a child process when one can
    be forked safely. Raises ImportFormatError naming the first bad line."""
    mid = len(raws) // 2
    records: list[Record] = []
    warnings: list[str] = []
    pid, fd = _fork_child(raws, mid, strict, known, clean)
    try:
        parse_range(raws, 0, mid, strict, known, clean, records, warnings)
        got = _receive(pid, fd)
        pid = fd = -1
    finally:
        if pid > 0:  # the first half failed: the child's work is not needed
            _reap(pid, fd, kill=True)
    if got is None:  # no child, or it failed: the second half here
        parse_range(raws, mid, len(raws), strict, known, clean, records, warnings)
        return records, warnings
    kind, payload, more = got
    warnings.extend(more)
    if kind == "error":
        message, hint, details = payload
        raise ImportFormatError(message, hint, **details)
    for n, obj, created_us, updated_us, iid in payload:
        records.append(Record(n, raws[n - 1].rstrip("\r"), obj, created_us, updated_us, iid))
    return records, warnings


def _fork_child(raws: list[str], mid: int, strict: bool, known: dict[str, str] | None,
                clean: bool) -> tuple[int, int]:
    """(pid, read end of its pipe) of a child parsing ``raws[mid:]``, or (-1, -1) when none."""
    if not hasattr(os, "fork") or threading.active_count() != 1:
        return -1, -1
    r, w = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(r)
        os.close(w)
        return -1, -1
    if pid == 0:  # the child: parse, send, and leave without running any of the parent's exit code
        status = 1
        try:
            os.close(r)
            out: tuple[str, Any, list[str]]
            recs: list[Record] = []
            warns: list[str] = []
            try:
                parse_range(raws, mid, len(raws), strict, known, clean, recs, warns)
                out = ("ok", [(rec.line_no, rec._obj, rec._created_us, rec._updated_us,
                               rec._id if rec._obj is None else None) for rec in recs], warns)
            except ImportFormatError as e:
                out = ("error", (e.message, e.hint, e.details), warns)
            data = pickle.dumps(out, protocol=pickle.HIGHEST_PROTOCOL)
            with os.fdopen(w, "wb") as f:
                f.write(data)
            status = 0
        finally:
            os._exit(status)
    os.close(w)
    return pid, r


def _receive(pid: int, fd: int) -> tuple[str, Any, list[str]] | None:
    """The child's answer, or None when there is no child or it did not finish its work."""
    if pid < 0:
        return None
    with os.fdopen(fd, "rb") as f:
        data = f.read()
    _, status = os.waitpid(pid, 0)
    if status != 0 or not data:
        return None
    try:
        got: tuple[str, Any, list[str]] = pickle.loads(data)
    except Exception:  # a truncated answer: the child died while writing
        return None
    return got


def _reap(pid: int, fd: int, kill: bool) -> None:
    import signal
    if kill:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    os.close(fd)
    os.waitpid(pid, 0)
