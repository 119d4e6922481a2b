"""System calls that keep the GIL: libc through ``ctypes.PyDLL``.

Each ``os.*`` call gives the GIL away, and in a busy daemon getting it back can take
milliseconds (another thread runs for its switch interval). The few system calls of the index
hold (``indexfile``, ``refs``) and of the last look at the user's git (``busy``) must follow
each other within a fraction of a millisecond, so they go through here. Light: os, sys, ctypes.
"""
from __future__ import annotations

import errno
import os
import sys


class _Libc:
    """open/read/lseek/close/rename/unlink/link/readlink and directory listing from libc through
    ``ctypes.PyDLL``: unlike ``os.*`` these calls keep the GIL. Falls back to ``os`` where libc
    cannot be loaded."""

    def __init__(self) -> None:
        import ctypes
        import ctypes.util
        lib = None
        for name in (None, ctypes.util.find_library("c")):
            try:
                cand = ctypes.PyDLL(name, use_errno=True)
                cand.open, cand.read, cand.lseek, cand.close, cand.rename, cand.unlink, cand.link  # noqa: B018
                cand.readlink, cand.opendir, cand.readdir, cand.closedir  # noqa: B018
                lib = cand
                break
            except (OSError, AttributeError, TypeError):
                continue
        self.ok = lib is not None and os.name == "posix"
        self.dirent_ok = False
        if lib is None or not self.ok:
            return
        c = ctypes
        self._ct = c
        lib.open.argtypes, lib.open.restype = [c.c_char_p, c.c_int, c.c_uint], c.c_int
        lib.read.argtypes, lib.read.restype = [c.c_int, c.c_char_p, c.c_size_t], c.c_ssize_t
        lib.lseek.argtypes, lib.lseek.restype = [c.c_int, c.c_int64, c.c_int], c.c_int64
        lib.close.argtypes, lib.close.restype = [c.c_int], c.c_int
        lib.rename.argtypes, lib.rename.restype = [c.c_char_p, c.c_char_p], c.c_int
        lib.unlink.argtypes, lib.unlink.restype = [c.c_char_p], c.c_int
        lib.link.argtypes, lib.link.restype = [c.c_char_p, c.c_char_p], c.c_int
        lib.readlink.argtypes, lib.readlink.restype = [c.c_char_p, c.c_char_p, c.c_size_t], c.c_ssize_t
        lib.opendir.argtypes, lib.opendir.restype = [c.c_char_p], c.c_void_p
        lib.closedir.argtypes, lib.closedir.restype = [c.c_void_p], c.c_int
        # struct dirent as glibc and musl lay it out on 64-bit Linux
        # (the only place we list directories this way: /proc)
        self.dirent_ok = sys.platform.startswith("linux") and c.sizeof(c.c_void_p) == 8

        class Dirent(c.Structure):
            _fields_ = [("d_ino", c.c_uint64), ("d_off", c.c_int64), ("d_reclen", c.c_ushort),
                        ("d_type", c.c_ubyte), ("d_name", c.c_char * 256)]
        lib.readdir.argtypes, lib.readdir.restype = [c.c_void_p], c.POINTER(Dirent)
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

    def link(self, a: bytes, b: bytes) -> None:
        """Another name ``b`` for ``a``; FileExistsError when ``b`` exists (atomic, like O_EXCL)."""
        if not self.ok:
            os.link(a, b)
            return
        if self.lib.link(a, b) < 0:
            err = self._err("link")
            if err.errno == errno.EEXIST:
                raise FileExistsError(err.errno, err.strerror, b.decode())
            raise err

    def read_file(self, path: bytes, limit: int = 4096) -> bytes | None:
        """Up to ``limit`` bytes of a (small, e.g. /proc) file, or None when it cannot be read."""
        try:
            fd = self.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except OSError:
            return None
        try:
            if not self.ok:
                return os.read(fd, limit)
            buf = self._ct.create_string_buffer(limit)
            got = self.lib.read(fd, buf, limit)
            return buf.raw[:got] if got >= 0 else None
        finally:
            self.close(fd)

    def readlink(self, path: bytes) -> bytes | None:
        if not self.ok:
            try:
                return os.readlink(path)
            except OSError:
                return None
        buf = self._ct.create_string_buffer(4096)
        n = self.lib.readlink(path, buf, 4096)
        return buf.raw[:n] if n >= 0 else None

    def listdir(self, path: bytes) -> list[bytes]:
        """The names in a directory (without . and ..). Raises OSError."""
        if not (self.ok and self.dirent_ok):
            return [os.fsencode(n) for n in os.listdir(path)]
        d = self.lib.opendir(path)
        if not d:
            raise self._err("opendir")
        out = []
        try:
            while True:
                ent = self.lib.readdir(d)
                if not ent:
                    break
                name = ent.contents.d_name
                if name not in (b".", b".."):
                    out.append(name)
        finally:
            self.lib.closedir(d)
        return out

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
