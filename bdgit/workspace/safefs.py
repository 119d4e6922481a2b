"""Opening bd's own files without trusting what is on disk.

Repository content is untrusted: a clone may hold anything in ``.beads/`` (a symbolic link named
``bd.state`` pointing at a file elsewhere, a hard link, a FIFO where the lock file belongs), and
on a shared machine another local user may own or be able to write a directory bd uses. Every
file bd opens in ``.beads/`` (and in the short socket directory) goes through here:

- never through a symbolic link (``O_NOFOLLOW``; directories are ``lstat``-ed), never blocking
  on a FIFO (``O_NONBLOCK``), and only after ``fstat`` of the open descriptor says it is a
  regular file, owned by the current user, with no other hard link;
- directories bd creates are 0700 and runtime files 0600 whatever the umask; files that travel
  with the repository (the JSONL) or sit beside it (the database) get at most the repository
  root's read bits, never write bits for others;
- a replaced file is written by ``files.atomic_write`` (a fresh ``O_EXCL`` temp file, fsync,
  rename); temp files of dead processes are removed by :func:`clean_stale_temps`.

Anything unsafe raises :class:`~bdgit.errors.UnsafePathError` naming the path and what is
wrong; nothing is read or written through it. Ordinary I/O failures (a full disk) stay
``OSError`` for the caller to put in context.

Light on purpose (os, stat, errno, time): the daemon-mode client path imports it.
"""
from __future__ import annotations

import errno
import os
import stat
import time
from typing import Any

from ..errors import LockTimeoutError, UnsafePathError

#: flags added to every open: no symlink, no blocking on a FIFO, no controlling terminal
_SAFE = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
_NOFOLLOW_HINT = "bd never follows symbolic links in .beads/; replace it with a regular file (or remove it)"


def uid() -> int:
    """The effective uid whose files bd trusts (read each time: tests and daemons may switch)."""
    return os.geteuid()


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a directory"),
                       (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISREG, "a regular file")):
        if test(mode):
            return name
    return "not a regular file"


def _owner(n: int) -> str:
    try:
        import pwd  # only on the error path
        return f"{pwd.getpwuid(n).pw_name} (uid {n})"
    except (ImportError, KeyError):
        return f"uid {n}"


def _link_target(path: str | os.PathLike[str]) -> str:
    try:
        return f" (to {os.readlink(path)})"
    except OSError:
        return ""


def _symlink_error(path: str | os.PathLike[str]) -> UnsafePathError:
    return UnsafePathError.at(os.fspath(path), f"is a symbolic link{_link_target(path)}; bd does not follow it",
                           _NOFOLLOW_HINT)


def check_owned(path: str | os.PathLike[str], st: os.stat_result) -> None:
    """Raise UnsafePathError unless ``st`` (of ``path``) belongs to the current user."""
    if st.st_uid != uid():
        raise UnsafePathError.at(os.fspath(path), f"belongs to {_owner(st.st_uid)}, not to you ({_owner(uid())})",
                              "bd uses only files and directories of its own user; run bd as their owner")


def check_regular(path: str | os.PathLike[str], st: os.stat_result) -> None:
    """Raise UnsafePathError unless ``st`` is a regular file of ours with a single link."""
    if not stat.S_ISREG(st.st_mode):
        raise UnsafePathError.at(os.fspath(path), f"is {_kind(st.st_mode)}, not a regular file",
                              "bd only reads and writes regular files in .beads/; move it away")
    check_owned(path, st)
    if st.st_nlink > 1:
        raise UnsafePathError.at(os.fspath(path), f"has {st.st_nlink} hard links; a write would change the "
                              "other names too", "replace it with a file of its own (copy it, then "
                              "move the copy over it)")


def check_dir(path: str | os.PathLike[str], *, private: bool = False) -> os.stat_result:
    """``path`` is a real directory (not a symlink), ours, and not writable by every user (unless
    sticky, as /tmp is: then nobody else can replace what is ours);
    ``private``: no access for group or others at all (the socket directory).
    Raises FileNotFoundError when absent, UnsafePathError otherwise."""
    st = os.lstat(path)
    p = os.fspath(path)
    if stat.S_ISLNK(st.st_mode):
        raise UnsafePathError.at(p, f"is a symbolic link{_link_target(path)}; bd does not follow it",
                              "name the real directory instead (BEADS_DIR or --db), or replace the link "
                              "with a directory")
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafePathError.at(p, f"is {_kind(st.st_mode)}, not a directory")
    check_owned(p, st)
    if private and st.st_mode & 0o077:
        raise UnsafePathError.at(p, f"is open to other users (mode {stat.S_IMODE(st.st_mode):04o}); "
                              "bd needs it private (0700)",
                              "bd does not use it; remove it, or point TMPDIR at a private directory")
    if st.st_mode & stat.S_IWOTH and not st.st_mode & stat.S_ISVTX:  # sticky (/tmp): others cannot replace ours
        raise UnsafePathError.at(p, f"is writable by every user (mode {stat.S_IMODE(st.st_mode):04o}): anyone "
                              "could replace the files in it", f"make it private: chmod 700 {p} "
                              "('bd doctor --fix' does it)")
    return st


def ensure_dir(path: str | os.PathLike[str], mode: int = PRIVATE_DIR, *, private: bool = False) -> bool:
    """Create the directory ``path`` with exactly ``mode`` (whatever the umask), or check the
    existing one as :func:`check_dir` does. Returns True when it was created here."""
    try:
        os.mkdir(path, mode)
    except FileExistsError:
        check_dir(path, private=private)
        return False
    # mkdir applied the umask; fix the mode through a descriptor of the directory we made
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | _SAFE)
    try:
        os.fchmod(fd, mode)
    finally:
        os.close(fd)
    check_dir(path, private=private)
    return True


def make_private(path: str | os.PathLike[str]) -> bool:
    """Tighten a directory of ours to 0700 (``bd init``, ``bd doctor --fix``). Returns True if
    the mode changed. Refuses a symlink or another user's directory (UnsafePathError)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | _SAFE)
    try:
        st = os.fstat(fd)
        check_owned(path, st)
        if stat.S_IMODE(st.st_mode) == PRIVATE_DIR:
            return False
        os.fchmod(fd, PRIVATE_DIR)
        return True
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.ENOTDIR):
            raise _symlink_error(path) from None
        raise
    finally:
        os.close(fd)


def shared_mode(root: str | os.PathLike[str]) -> int:
    """The mode for files that sit beside the repository's own (the JSONL, the database): owner
    read/write plus the read bits the repository root gives group and others; never more."""
    try:
        root_mode = os.stat(root).st_mode
    except OSError:
        return PRIVATE_FILE
    return PRIVATE_FILE | (root_mode & 0o044)


def open_file(path: str | os.PathLike[str], flags: int = os.O_RDONLY, mode: int = PRIVATE_FILE) -> int:
    """Open a regular file of ours; returns the descriptor (the caller closes it).

    ``flags`` may include ``O_CREAT``; a file we create gets exactly ``mode``, and one opened for
    writing loses any permission bit ``mode`` lacks. Raises UnsafePathError for a symlink, a
    FIFO/socket/device/directory, another user's file or one with several hard links;
    FileNotFoundError when it is absent and not created; OSError for I/O errors."""
    try:
        fd = os.open(path, flags | _SAFE, mode)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise _symlink_error(path) from None
        if e.errno in (errno.ENXIO, errno.EISDIR, errno.ENODEV, errno.EOPNOTSUPP):
            try:
                what = _kind(os.lstat(path).st_mode)
            except OSError:
                what = "not a regular file"
            raise UnsafePathError.at(os.fspath(path), f"is {what}, not a regular file",
                                  "bd only reads and writes regular files in .beads/; move it away") from None
        raise
    try:
        st = os.fstat(fd)
        check_regular(path, st)
        if flags & (os.O_WRONLY | os.O_RDWR) and stat.S_IMODE(st.st_mode) & ~mode:
            os.fchmod(fd, stat.S_IMODE(st.st_mode) & mode)
    except BaseException:
        os.close(fd)
        raise
    return fd


def lstat_file(path: str | os.PathLike[str]) -> os.stat_result | None:
    """The ``lstat`` of a file bd reads, or None when there is none. Raises UnsafePathError for
    anything but a regular file of ours with one link (a symlink is not followed)."""
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    if stat.S_ISLNK(st.st_mode):
        raise _symlink_error(path)
    check_regular(path, st)
    return st


def check_sqlite_files(db_path: str | os.PathLike[str]) -> None:
    """The database and the files SQLite keeps beside it (``-wal``, ``-shm``, ``-journal``): each
    absent or a regular file of ours with one link. SQLite opens them by name and follows
    symbolic links, so a planted ``x.db-wal`` link would have it write elsewhere. Raises
    UnsafePathError."""
    p = os.fspath(db_path)
    for suffix in ("", "-wal", "-shm", "-journal"):
        lstat_file(p + suffix)


def exists(path: str | os.PathLike[str]) -> bool:
    """Whether anything (even a dangling symlink) is at ``path``."""
    return os.path.lexists(path)


def read_bytes(path: str | os.PathLike[str], *, limit: int | None = None) -> bytes:
    """The whole content of a regular file of ours (see :func:`open_file`). ``limit``: refuse
    (UnsafePathError) a file larger than that many bytes instead of reading it."""
    fd = open_file(path)
    try:
        size = os.fstat(fd).st_size
        if limit is not None and size > limit:
            raise UnsafePathError.at(os.fspath(path), f"is {size} bytes; at most {limit} are expected here")
        chunks = []
        total = 0
        while True:
            chunk = os.read(fd, max(size - total, 0) + 65536)
            if not chunk:
                break
            total += len(chunk)
            if limit is not None and total > limit:
                raise UnsafePathError.at(os.fspath(path), f"grew past {limit} bytes while being read")
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_text(path: str | os.PathLike[str], *, limit: int | None = None) -> str:
    """:func:`read_bytes` decoded as UTF-8 (UnicodeDecodeError for other bytes)."""
    return read_bytes(path, limit=limit).decode("utf-8")


_tmp_seq = 0


def tmp_name(name: str) -> str:
    """A fresh temp name for replacing ``name``: ``.<name>.tmp.<pid>.<n>``."""
    global _tmp_seq
    _tmp_seq += 1
    return f".{name}.tmp.{os.getpid()}.{_tmp_seq}"


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Make a rename in ``path`` durable (best effort: some filesystems refuse)."""
    try:
        dfd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:  # pragma: no cover - filesystem dependent
        pass
    finally:
        os.close(dfd)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _tmp_pid(name: str) -> int | None:
    """The pid in a temp file name ``.<name>.tmp.<pid>[.<n>]``, or None for other names."""
    if not name.startswith(".") or ".tmp." not in name:
        return None
    tail = name.rsplit(".tmp.", 1)[1].split(".")
    if not 1 <= len(tail) <= 2 or not all(t.isdigit() for t in tail):
        return None
    return int(tail[0])


def clean_stale_temps(directory: str | os.PathLike[str]) -> list[str]:
    """Remove temp files left in ``directory`` by processes that are gone (a crash or a full
    disk mid-write): regular files of ours, and links planted under such names. Returns the
    names removed. Files of live processes (and of this one) are left alone."""
    removed: list[str] = []
    try:
        names = os.listdir(directory)
    except OSError:
        return removed
    me = os.getpid()
    for name in names:
        pid = _tmp_pid(name)
        if pid is None or pid == me or _pid_alive(pid):
            continue
        p = os.path.join(directory, name)
        try:
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode) or (stat.S_ISREG(st.st_mode) and st.st_uid == uid()):
                os.unlink(p)
                removed.append(name)
        except OSError:
            continue
    return removed


class FileLock:
    """An exclusive ``flock`` on a file in ``.beads/``, opened as :func:`open_file` does.

    Reentrant per instance (the daemon's writer takes it again while holding it); use one
    instance per thread otherwise. Interoperates with any other ``flock`` user of the file.

        lock = FileLock(".beads/bd.lock", timeout=30)
        with lock:                       # or: with lock.acquire(timeout=5):
            ...
    """

    def __init__(self, path: str | os.PathLike[str], timeout: float = -1) -> None:
        self.path = os.fspath(path)
        self.timeout = timeout
        self._fd: int | None = None
        self._depth = 0

    @property
    def is_locked(self) -> bool:
        return self._depth > 0

    def acquire(self, timeout: float | None = None) -> _Held:
        """Take the lock, waiting up to ``timeout`` seconds (negative: forever). Raises
        LockTimeoutError when another process keeps it that long, UnsafePathError when the file
        is not a regular file of ours. Returns a context manager that releases it once."""
        import fcntl
        if self._depth:
            self._depth += 1
            return _Held(self)
        wait = self.timeout if timeout is None else timeout
        fd = open_file(self.path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE)
        try:
            deadline = time.monotonic() + wait if wait >= 0 else None
            pause = 0.001
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if deadline is not None and time.monotonic() >= deadline:
                        raise LockTimeoutError(
                            f"another process held {self.path} for more than {wait:g}s",
                            "wait for it to finish and retry; the lock is released when its process "
                            "exits") from None
                    time.sleep(pause)
                    pause = min(pause * 2, 0.02)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self._depth = 1
        return _Held(self)

    def release(self) -> None:
        if not self._depth:
            return
        self._depth -= 1
        if self._depth == 0 and self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)  # closing the only descriptor releases the flock

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


class _Held:
    """What :meth:`FileLock.acquire` returns: ``with`` releases that one acquisition."""

    __slots__ = ("lock",)

    def __init__(self, lock: FileLock) -> None:
        self.lock = lock

    def __enter__(self) -> FileLock:
        return self.lock

    def __exit__(self, *exc: Any) -> None:
        self.lock.release()
