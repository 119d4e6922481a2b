"""The shared-memory state file ``.beads/bd.state``: a hint readable in microseconds.

A fixed 64-byte little-endian record, memory-mapped by writers (the daemon, and direct mode
after its writes) and read by hooks and clients with no socket and no heavy import:

    0  magic  b"BDST"          4  layout version (u32)    8  sequence (u32, odd = writing)
    12 daemon pid (u32)        16 protocol version (u32)  20 flags (u32)
    24 write generation (u64)  32 exported generation (u64)
    40 committed generation (u64)                          48 daemon start time (f64)
    56 reserved (8 bytes)

Writers bump the sequence to odd, write, then bump it to even (a seqlock), so a reader that
sees the same even sequence before and after its read has a consistent copy. It is a hint,
never the truth: the database and the daemon's lifetime lock decide.
"""
from __future__ import annotations

import mmap
import os
import struct
from dataclasses import dataclass
from pathlib import Path

MAGIC = b"BDST"
LAYOUT = 1
SIZE = 64
_FMT = "<4sIIIII QQQ d 8x"
assert struct.calcsize(_FMT) == SIZE

FLAG_AUTO_COMMIT = 1
FLAG_SYNC_BRANCH = 2


@dataclass
class State:
    pid: int = 0
    protocol: int = 0
    flags: int = 0
    write_gen: int = 0
    export_gen: int = 0
    commit_gen: int = 0
    started: float = 0.0

    @property
    def dirty(self) -> bool:
        """Writes not yet in the JSONL."""
        return self.write_gen > self.export_gen

    def daemon_alive(self) -> bool:
        if not self.pid:
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def read(path: str | os.PathLike[str]) -> State | None:
    """The current state, or None when there is no (valid) state file."""
    try:
        with open(path, "rb") as f:
            for _ in range(100):
                data = f.read(SIZE)
                if len(data) < SIZE:
                    return None
                magic, layout, seq, pid, proto, flags, wg, eg, cg, started = struct.unpack(_FMT, data)
                if magic != MAGIC or layout != LAYOUT:
                    return None
                if seq % 2 == 0:
                    f.seek(8)
                    (seq2,) = struct.unpack("<I", f.read(4))
                    if seq2 == seq:
                        return State(pid, proto, flags, wg, eg, cg, started)
                f.seek(0)
    except OSError:
        return None
    return None


class Writer:
    """Keeps ``bd.state`` mapped and updates it in place. One per process that writes."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if os.fstat(fd).st_size < SIZE:
                os.ftruncate(fd, SIZE)
            self._mm = mmap.mmap(fd, SIZE)
        finally:
            os.close(fd)
        if self._mm[:4] != MAGIC:
            self._mm[:SIZE] = struct.pack(_FMT, MAGIC, LAYOUT, 0, 0, 0, 0, 0, 0, 0, 0.0)

    def get(self) -> State:
        _, _, _, pid, proto, flags, wg, eg, cg, started = struct.unpack(_FMT, self._mm[:SIZE])
        return State(pid, proto, flags, wg, eg, cg, started)

    def update(self, **fields: float | int) -> State:
        st = self.get()
        for k, v in fields.items():
            setattr(st, k, v)
        (seq,) = struct.unpack("<I", self._mm[8:12])
        odd = seq + 1 if seq % 2 == 0 else seq
        self._mm[8:12] = struct.pack("<I", odd)
        body = struct.pack(_FMT, MAGIC, LAYOUT, odd, st.pid, st.protocol, st.flags, st.write_gen,
                           st.export_gen, st.commit_gen, st.started)
        self._mm[12:SIZE] = body[12:]
        self._mm[8:12] = struct.pack("<I", odd + 1)
        return st

    def bump_write(self) -> None:
        st = self.get()
        self.update(write_gen=st.write_gen + 1)

    def mark_exported(self, gen: int | None = None) -> None:
        st = self.get()
        self.update(export_gen=st.write_gen if gen is None else gen)

    def close(self) -> None:
        try:
            self._mm.close()
        except (BufferError, ValueError):
            pass
