"""Changing entries of the user's git index, holding ``index.lock`` as briefly as git does.

The new index is built *before* the lock is taken: the current index is read, libgit2 sets
our entries on a private copy (which also invalidates the cached trees above them), and each
entry's stat data is set from the file we committed, so git sees the path as clean with no
re-hash; the result goes into a private temp file next to the index. Then, under
``index.lock`` (O_CREAT|O_EXCL, like git), we check that the index is still the one we read
(same size and trailing checksum), let the caller move its branch ref, rename our temp file
over the index and remove the lock. The hold is a few system calls whatever the size of the
index, never a write of it, a tree build or a network call, and those calls keep the GIL
(``_Libc``) so that the daemon's other threads cannot stretch it.
"""
from __future__ import annotations

import errno
import hashlib
import os
import struct
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pygit2

from .repo import git_dir
from .syscalls import libc


class IndexBusy(Exception):
    """Someone else (usually the user's git) holds ``index.lock``."""


class IndexChanged(Exception):
    """The index changed between our read and our lock: prepare again."""


@dataclass
class Prepared:
    data: bytes                       # the complete new index file
    base: bytes | None                # the index it was built from (None: there was none)
    staged: pygit2.Oid | None         # the first entry's blob before our change (None: not in the index)
    conflicted: bool                  # the first entry's path has unmerged stages
    others: dict[str, pygit2.Oid | None] = field(default_factory=dict)  # the other entries' blobs before


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


#: one entry to set: (path relative to the work tree, blob, mode, the file's stat)
Entry = tuple[str, pygit2.Oid, int, os.stat_result]


def prepare(repo: pygit2.Repository, rel: str, blob: pygit2.Oid, mode: int, st: os.stat_result,
            extra: list[Entry] | tuple[Entry, ...] = ()) -> Prepared:
    """Build the index with ``rel`` set to ``blob`` (stat data from ``st``), and each of
    ``extra`` likewise, without locking. Nothing is built when ``rel`` has conflict stages."""
    path = index_path(repo)
    tmp = path.with_name(f"bd-index.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        raw: bytes | None = path.read_bytes()
    except FileNotFoundError:
        raw = None
    entries: list[Entry] = [(rel, blob, mode, st), *extra]
    try:
        if raw is not None:
            tmp.write_bytes(raw)
        idx = pygit2.Index(str(tmp))
        conflicted = False
        if raw is not None and idx.conflicts is not None:
            conflicted = any(rel in {s.path for s in c if s is not None} for c in idx.conflicts)
        before: dict[str, pygit2.Oid | None] = {}
        for r, _, _, _ in entries:
            try:
                before[r] = idx[r].id
            except KeyError:
                before[r] = None
        staged = before.pop(rel)
        if conflicted:
            return Prepared(b"", raw, staged, True, before)
        for r, b, m, _ in entries:
            idx.add(pygit2.IndexEntry(r, b, pygit2.enums.FileMode(m)))
        idx.write()
        data = tmp.read_bytes()
    finally:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
    for r, _, _, s in entries:
        data = set_stat(data, r.encode(), s)
    return Prepared(data, raw, staged, False, before)


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


class Lock:
    """``index.lock`` taken the way git takes it, with the new index already in it.

    ``write`` puts the complete new index into a private temp file first (nothing visible);
    ``acquire`` gives that file the name ``index.lock`` with one ``link`` (atomic, and like
    git's O_EXCL it fails when the lock exists: IndexBusy); ``commit`` renames the lock over
    the index. So the lock exists for a check and the caller's ref rename only, whatever the
    index's size. Where hard links are not supported, ``acquire`` creates the lock (O_EXCL)
    and writes the data into it. Between ``acquire`` and ``commit``/``rollback`` nothing gives
    the GIL away (see ``_Libc``). ``discard`` removes the temp file afterwards."""

    def __init__(self, repo: pygit2.Repository) -> None:
        self.index = index_path(repo)
        self.path = self.index.with_name("index.lock")
        self.tmp = self.index.with_name(f"bd-index-new.{os.getpid()}.{threading.get_ident()}.tmp")
        self._index_b = os.fsencode(self.index)
        self._path_b = os.fsencode(self.path)
        self._tmp_b = os.fsencode(self.tmp)
        self.data = b""
        self.held = False
        self.written = False
        self.sys = libc()

    def write(self, data: bytes) -> None:
        """Before the hold: the complete new index into our temp file."""
        self.data = data
        fd = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0), 0o666)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        self.written = True

    def acquire(self) -> None:
        """Take the lock (one attempt); IndexBusy if someone holds it."""
        assert self.written
        try:
            self.sys.link(self._tmp_b, self._path_b)
        except FileExistsError:
            raise IndexBusy(str(self.path)) from None
        except OSError as e:
            if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
                raise
            self._acquire_by_writing()
        self.held = True

    def _acquire_by_writing(self) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(self.path, flags, 0o666)
        except FileExistsError:
            raise IndexBusy(str(self.path)) from None
        try:
            view = memoryview(self.data)
            while view:
                view = view[os.write(fd, view):]
        except BaseException:
            os.close(fd)
            os.unlink(self.path)
            raise
        os.close(fd)

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

    def commit(self) -> None:
        """Rename the lock (our new index) over the index: the lock is released with it."""
        assert self.held
        self.held = False
        self.sys.rename(self._path_b, self._index_b)

    def rollback(self) -> None:
        if self.held:
            self.held = False
            try:
                self.sys.unlink(self._path_b)
            except FileNotFoundError:
                pass

    def discard(self) -> None:
        if self.written:
            self.written = False
            try:
                os.unlink(self.tmp)
            except FileNotFoundError:
                pass
