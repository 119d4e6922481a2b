"""Moving a branch the way git does (files backend), in steps we can order around index.lock.

git updates a loose ref by creating ``<ref>.lock`` (O_EXCL), writing the new id into it and
renaming it over the ref, then appending a reflog line. We take the ref's lock and check its
value *before* taking ``index.lock`` (a git that wants the ref meanwhile retries for up to
``core.filesRefLockTimeout``, 100 ms by default), so that inside the index hold the ref update
is a single rename; the reflog is appended after both locks are released. Repositories with
another ref storage (reftable) are not handled here: ``supported`` says so and the caller
falls back to libgit2's compare-and-swap.
"""
from __future__ import annotations

import os
import time

import pygit2

from .syscalls import libc
from .repo import common_dir, config_get, git_dir


def supported(repo: pygit2.Repository) -> bool:
    storage = (config_get(repo, "extensions.refStorage") or "files").lower()
    return storage == "files"


class RefBusy(Exception):
    """Another process holds the ref's lock."""


class Unsupported(Exception):
    """The ref is not a plain loose/packed ref (symbolic, or unreadable): use libgit2."""


class RefLock:
    def __init__(self, repo: pygit2.Repository, ref: str) -> None:
        self.repo = repo
        self.ref = ref
        self.common = common_dir(repo)
        self.path = self.common / ref
        self.lock = self.path.with_name(self.path.name + ".lock")
        self._path_b = os.fsencode(self.path)
        self._lock_b = os.fsencode(self.lock)
        self.fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.fd = os.open(self.lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
        except FileExistsError:
            raise RefBusy(str(self.lock)) from None

    def current(self) -> pygit2.Oid | None:
        """The ref's value now (loose file, else packed-refs); None when it does not exist."""
        try:
            text = self.path.read_text().strip()
        except FileNotFoundError:
            return self._packed()
        except (IsADirectoryError, OSError):
            raise Unsupported(self.ref) from None
        if text.startswith("ref:") or len(text) != 40:
            raise Unsupported(self.ref)
        return pygit2.Oid(hex=text)

    def _packed(self) -> pygit2.Oid | None:
        try:
            with open(self.common / "packed-refs", encoding="utf-8") as f:
                for line in f:
                    if line.startswith(("#", "^")):
                        continue
                    sha, _, name = line.rstrip("\n").partition(" ")
                    if name == self.ref:
                        return pygit2.Oid(hex=sha)
        except FileNotFoundError:
            return None
        return None

    def write(self, new: pygit2.Oid) -> None:
        assert self.fd is not None
        os.write(self.fd, f"{new}\n".encode())

    def commit(self) -> None:
        """Rename the lock over the ref (libc: keeps the GIL, see ``syscalls``)."""
        assert self.fd is not None
        fd, self.fd = self.fd, None
        sys_ = libc()
        sys_.close(fd)
        sys_.rename(self._lock_b, self._path_b)

    def rollback(self) -> None:
        if self.fd is not None:
            fd, self.fd = self.fd, None
            try:
                os.close(fd)
            finally:
                try:
                    os.unlink(self.lock)
                except FileNotFoundError:
                    pass

    def log(self, old: pygit2.Oid | None, new: pygit2.Oid, message: str, sig: pygit2.Signature, *,
            head: bool) -> None:
        """Append the reflog lines git would (the branch's, and HEAD's when it points there)."""
        always = (config_get(self.repo, "core.logAllRefUpdates") or "true").lower() not in ("false", "0", "no", "off")
        zero = "0" * 40
        offset = -time.altzone if time.localtime().tm_isdst > 0 and time.daylight else -time.timezone
        tz = f"{'+' if offset >= 0 else '-'}{abs(offset) // 3600:02d}{abs(offset) % 3600 // 60:02d}"
        msg = " ".join(message.split())
        line = f"{old or zero} {new} {sig.name} <{sig.email}> {int(time.time())} {tz}\t{msg}\n"
        paths = [self.common / "logs" / self.ref]
        if head:
            paths.append(git_dir(self.repo) / "logs" / "HEAD")
        for p in paths:
            if not p.exists() and not always:
                continue
            try:
                p.parent.mkdir(parents=True, exist_ok=True)
                with open(p, "a", encoding="utf-8") as f:
                    f.write(line)
            except OSError:
                continue  # a reflog is a convenience: never fail a commit for it
