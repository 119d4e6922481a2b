"""Changing one entry of the user's git index, holding ``index.lock`` as briefly as git does.

The new index is built *before* the lock is taken: the current index is read, libgit2 sets
the one entry on a private copy (which also invalidates the cached trees above it), and the
entry's stat data is set from the file we committed, so git sees the path as clean with no
re-hash. Then, under ``index.lock`` (O_CREAT|O_EXCL, like git), we check that the index is
still the one we read (same size and trailing checksum), write the prepared bytes, let the
caller move its branch ref, and rename the lock over the index. The hold is one small write
and one ref update, never a tree build or a network call, and its system calls keep the GIL
(``_Libc``) so that the daemon's other threads cannot stretch it.
"""
from __future__ import annotations

import errno
import hashlib
import os
import struct
import threading
from dataclasses import dataclass
from pathlib import Path

import pygit2

from .repo import git_dir


class IndexBusy(Exception):
    """Someone else (usually the user's git) holds ``index.lock``."""


class IndexChanged(Exception):
    """The index changed between our read and our lock: prepare again."""


@dataclass
class Prepared:
    data: bytes                       # the complete new index file
    base: bytes | None                # the index it was built from (None: there was none)
    staged: pygit2.Oid | None         # the entry's blob before our change (None: not in the index)
    conflicted: bool                  # the path has unmerged stages


def index_path(repo: pygit2.Repository) -> Path:
    return git_dir(repo) / "index"


def read_entry(repo: pygit2.Repository, rel: str) -> tuple[pygit2.Oid | None, bool]:
    """(the staged blob of ``rel`` or None, whether it has conflict stages)."""
    idx = pygit2.Index(str(index_path(repo))) if index_path(repo).exists() else pygit2.Index()
    conflicted = False
    if idx.conflicts is not None:
        conflicted = any(rel in {s.path for s in c if s is not None} for c in idx.conflicts)
    try:
        return idx[rel].id, conflicted
    except KeyError:
        return None, conflicted


def prepare(repo: pygit2.Repository, rel: str, blob: pygit2.Oid, mode: int, st: os.stat_result) -> Prepared:
    """Build the index with ``rel`` set to ``blob`` (stat data from ``st``), without locking."""
    path = index_path(repo)
    tmp = path.with_name(f"bd-index.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        raw: bytes | None = path.read_bytes()
    except FileNotFoundError:
        raw = None
    try:
        if raw is not None:
            tmp.write_bytes(raw)
        idx = pygit2.Index(str(tmp))
        conflicted = False
        if raw is not None and idx.conflicts is not None:
            conflicted = any(rel in {s.path for s in c if s is not None} for c in idx.conflicts)
        try:
            staged = idx[rel].id
        except KeyError:
            staged = None
        if conflicted:
            return Prepared(b"", raw, staged, True)
        idx.add(pygit2.IndexEntry(rel, blob, pygit2.enums.FileMode(mode)))
        idx.write()
        data = tmp.read_bytes()
    finally:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
    return Prepared(set_stat(data, rel.encode(), st), raw, staged, False)


def _varint(data: bytes, off: int) -> tuple[int, int]:
    """git's offset varint (index v4 path prefix lengths): (value, new offset)."""
    c = data[off]
    off += 1
    val = c & 127
    while c & 128:
        c = data[off]
        off += 1
        val = ((val + 1) << 7) | (c & 127)
    return val, off


def set_stat(data: bytes, path: bytes, st: os.stat_result) -> bytes:
    """The index ``data`` with the stat fields of ``path``'s entry set from ``st`` and the
    trailing checksum recomputed. Understands index versions 2, 3 and 4 (SHA-1 repositories)."""
    if data[:4] != b"DIRC":
        raise ValueError("not a git index file")
    version, count = struct.unpack_from(">II", data, 4)
    if version not in (2, 3, 4):
        raise ValueError(f"unsupported index version {version}")
    off = 12
    prev = b""
    for _ in range(count):
        start = off
        (flags,) = struct.unpack_from(">H", data, start + 60)
        off = start + 62
        if version >= 3 and flags & 0x4000:
            off += 2
        if version == 4:
            strip, off = _varint(data, off)
            end = data.index(b"\0", off)
            name = prev[:len(prev) - strip] + data[off:end]
            off = end + 1
        else:
            end = data.index(b"\0", off)
            name = data[off:end]
            off = start + (((end - start) + 8) & ~7)
        if name == path:
            m = 0xFFFFFFFF
            stat = struct.pack(">IIIIIIIIII", int(st.st_ctime) & m, st.st_ctime_ns % 1_000_000_000,
                               int(st.st_mtime) & m, st.st_mtime_ns % 1_000_000_000, st.st_dev & m,
                               st.st_ino & m, struct.unpack_from(">I", data, start + 24)[0], st.st_uid & m,
                               st.st_gid & m, st.st_size & m)
            body = data[:start] + stat + data[start + 40:-20]
            return body + hashlib.sha1(body).digest()
        prev = name
    raise ValueError(f"{path.decode()} is not in the index")


class _Libc:
    """open/write/read/lseek/close/rename/unlink from libc through ``ctypes.PyDLL``: unlike
    ``os.*`` these calls keep the GIL, so a busy daemon's other threads cannot stretch the few
    system calls we make while holding ``index.lock`` (each ``os`` call gives the GIL away and
    may wait milliseconds to get it back). Falls back to ``os`` where libc cannot be loaded."""

    def __init__(self) -> None:
        import ctypes
        import ctypes.util
        lib = None
        for name in (None, ctypes.util.find_library("c")):
            try:
                cand = ctypes.PyDLL(name, use_errno=True)
                cand.open, cand.write, cand.read, cand.lseek, cand.close, cand.rename, cand.unlink  # noqa: B018
                lib = cand
                break
            except (OSError, AttributeError, TypeError):
                continue
        self.ok = lib is not None and os.name == "posix"
        if lib is None or not self.ok:
            return
        c = ctypes
        self._ct = c
        lib.open.argtypes, lib.open.restype = [c.c_char_p, c.c_int, c.c_uint], c.c_int
        lib.write.argtypes, lib.write.restype = [c.c_int, c.c_char_p, c.c_size_t], c.c_ssize_t
        lib.read.argtypes, lib.read.restype = [c.c_int, c.c_char_p, c.c_size_t], c.c_ssize_t
        lib.lseek.argtypes, lib.lseek.restype = [c.c_int, c.c_int64, c.c_int], c.c_int64
        lib.close.argtypes, lib.close.restype = [c.c_int], c.c_int
        lib.rename.argtypes, lib.rename.restype = [c.c_char_p, c.c_char_p], c.c_int
        lib.unlink.argtypes, lib.unlink.restype = [c.c_char_p], c.c_int
        self.lib = lib

    def _err(self, what: str) -> OSError:
        e = self._ct.get_errno()
        return OSError(e, f"{what}: {os.strerror(e)}")

    def open(self, path: bytes, flags: int, mode: int = 0o666) -> int:
        if not self.ok:
            return os.open(path, flags, mode)
        fd = self.lib.open(path, flags, mode)
        if fd < 0:
            err = self._err("open")
            if err.errno == errno.EEXIST:
                raise FileExistsError(err.errno, err.strerror, path.decode())
            if err.errno == errno.ENOENT:
                raise FileNotFoundError(err.errno, err.strerror, path.decode())
            raise err
        return fd

    def write_all(self, fd: int, data: bytes) -> None:
        if not self.ok:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            return
        off = 0
        while off < len(data):
            chunk = data[off:]
            n = self.lib.write(fd, chunk, len(chunk))
            if n < 0:
                raise self._err("write")
            off += n

    def tail(self, fd: int, n: int) -> tuple[int, bytes]:
        """(file size, its last ``n`` bytes)."""
        if not self.ok:
            size = os.lseek(fd, 0, os.SEEK_END)
            os.lseek(fd, max(size - n, 0), os.SEEK_SET)
            return size, os.read(fd, n)
        size = self.lib.lseek(fd, 0, os.SEEK_END)
        if size < 0:
            raise self._err("lseek")
        self.lib.lseek(fd, max(size - n, 0), os.SEEK_SET)
        buf = self._ct.create_string_buffer(n)
        got = self.lib.read(fd, buf, n)
        if got < 0:
            raise self._err("read")
        return size, buf.raw[:got]

    def read_all(self, fd: int, size: int) -> bytes:
        if not self.ok:
            os.lseek(fd, 0, os.SEEK_SET)
            return os.read(fd, size)
        self.lib.lseek(fd, 0, os.SEEK_SET)
        buf = self._ct.create_string_buffer(size)
        got = self.lib.read(fd, buf, size)
        if got < 0:
            raise self._err("read")
        return buf.raw[:got]

    def close(self, fd: int) -> None:
        if not self.ok:
            os.close(fd)
        elif self.lib.close(fd) < 0:
            raise self._err("close")

    def rename(self, a: bytes, b: bytes) -> None:
        if not self.ok:
            os.rename(a, b)
        elif self.lib.rename(a, b) < 0:
            raise self._err("rename")

    def unlink(self, path: bytes) -> None:
        if not self.ok:
            os.unlink(path)
        elif self.lib.unlink(path) < 0:
            err = self._err("unlink")
            if err.errno == errno.ENOENT:
                raise FileNotFoundError(err.errno, err.strerror, path.decode())
            raise err


_libc: _Libc | None = None


def libc() -> _Libc:
    global _libc
    if _libc is None:
        _libc = _Libc()
    return _libc


class Lock:
    """``index.lock`` taken the way git takes it. ``acquire`` raises IndexBusy at once if held.
    Between ``acquire`` and ``commit``/``rollback`` nothing gives the GIL away (see ``_Libc``)."""

    def __init__(self, repo: pygit2.Repository) -> None:
        self.index = index_path(repo)
        self.path = self.index.with_name("index.lock")
        self._index_b = os.fsencode(self.index)
        self._path_b = os.fsencode(self.path)
        self.fd: int | None = None
        self.sys = libc()

    def acquire(self) -> None:
        """Take the lock (one O_EXCL attempt); IndexBusy if someone holds it."""
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
        try:
            self.fd = self.sys.open(self._path_b, flags, 0o666)
        except FileExistsError:
            raise IndexBusy(str(self.path)) from None

    def check(self, base: bytes | None) -> None:
        """Raise IndexChanged unless the index is still ``base`` (its size and trailing
        checksum; the whole content when the checksum is zeros, as with index.skipHash).
        Meaningful under the lock; before it, a cheap way to skip a hold that would fail."""
        try:
            fd = self.sys.open(self._index_b, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError:
            if base is None:
                return
            raise IndexChanged() from None
        try:
            if base is None:
                raise IndexChanged()
            size, tail = self.sys.tail(fd, 20)
            if size != len(base) or tail != base[-20:]:
                raise IndexChanged()
            if tail == bytes(20) and self.sys.read_all(fd, size) != base:
                raise IndexChanged()
        finally:
            self.sys.close(fd)

    def write(self, data: bytes) -> None:
        assert self.fd is not None
        self.sys.write_all(self.fd, data)

    def commit(self) -> None:
        """Close and rename the lock over the index."""
        assert self.fd is not None
        fd, self.fd = self.fd, None
        self.sys.close(fd)
        self.sys.rename(self._path_b, self._index_b)

    def rollback(self) -> None:
        if self.fd is not None:
            fd, self.fd = self.fd, None
            try:
                self.sys.close(fd)
            finally:
                try:
                    self.sys.unlink(self._path_b)
                except FileNotFoundError:
                    pass
