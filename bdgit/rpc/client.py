"""Client side of the daemon protocol: ``Client``, for agents and for the CLI's daemon backend.

Imports only _socket/json/os/time: the CLI's daemon path must stay light.

    from bdgit.rpc.client import Client
    with Client(".", actor="agent-7", timeout=10) as c:
        issue = c.execute("create", {"title": "Fix the flaky test", "priority": 1})
        c.batch([("create", {"title": "A"}), ("create", {"title": "B", "dependencies": ["$0"]})])
        for event in c.subscribe():          # the change feed, resumed across reconnects
            print(event["seq"], event["type"], event["issue_id"])

Every call has a deadline (default 30 s, ``set_timeout`` or per call) covering connect, send and
receive; the server is told it as an absolute time and does not run a request whose deadline
has passed (also when it reads the request late) or whose client hung up. Errors come back as
the core's BdError subclasses.

The client dials only a socket of its own user: a socket (never a link) owned by it, and after
``connect`` the listening process must run as the same uid (``SO_PEERCRED``), checked before a
byte is sent; anything else raises UnsafePathError (see ``peer``).
"""
from __future__ import annotations

import _socket  # the C module: `import socket` costs ~4 ms per process (enum set-up)
import itertools
import json
import os
import time
from pathlib import Path
from typing import Any, Self

from .. import __version__
from ..errors import DaemonError, DeadlineExceeded, from_wire
from . import peer
from .protocol import encode, find_socket

DEFAULT_TIMEOUT = 30.0


def _socket_for(path: str | os.PathLike[str] | None) -> Path:
    """Accept a socket path, a ``.beads`` directory or a directory inside a workspace."""
    p = Path(path or os.getcwd())
    if p.name.endswith(".sock") or p.is_socket():
        return p
    for d in (p, *p.resolve().parents):
        if d.name == ".beads" and d.is_dir():
            return find_socket(d)
        if (d / ".beads").is_dir():
            return find_socket(d / ".beads")
    raise DaemonError(f"no .beads directory at or above {p}", "run 'bd init' first")


def data_of(resp: dict[str, Any]) -> Any:
    """The ``data`` of a response; a failure becomes the core's error of the same kind (a failed
    atomic batch's error carries ``results``)."""
    if resp.get("success"):
        return resp.get("data")
    raise from_wire(resp)


class _Connection:
    """A socket to the daemon and what has been read from it but not yet taken."""

    _sock: _socket.socket | None = None
    _buf = b""

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _take_line(self) -> bytes | None:
        """The next whole line read (without its newline), or None when none is complete yet."""
        nl = self._buf.find(b"\n")
        if nl == -1:
            return None
        line, self._buf = self._buf[:nl], self._buf[nl + 1:]
        return line


class Client(_Connection):
    """A persistent connection to a bdgit daemon. Not thread-safe: one per thread."""

    def __init__(self, path: str | os.PathLike[str] | None = None, *, timeout: float = DEFAULT_TIMEOUT,
                 actor: str | None = None, cwd: str | None = None, client_version: str | None = __version__) -> None:
        self.socket_path = _socket_for(path)
        self.timeout = float(timeout)
        self.actor = actor
        self.cwd = cwd
        self.client_version = client_version
        self._sock: _socket.socket | None = None
        self._buf = b""
        self._ids = itertools.count(1)

    # --- connection -------------------------------------------------------------------------

    def set_timeout(self, seconds: float) -> None:
        if seconds <= 0:
            raise ValueError("timeout must be positive")
        self.timeout = float(seconds)

    def connect(self, timeout: float | None = None) -> None:
        """Connect now (calls connect lazily otherwise). Raises DaemonError if nobody listens."""
        if self._sock is not None:
            return
        try:
            peer.check_socket(self.socket_path)  # a socket of ours, not a link to someone else's
        except FileNotFoundError:
            raise DaemonError(f"no daemon answers at {self.socket_path} (no such socket): "
                              "start one with 'bd daemon start'",
                              "or run bd with --no-daemon (direct mode needs no daemon)") from None
        s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        s.settimeout(timeout if timeout is not None else self.timeout)
        try:
            s.connect(str(self.socket_path))
        except TimeoutError:
            s.close()
            raise DeadlineExceeded(f"timed out connecting to the daemon at {self.socket_path}") from None
        except OSError as e:
            s.close()
            # The advice is in the message too: a library caller sees str(e) in a traceback,
            # never the hint the CLI prints below it.
            raise DaemonError(f"no daemon answers at {self.socket_path} ({e.strerror or e}): "
                              "start one with 'bd daemon start'",
                              "or run bd with --no-daemon (direct mode needs no daemon)") from None
        try:
            peer.check_peer(s, self.socket_path)  # before a byte is sent
        except BaseException:
            s.close()
            raise
        self._sock = s
        self._buf = b""


    # --- requests ---------------------------------------------------------------------------

    def request(self, operation: str, args: dict[str, Any] | None = None, *,
                timeout: float | None = None, actor: str | None = None, readonly: bool = False) -> dict[str, Any]:
        """Send one request and return the whole response object (no error raised for
        ``success: false``). Raises DaemonError/DeadlineExceeded for transport failures."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        rid = f"{os.getpid()}-{next(self._ids)}"
        req: dict[str, Any] = {"operation": operation, "args": args or {}, "request_id": rid}
        if actor or self.actor:
            req["actor"] = actor or self.actor
        if self.cwd:
            req["cwd"] = self.cwd
        if self.client_version:
            req["client_version"] = self.client_version
        if readonly:
            req["readonly"] = True  # the daemon refuses a write (it knows which operations write)
        pause = 0.01
        for _ in range(50):
            fresh = self._sock is None
            if fresh:
                self.connect(max(deadline - time.monotonic(), 0.001))
            left = deadline - time.monotonic()
            req["timeout_ms"] = max(int(left * 1000), 1)
            req["deadline"] = round(time.time() + left, 3)  # absolute: a late read is dropped
            data = encode(req)
            try:
                self._send(data, deadline)
            except (BrokenPipeError, ConnectionResetError):
                # The daemon closed our idle connection before reading anything: nothing ran,
                # so sending again on a new connection is safe.
                self.close()
                if fresh:
                    raise DaemonError("the daemon closed the connection") from None
                continue
            line = self._recv_line(deadline)
            try:
                resp = json.loads(line)
            except ValueError:
                self.close()
                raise DaemonError(f"the daemon sent something that is not JSON: {line[:200]!r}") from None
            if not isinstance(resp, dict):
                self.close()
                raise DaemonError(f"the daemon sent something that is not a response: {line[:200]!r}")
            if resp.get("request_id") is None and resp.get("kind") == "evicted":
                self.close()  # closed as idle before our request was read: nothing ran; again
                continue
            details = resp.get("details")
            if not resp.get("success") and isinstance(details, dict) and details.get("busy"):
                self.close()  # every connection was mid-request: nothing ran; again shortly
                if time.monotonic() + pause >= deadline:
                    return resp
                time.sleep(pause)
                pause = min(pause * 2, 0.2)
                continue
            if resp.get("request_id") not in (None, rid):
                self.close()
                raise DaemonError("the daemon answered another request (protocol out of step)")
            return resp
        raise DaemonError("the daemon kept closing the connection before reading the request",
                          "it may be overloaded; retry, or use --no-daemon")

    def execute(self, operation: str, args: dict[str, Any] | None = None, *,
                timeout: float | None = None, actor: str | None = None) -> Any:
        """Run one operation and return its data. Raises the core's BdError on failure."""
        return data_of(self.request(operation, args, timeout=timeout, actor=actor))

    def batch(self, operations: list[Any], *, atomic: bool = True, timeout: float | None = None) -> list[dict[str, Any]]:
        """Run operations in one request: ``[("create", {...}), {"operation": ..., "args": ...}]``.

        Atomic by default (all or nothing). Returns the per-operation results; raises
        BdError when an atomic batch failed (its ``results`` say which one and why).
        """
        ops = [o if isinstance(o, dict) else {"operation": o[0], "args": o[1] if len(o) > 1 else {}}
               for o in operations]
        data = self.execute("batch", {"operations": ops, "atomic": atomic}, timeout=timeout)
        return data["results"]

    def subscribe(self, since: int | None = None, *, stream: str | None = None, reconnect: bool = True,
                  retry_for: float = 30.0) -> Subscription:
        """Open the change feed on a connection of its own (this client's stays usable).

        ``since``/``stream``: resume after that event (the ``seq`` and ``stream`` of the last
        event you handled); without them, from now on. With ``reconnect``, a lost connection
        is re-opened (for up to ``retry_for`` seconds) and resumed where it stopped, so nothing
        is missed: what the daemon cannot replay arrives as a ``gap`` event. Raises
        DaemonError when no daemon answers."""
        sub = Subscription(self.socket_path, since=since, stream=stream, reconnect=reconnect,
                           retry_for=retry_for, timeout=self.timeout, actor=self.actor,
                           client_version=self.client_version)
        sub.open()
        return sub

    def _send(self, data: bytes, deadline: float) -> None:
        assert self._sock is not None
        view = memoryview(data)
        while view:
            left = deadline - time.monotonic()
            if left <= 0:
                self.close()
                raise DeadlineExceeded("timed out sending the request to the daemon")
            self._sock.settimeout(left)
            try:
                n = self._sock.send(view)
            except TimeoutError:
                self.close()
                raise DeadlineExceeded("timed out sending the request to the daemon") from None
            view = view[n:]

    def _recv_line(self, deadline: float) -> bytes:
        assert self._sock is not None
        while True:
            line = self._take_line()
            if line is not None:
                return line
            left = deadline - time.monotonic()
            if left <= 0:
                self.close()
                raise DeadlineExceeded("timed out waiting for the daemon's answer",
                                    "the request may still complete; raise --timeout / BD_TIMEOUT")
            self._sock.settimeout(left)
            try:
                chunk = self._sock.recv(1 << 20)
            except TimeoutError:
                self.close()
                raise DeadlineExceeded("timed out waiting for the daemon's answer",
                                    "the request may still complete; raise --timeout / BD_TIMEOUT") from None
            except OSError as e:
                self.close()
                raise DaemonError(f"lost the connection to the daemon: {e}") from None
            if not chunk:
                self.close()
                raise DaemonError("the daemon closed the connection without answering")
            self._buf += chunk


class Subscription(_Connection):
    """An open change-feed subscription: iterate for events, one dict per committed change
    (``seq``, ``type``, ``issue_id``, ``actor``, ``at``, ``changes``) or ``gap``. Blocks while
    nothing happens (no polling). ``stream`` and ``seq`` say where it is (resume from them).
    Not thread-safe; ``close()`` when done (or use it as a context manager)."""

    def __init__(self, socket_path: Path, *, since: int | None, stream: str | None, reconnect: bool,
                 retry_for: float, timeout: float, actor: str | None, client_version: str | None) -> None:
        self.socket_path = socket_path
        #: the last seq handed out (or the position subscribed at): where a resume starts
        self.seq = since
        self.stream = stream
        self.reconnect = reconnect
        self.retry_for = retry_for
        self.timeout = timeout
        self.actor = actor
        self.client_version = client_version
        self.reconnects = 0
        self._sock: _socket.socket | None = None
        self._buf = b""

    def open(self) -> None:
        """Connect and subscribe from ``seq``/``stream``. Raises DaemonError or the refusal."""
        s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        try:
            s.connect(str(self.socket_path))
        except OSError as e:
            s.close()
            raise DaemonError(f"no daemon answers at {self.socket_path}: {e.strerror or e}",
                              "start one with 'bd daemon start'") from None
        args: dict[str, Any] = {}
        if self.seq is not None:
            args["since"] = self.seq
        if self.stream is not None:
            args["stream"] = self.stream
        req: dict[str, Any] = {"operation": "subscribe", "args": args, "request_id": f"{os.getpid()}-sub"}
        if self.actor:
            req["actor"] = self.actor
        if self.client_version:
            req["client_version"] = self.client_version
        self._sock, self._buf = s, b""
        try:
            s.sendall(encode(req))
            hello = json.loads(self._line(self.timeout) or b"null")
        except (OSError, ValueError) as e:
            self.close()
            raise DaemonError(f"the daemon did not accept the subscription: {e}") from None
        if not isinstance(hello, dict) or not hello.get("success"):
            self.close()
            raise from_wire(hello if isinstance(hello, dict) else {"error": "no answer to subscribe"})
        data = hello.get("data") or {}
        if self.stream is None or self.seq is None:
            self.stream = data.get("stream")
        if self.seq is None:
            self.seq = data.get("seq")

    def get(self, timeout: float | None = None) -> dict[str, Any] | None:
        """The next event; None when ``timeout`` seconds pass first (None: wait for ever).
        Raises DaemonError when the connection is lost and cannot be resumed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self._sock is None:
                self._resume(deadline)
                if self._sock is None:
                    return None
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return None
            try:
                line = self._line(left)
            except OSError:
                line = None
                self.close()
            if line is None:
                if self._sock is not None:  # a timeout: the connection is fine
                    return None
                if not self.reconnect:
                    raise DaemonError("the daemon closed the change feed")
                continue
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event.get("seq"), int):
                self.seq = event["seq"]
            if event.get("type") == "gap" and isinstance(event.get("stream"), str):
                self.stream = event["stream"]
            return event  # type: ignore[no-any-return]

    def __iter__(self) -> Subscription:
        return self

    def __next__(self) -> dict[str, Any]:
        event = self.get()
        assert event is not None
        return event

    def _resume(self, deadline: float | None) -> None:
        """Re-open after a lost connection, with backoff, within ``retry_for`` (and the
        caller's deadline). Raises DaemonError when it cannot."""
        give_up = time.monotonic() + self.retry_for
        pause = 0.05
        while True:
            try:
                self.open()
                self.reconnects += 1
                return
            except DaemonError:
                now = time.monotonic()
                if now >= give_up:
                    raise
                if deadline is not None and now >= deadline:
                    return
                time.sleep(min(pause, give_up - now))
                pause = min(pause * 2, 1.0)

    def _line(self, timeout: float | None) -> bytes | None:
        """One line; None on timeout (connection kept) or on EOF (connection closed)."""
        assert self._sock is not None
        while True:
            line = self._take_line()
            if line is not None:
                return line
            self._sock.settimeout(timeout)
            try:
                chunk = self._sock.recv(1 << 16)
            except TimeoutError:
                return None
            if not chunk:
                self.close()
                return None
            self._buf += chunk

