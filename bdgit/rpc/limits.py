"""What a request and a connection may cost the daemon: deadlines, hang-ups, the connection cap.

- A request's deadline is absolute: the client sends ``deadline`` (seconds since the epoch,
  the same clock on one machine) beside the relative ``timeout_ms``. A daemon that was stopped
  (SIGSTOP, swapped out, a debugger) and reads the request late sees that its time is up and
  drops it: a request its client gave up on never runs later.
- A client that hung up before its write ran gets nothing run either (:func:`hung_up`).
- At the connection cap the connection idle longest is closed to make room (with a notice
  line first, so a client that sends on it next knows nothing ran and reconnects); only when
  every connection is in the middle of a request is a new one refused.
"""
from __future__ import annotations

import math
import select
import socket
import threading
import time
from typing import Any

#: a request with no timeout of its own may wait this long
DEFAULT_WAIT = 3600.0
#: what an evicted connection is told (no request_id: it answers no request)
EVICTED = {"success": False, "kind": "evicted",
           "error": "the daemon closed this idle connection to make room for others; nothing sent on it "
                    "after this line ran; reconnect and send again"}


def request_deadline(req: dict[str, Any], received: float, wall: float | None = None) -> float | str:
    """The monotonic-clock deadline of ``req``, read at monotonic time ``received`` (``wall``:
    the wall clock then, default now). Returns an error message for bad values."""
    wait = DEFAULT_WAIT
    timeout_ms = req.get("timeout_ms")
    if timeout_ms is not None:
        if isinstance(timeout_ms, bool) or not isinstance(timeout_ms, (int, float)) or not timeout_ms > 0 \
                or not math.isfinite(timeout_ms):
            return "invalid request: 'timeout_ms' must be a positive number"
        wait = min(wait, timeout_ms / 1000)
    absolute = req.get("deadline")
    if absolute is not None:
        if isinstance(absolute, bool) or not isinstance(absolute, (int, float)) or not math.isfinite(absolute):
            return "invalid request: 'deadline' must be a number (seconds since the epoch)"
        now_wall = time.time() if wall is None else wall
        wait = min(wait, absolute - now_wall)
    return received + wait


def hung_up(sock: socket.socket) -> bool:
    """Whether the peer of ``sock`` has closed its end (without reading from it, without waiting)."""
    try:
        p = select.poll()
        p.register(sock.fileno(), select.POLLIN | select.POLLRDHUP)
        events = p.poll(0)
    except (OSError, ValueError):
        return True
    return any(ev & (select.POLLRDHUP | select.POLLHUP | select.POLLERR | select.POLLNVAL) for _, ev in events)


class Conn:
    """One client connection: idle since ``last``, or ``busy`` with a request."""

    __slots__ = ("sock", "last", "busy", "evicted", "lock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.last = time.monotonic()
        self.busy = False
        self.evicted = False
        self.lock = threading.Lock()

    def begin(self) -> bool:
        """Mark a request in progress; False when the connection was evicted (drop the request)."""
        with self.lock:
            if self.evicted:
                return False
            self.busy = True
            return True

    def end(self) -> None:
        with self.lock:
            self.busy = False
            self.last = time.monotonic()

    def _evict(self, notice: bytes) -> bool:
        with self.lock:
            if self.busy or self.evicted:
                return False
            self.evicted = True
        try:
            self.sock.setblocking(False)
            self.sock.send(notice)
        except OSError:
            pass
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # its thread's recv returns; the thread closes it
        except OSError:
            pass
        return True


class ConnTable:
    """The daemon's open connections, at most ``cap``."""

    def __init__(self, cap: int, notice: bytes) -> None:
        self.cap = cap
        self.notice = notice
        self._lock = threading.Lock()
        self._conns: set[Conn] = set()
        self.evictions = 0

    def __len__(self) -> int:
        return len(self._conns)

    def admit(self, sock: socket.socket) -> Conn | None:
        """Register ``sock``; at the cap, evict the connection idle longest first. None when
        every connection is busy (refuse this one)."""
        with self._lock:
            while len(self._conns) >= self.cap:
                idle = sorted((c for c in self._conns if not c.busy and not c.evicted), key=lambda c: c.last)
                if not idle:
                    return None
                for victim in idle:
                    if victim._evict(self.notice):
                        self._conns.discard(victim)
                        self.evictions += 1
                        break
                else:
                    return None
            conn = Conn(sock)
            self._conns.add(conn)
            return conn

    def remove(self, conn: Conn) -> None:
        with self._lock:
            self._conns.discard(conn)
