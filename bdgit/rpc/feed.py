"""The change feed: one event per committed change, streamed to subscribers over the socket.

- ``publish`` is called by the writer after each COMMIT (the Store's ``on_commit``): it numbers
  the changes (``seq``, 1, 2, ... for the daemon's life, named by a random ``stream`` token)
  and keeps the last ``backlog`` of them in a ring (the sender encodes each once, when a
  subscriber first needs it). It never waits for a subscriber: appending and, when one is
  waiting, a wake-up byte are all a writer pays.
- One thread serves every subscriber from a selector (no thread per subscriber; idle ones cost
  nothing but their file descriptor). Each subscriber has a position in the ring and an output
  buffer of at most ``buffer_bytes``; the thread tops the buffer up from the ring and sends
  what the socket takes without blocking.
- A subscriber that falls more than ``backlog`` events behind (a slow reader), or resumes from a
  position the ring no longer holds, or from another daemon's stream, first gets a ``gap``
  event (``from_seq``..``to_seq`` were missed: re-read what you track), then the events that
  follow, complete and in order.
"""
from __future__ import annotations

import json
import os
import secrets
import selectors
import socket
import threading
from typing import Any

#: events kept for subscribers that resume or fall behind (BD_FEED_BACKLOG overrides)
BACKLOG = 10_000
#: bytes buffered per subscriber beyond the socket's own buffer (BD_FEED_BUFFER overrides)
BUFFER_BYTES = 256 * 1024
MAX_SUBSCRIBERS = 1024


def _encode(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


class _Sub:
    __slots__ = ("sock", "next_seq", "out", "mask", "waiting")

    def __init__(self, sock: socket.socket, next_seq: int, out: bytearray) -> None:
        self.sock = sock
        self.next_seq = next_seq  # the seq of the next event it is owed
        self.out = out
        self.mask = 0
        #: caught up and everything sent: the next publish must wake the sender for it
        self.waiting = False


class Feed:
    """The ring of recent changes and the thread that streams them. ``start`` is implied by
    the first ``attach``; ``close`` ends every subscription (their clients see EOF)."""

    def __init__(self, *, backlog: int | None = None, buffer_bytes: int | None = None,
                 log: Any = lambda m: None) -> None:
        self.capacity = max(int(backlog or os.environ.get("BD_FEED_BACKLOG") or BACKLOG), 1)
        self.buffer_bytes = max(int(buffer_bytes or os.environ.get("BD_FEED_BUFFER") or BUFFER_BYTES), 1024)
        self.stream = secrets.token_hex(8)
        self.seq = 0
        self.log = log
        self.stats = {"published": 0, "gaps": 0}
        # seq s lives at s % capacity: the change, and its line once a subscriber needed it
        self._ring: list[dict[str, Any] | None] = [None] * self.capacity
        self._lines: list[bytes | None] = [None] * self.capacity
        self._lock = threading.Lock()
        self._subs: dict[int, _Sub] = {}
        self._new: list[_Sub] = []
        self._closed = False
        self._thread: threading.Thread | None = None
        self._sel: selectors.BaseSelector | None = None
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._woken = False
        #: subscribers that are ``waiting``: only they need a wake-up per publish (one that is
        #: behind is served when its socket has room; a stalled one costs writers nothing)
        self._waiting = 0

    # --- the writer's side ----------------------------------------------------------------------

    def publish(self, changes: list[dict[str, Any]]) -> None:
        """Number and keep ``changes`` (committed, in commit order); wake the sender. O(len)."""
        with self._lock:
            for ch in changes:
                self.seq += 1
                slot = self.seq % self.capacity
                self._ring[slot] = ch
                self._lines[slot] = None  # encoded by the sender, once, if anyone wants it
            self.stats["published"] += len(changes)
            if not self._waiting or self._woken:
                return
            self._woken = True
        self._wake()

    @property
    def oldest(self) -> int:
        """The first seq the ring still holds (``seq + 1`` when it holds none)."""
        return max(self.seq - self.capacity + 1, 1) if self.seq else 1

    # --- subscribing ----------------------------------------------------------------------------

    def attach(self, conn: socket.socket, args: dict[str, Any], request_id: Any, rest: bytes = b"") -> None:
        """Make ``conn`` a subscription: answer the request, then stream from where ``args``
        say (``since``: the last seq the client has; ``stream``: whose seq that is). Without
        ``since``, from now on. Raises nothing: a refused subscription is answered and closed."""
        since, stream = args.get("since"), args.get("stream")
        err = None
        if since is not None and (isinstance(since, bool) or not isinstance(since, int) or since < 0):
            err = "invalid subscribe args: since must be a sequence number (an integer >= 0)"
        elif stream is not None and not isinstance(stream, str):
            err = "invalid subscribe args: stream must be a string"
        with self._lock:
            if err is None and (self._closed or len(self._subs) + len(self._new) >= MAX_SUBSCRIBERS):
                err = "too many subscribers; try again" if not self._closed else "the daemon is shutting down"
            if err is not None:
                self._refuse(conn, err, request_id)
                return
            out = bytearray()
            start = self.seq + 1
            if since is not None:
                if stream not in (None, self.stream):
                    # another daemon's positions mean nothing here: what happened since is unknown
                    out += self._gap(None, self.seq, "restart")
                elif since > self.seq:
                    out += self._gap(None, self.seq, "unknown")
                else:
                    start = since + 1
                    if start < self.oldest:
                        out += self._gap(start, self.oldest - 1, "backlog")
                        start = self.oldest
            hello = {"success": True, "data": {"stream": self.stream, "seq": self.seq, "from_seq": start,
                                               "backlog": self.capacity, "oldest": self.oldest}}
            if request_id is not None:
                hello["request_id"] = request_id
            sub = _Sub(conn, start, bytearray(_encode(hello)) + out)
            self._new.append(sub)
            self._woken = True
            if self._thread is None:
                self._sel = selectors.DefaultSelector()
                self._sel.register(self._wake_r, selectors.EVENT_READ, None)
                self._thread = threading.Thread(target=self._run, name="bd-feed", daemon=True)
                self._thread.start()
        try:  # the kernel's share of the per-subscriber bound
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.buffer_bytes)
        except OSError:
            pass
        conn.setblocking(False)
        self._wake()

    def _gap(self, first: int | None, last: int, reason: str) -> bytes:
        """A gap event: ``first``..``last`` are not delivered (``first`` None: unknown, e.g. after
        a restart). Its ``seq`` is ``last``, so resuming from the last seq seen works across it."""
        self.stats["gaps"] += 1
        return _encode({"seq": last, "type": "gap", "from_seq": first, "to_seq": last, "reason": reason,
                        "stream": self.stream})

    @staticmethod
    def _refuse(conn: socket.socket, message: str, request_id: Any) -> None:
        resp: dict[str, Any] = {"success": False, "error": message, "kind": "daemon"}
        if request_id is not None:
            resp["request_id"] = request_id
        try:
            conn.settimeout(1.0)
            conn.sendall(_encode(resp))
        except OSError:
            pass
        conn.close()

    @property
    def subscribers(self) -> int:
        with self._lock:
            return len(self._subs) + len(self._new)

    def close(self) -> None:
        """End every subscription and the thread (their clients see the connection close)."""
        with self._lock:
            self._closed = True
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            subs = list(self._subs.values()) + self._new
            self._subs.clear()
            self._new.clear()
        for sub in subs:
            try:
                sub.sock.close()
            except OSError:
                pass
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass

    # --- the sender thread ----------------------------------------------------------------------

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except (BlockingIOError, OSError):
            pass  # a full pipe already wakes it

    def _run(self) -> None:
        sel = self._sel
        assert sel is not None
        try:
            while True:
                for key, mask in sel.select():
                    if key.data is None:
                        try:
                            while os.read(self._wake_r, 4096):
                                pass
                        except (BlockingIOError, OSError):
                            pass
                        continue
                    sub = key.data
                    if mask & selectors.EVENT_READ and not self._readable(sub):
                        self._drop(sub)
                with self._lock:
                    if self._closed:
                        return
                    self._woken = False
                    for sub in self._new:
                        self._subs[sub.sock.fileno()] = sub
                    self._new.clear()
                    subs = list(self._subs.values())
                for sub in subs:
                    if sub.sock.fileno() == -1:
                        continue
                    try:
                        self._pump(sub)
                    except Exception as e:  # a bug with one subscriber must not stop the others
                        self.log(f"change feed: dropped a subscriber: {type(e).__name__}: {e}")
                        self._drop(sub)
        except Exception as e:  # pragma: no cover - a bug here must not take the daemon down
            self.log(f"change feed stopped: {type(e).__name__}: {e}")
        finally:
            sel.close()

    def _readable(self, sub: _Sub) -> bool:
        """Read what the client sent (ignored); False when it hung up."""
        try:
            data = sub.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return True
        except OSError:
            return False
        return bool(data)

    def _pump(self, sub: _Sub) -> None:
        """Top up ``sub``'s buffer from the ring and send what the socket takes."""
        with self._lock:
            oldest = self.oldest
            if sub.next_seq < oldest:  # it fell out of the backlog while its buffer was full
                sub.out += self._gap(sub.next_seq, oldest - 1, "overrun")
                sub.next_seq = oldest
            while sub.next_seq <= self.seq and len(sub.out) < self.buffer_bytes:
                slot = sub.next_seq % self.capacity
                line = self._lines[slot]
                if line is None:
                    ch = self._ring[slot]
                    assert ch is not None
                    line = self._lines[slot] = _encode({"seq": sub.next_seq, **ch})
                sub.out += line
                sub.next_seq += 1
        if sub.out:
            try:
                n = sub.sock.send(sub.out)
                del sub.out[:n]
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                self._drop(sub)
                return
        with self._lock:  # (again: a publish may have come in meanwhile)
            behind = sub.next_seq <= self.seq
            waiting = not sub.out and not behind
            if waiting != sub.waiting:
                sub.waiting = waiting
                self._waiting += 1 if waiting else -1
        # EVENT_WRITE only while there is something to send: a socket with room is always
        # writable, a full one is not (then it waits, costing nothing, for the client to read)
        mask = selectors.EVENT_READ | (selectors.EVENT_WRITE if sub.out or behind else 0)
        if mask != sub.mask:
            assert self._sel is not None
            if sub.mask:
                self._sel.modify(sub.sock, mask, sub)
            else:
                self._sel.register(sub.sock, mask, sub)
            sub.mask = mask

    def _drop(self, sub: _Sub) -> None:
        with self._lock:
            self._subs.pop(sub.sock.fileno(), None)
            if sub.waiting:
                sub.waiting = False
                self._waiting -= 1
        if sub.mask and self._sel is not None:
            try:
                self._sel.unregister(sub.sock)
            except (KeyError, ValueError):
                pass
        sub.mask = 0
        try:
            sub.sock.close()
        except OSError:
            pass
