"""Writing files in the workspace: the one atomic write.

Every file bd writes whole (the JSONL, status and stamp files, hook scripts, the merge
driver's result) goes through ``atomic_write``: a fresh temp file in the same directory, fsync,
rename over the target, fsync of the directory. Readers see the old or the new file, never a
part; a failure (a full disk) removes the temp file and leaves the target as it was.

The temp file is created with ``O_EXCL | O_NOFOLLOW`` under a name of this process
(``.<name>.tmp.<pid>.<n>``): a name planted in advance, even as a symbolic link to a file
elsewhere, is skipped and never opened. Temp files of processes that died mid-write are removed
by ``safefs.clean_stale_temps``.
"""
from __future__ import annotations

import os
from collections.abc import Callable

from . import safefs

#: temp files are named ``.<name>.tmp.<pid>.<n>`` (ignored by the workspace's .gitignore)
TMP_MARK = ".tmp."


def atomic_write(path: str | os.PathLike[str], data: str | bytes, *, mode: int = 0o644, exact_mode: bool = False,
                 durable: bool = True, check_target: bool = False) -> None:
    """Replace ``path`` with ``data`` atomically: the file gets ``mode`` less the umask, or exactly
    ``mode`` with ``exact_mode`` (a hook script; bd's own files in ``.beads/``). ``durable=False``
    skips the fsyncs, for hints that may be lost in a power cut (the hooks' stamp) but must
    never be torn. ``check_target``: a file in ``.beads/``: refuse (UnsafePathError) when
    ``path`` exists as anything but a regular file of ours with one link.

    Raises OSError (disk full, permissions, ...) after removing the temp file; the target is
    then unchanged."""
    raw = data.encode() if isinstance(data, str) else data

    def fill(fd: int) -> None:
        view = memoryview(raw)
        while view:
            n = os.write(fd, view)
            view = view[n:]
    atomic_write_with(path, fill, mode=mode, exact_mode=exact_mode, durable=durable, check_target=check_target)


def atomic_write_with(path: str | os.PathLike[str], fill: Callable[[int], None], *, mode: int = 0o644,
                      exact_mode: bool = False, durable: bool = True, check_target: bool = False) -> None:
    """``atomic_write`` for content that ``fill(fd)`` writes into the temp file (the JSONL's
    patch copies the unchanged parts of the old file in the kernel). The same rules and
    errors; an exception from ``fill`` removes the temp file and propagates."""
    p = os.fspath(path)
    if check_target:
        safefs.lstat_file(p)
    parent, name = os.path.split(p)
    for attempt in range(100):
        tmp = os.path.join(parent, safefs.tmp_name(name))
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
            break
        except FileExistsError:  # planted (or left by a dead process with our pid): next name
            if attempt == 99:
                raise
    try:
        try:
            if exact_mode:
                os.fchmod(fd, mode)
            fill(fd)
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, p)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    if durable:
        safefs.fsync_dir(parent or ".")
