"""Writing files in the workspace: the one atomic write.

Every file bd writes whole (the JSONL, status and stamp files, hook scripts, the merge
driver's result) goes through ``atomic_write``: a temp file in the same directory, fsync,
rename over the target, fsync of the directory. Readers see the old or the new file, never a
part; a failure removes the temp file and leaves the target as it was.
"""
from __future__ import annotations

import os
from pathlib import Path

#: temp files are named ``.<name>.tmp.<pid>`` (ignored by the workspace's .gitignore)
TMP_MARK = ".tmp."


def atomic_write(path: str | os.PathLike[str], data: str | bytes, *, mode: int = 0o644, exact_mode: bool = False,
                 durable: bool = True) -> None:
    """Replace ``path`` with ``data`` atomically: the file gets ``mode`` less the umask, or exactly
    ``mode`` with ``exact_mode`` (an executable hook script). ``durable=False`` skips the fsyncs,
    for hints that may be lost in a power cut (the hooks' stamp) but must never be torn.

    Raises OSError (disk full, permissions, ...) after removing the temp file; the target is
    then unchanged."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}{TMP_MARK}{os.getpid()}")
    raw = data.encode() if isinstance(data, str) else data
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode)
    try:
        try:
            if exact_mode:
                os.fchmod(fd, mode)
            view = memoryview(raw)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    if not durable:
        return
    try:
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:  # pragma: no cover - some filesystems refuse fsync on directories
        pass
