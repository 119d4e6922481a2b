"""The shared-memory state file ``.beads/bd.state``: a hint readable in microseconds.

A fixed 64-byte little-endian record, memory-mapped by writers (the daemon, and direct mode
after its writes) and read by hooks and clients with no socket and no heavy import:

    0  magic  b"BDST"          4  layout version (u32)    8  sequence (u32, odd = writing)
    12 daemon pid (u32)        16 protocol version (u32)  20 flags (u32)
    24 write generation (u64)  32 exported generation (u64)
    40 committed generation (u64)                          48 daemon start time (f64)
    56 reserved (8 bytes)

Writers bump the sequence to odd, write, then bump it to even (a seqlock), so a reader that
sees the same even sequence before and after its read has a consistent copy. Several
processes may write (the daemon, direct-mode ``bd`` processes, a hook); each update is a
read-modify-write under an ``flock`` on the file, so none is lost. An update that changes
nothing writes nothing: the file's bytes change exactly when the state does, which is what
the git hooks' shell fast path relies on (it compares the file with a copy, see docs/HOOKS.md).

It is a hint, never the truth: the database and the daemon's lifetime lock decide.
Imports: os, struct, mmap, fcntl (all cheap) - the hooks' Python path reads it first.
"""
from __future__ import annotations

import fcntl
import mmap
import os
import struct
from pathlib import Path

MAGIC = b"BDST"
LAYOUT = 1
SIZE = 64
_FMT = "<4sIIIII QQQ d 8x"
assert struct.calcsize(_FMT) == SIZE

FLAG_AUTO_COMMIT = 1
FLAG_SYNC_BRANCH = 2

_FIELDS = ("pid", "protocol", "flags", "write_gen", "export_gen", "commit_gen", "started")


class State:
    """One consistent copy of the state (a plain class: dataclasses cost the hot path ~4 ms)."""

    __slots__ = _FIELDS

    def __init__(self, pid: int = 0, protocol: int = 0, flags: int = 0, write_gen: int = 0,
                 export_gen: int = 0, commit_gen: int = 0, started: float = 0.0) -> None:
        self.pid = pid
        self.protocol = protocol
        self.flags = flags
        self.write_gen = write_gen
        self.export_gen = export_gen
        self.commit_gen = commit_gen
        self.started = started

    def _tuple(self) -> tuple[float, ...]:
        return tuple(getattr(self, f) for f in _FIELDS)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, State) and self._tuple() == other._tuple()

    def __repr__(self) -> str:
        return "State(" + ", ".join(f"{f}={getattr(self, f)!r}" for f in _FIELDS) + ")"

    @property
    def dirty(self) -> bool:
        """Writes not yet in the JSONL."""
        return self.write_gen > self.export_gen

    def daemon_alive(self) -> bool:
        """Whether the recorded daemon pid is a live process (a hint: pids are reused)."""
        if not self.pid:
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def _unpack(data: bytes) -> tuple[int, State] | None:
    magic, layout, seq, pid, proto, flags, wg, eg, cg, started = struct.unpack(_FMT, data)
    if magic != MAGIC or layout != LAYOUT:
        return None
    return seq, State(pid, proto, flags, wg, eg, cg, started)


def read_raw(path: str | os.PathLike[str]) -> bytes | None:
    """The file's 64 bytes as one consistent snapshot (even sequence, unchanged while read),
    or None when there is no valid state file."""
    from . import safefs
    from ..errors import UnsafePathError
    try:
        fd = safefs.open_file(path)  # never through a link, never blocking on a FIFO
    except (OSError, UnsafePathError):
        return None
    try:
        for _ in range(1000):
            data = os.pread(fd, SIZE, 0)
            if len(data) < SIZE or data[:4] != MAGIC:
                return None
            (seq,) = struct.unpack_from("<I", data, 8)
            if seq % 2 == 0 and os.pread(fd, 4, 8) == data[8:12]:
                return data
    except OSError:
        return None
    finally:
        os.close(fd)
    return None


def read(path: str | os.PathLike[str]) -> State | None:
    """The current state, or None when there is no (valid) state file."""
    data = read_raw(path)
    if data is None:
        return None
    got = _unpack(data)
    return got[1] if got is not None else None


class Writer:
    """Keeps ``bd.state`` mapped and updates it in place. One per process (or thread) that writes.

    Every update takes an exclusive ``flock`` on the file (writers in other processes) and a
    lock of its own (threads sharing this Writer), so read-modify-writes never interleave.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        import _thread
        self.path = Path(path)
        self._tlock = _thread.allocate_lock()
        from . import safefs
        # a regular file of ours, 0600; a link, FIFO or hard link raises UnsafePathError
        self._fd = safefs.open_file(self.path, os.O_RDWR | os.O_CREAT, safefs.PRIVATE_FILE)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                current = os.pread(self._fd, SIZE, 0)
                if len(current) != SIZE or _unpack(current) is None:
                    # write the bytes (not ftruncate): a full disk is an OSError here, where a
                    # store into a mapped hole would be a SIGBUS later
                    os.pwrite(self._fd, struct.pack(_FMT, MAGIC, LAYOUT, 0, 0, 0, 0, 0, 0, 0, 0.0), 0)
                    os.ftruncate(self._fd, SIZE)
                self._mm = mmap.mmap(self._fd, SIZE)
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        except BaseException:
            os.close(self._fd)
            raise

    def get(self) -> State:
        got = _unpack(self._mm[:SIZE])
        return got[1] if got is not None else State()

    def _apply(self, change: object) -> State:
        """Run ``change(state) -> dict of new field values`` under the locks and write the result."""
        with self._tlock:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                st = self.get()
                fields = change(st)  # type: ignore[operator]
                new = State(**{f: getattr(st, f) for f in _FIELDS})
                for k, v in fields.items():
                    if k not in _FIELDS:
                        raise AttributeError(f"bd.state has no field {k!r}")
                    setattr(new, k, v)
                if new == st:
                    return st  # nothing changes: leave the bytes (and the sequence) alone
                (seq,) = struct.unpack("<I", self._mm[8:12])
                odd = seq + 1 if seq % 2 == 0 else seq
                self._mm[8:12] = struct.pack("<I", odd)
                body = struct.pack(_FMT, MAGIC, LAYOUT, odd, new.pid, new.protocol, new.flags,
                                   new.write_gen, new.export_gen, new.commit_gen, new.started)
                self._mm[12:SIZE] = body[12:]
                self._mm[8:12] = struct.pack("<I", (odd + 1) & 0xFFFFFFFF)
                return new
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def update(self, **fields: float | int) -> State:
        return self._apply(lambda st: fields)

    def bump_write(self) -> None:
        """A write was committed to the database."""
        self._apply(lambda st: {"write_gen": st.write_gen + 1})

    def mark_exported(self, gen: int | None = None) -> None:
        """The JSONL holds every write up to ``gen`` (default: all of them)."""
        self._apply(lambda st: {"export_gen": st.write_gen if gen is None else max(gen, st.export_gen)})

    def note(self, *, wrote: bool, dirty: bool) -> State:
        """Direct mode, after an operation: ``wrote`` a write was committed; ``dirty`` whether
        the database still has changes the JSONL lacks (False: everything is exported)."""
        def change(st: State) -> dict[str, int]:
            wg = st.write_gen + 1 if wrote or (dirty and not st.dirty) else st.write_gen
            return {"write_gen": wg} if dirty else {"write_gen": wg, "export_gen": wg}
        return self._apply(change)

    def close(self) -> None:
        try:
            self._mm.close()
        except (BufferError, ValueError, AttributeError):
            pass
        try:
            os.close(self._fd)
        except OSError:
            pass
