"""Changing one entry of the user's git index, holding ``index.lock`` as briefly as git does.

The new index is built *before* the lock is taken: the current index is read, libgit2 sets
the one entry on a private copy (which also invalidates the cached trees above it), and the
entry's stat data is set from the file we committed, so git sees the path as clean with no
re-hash. Then, under ``index.lock`` (O_CREAT|O_EXCL, like git), we check that the index is
still the one we read (git always replaces it by rename, so its inode changes), write the
prepared bytes, let the caller move its branch ref, and rename the lock over the index. The
hold is one small write and one ref update: never a tree build or a network call.
"""
from __future__ import annotations

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
    key: tuple[int, int, int] | None  # (inode, size, mtime_ns) of the index it was built from
    staged: pygit2.Oid | None         # the entry's blob before our change (None: not in the index)
    conflicted: bool                  # the path has unmerged stages


def index_path(repo: pygit2.Repository) -> Path:
    return git_dir(repo) / "index"


def _key(st: os.stat_result) -> tuple[int, int, int]:
    return (st.st_ino, st.st_size, st.st_mtime_ns)


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
    key = None
    try:
        with open(path, "rb") as f:
            key = _key(os.fstat(f.fileno()))
            raw = f.read()
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
            return Prepared(b"", key, staged, True)
        idx.add(pygit2.IndexEntry(rel, blob, mode))
        idx.write()
        data = tmp.read_bytes()
    finally:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
    return Prepared(set_stat(data, rel.encode(), st), key, staged, False)


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
    """``index.lock`` taken the way git takes it. ``acquire`` raises IndexBusy at once if held."""

    def __init__(self, repo: pygit2.Repository) -> None:
        self.index = index_path(repo)
        self.path = self.index.with_name("index.lock")
        self.fd: int | None = None

    def acquire(self) -> None:
        try:
            self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            raise IndexBusy(str(self.path)) from None

    def check(self, key: tuple[int, int, int] | None) -> None:
        """Raise IndexChanged unless the index is still the one ``key`` describes."""
        try:
            now = _key(os.stat(self.index))
        except FileNotFoundError:
            now = None
        if now != key:
            raise IndexChanged()

    def write(self, data: bytes) -> None:
        assert self.fd is not None
        view = memoryview(data)
        while view:
            n = os.write(self.fd, view)
            view = view[n:]

    def commit(self) -> None:
        """Close and rename the lock over the index."""
        assert self.fd is not None
        os.close(self.fd)
        self.fd = None
        os.rename(self.path, self.index)

    def rollback(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
