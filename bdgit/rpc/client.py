"""Client side of the daemon protocol: ``Client``, for agents and for the CLI's daemon backend.

Imports only _socket/json/os/time: the CLI's daemon path must stay light.

    from bdgit.rpc.client import Client
    with Client(".", actor="agent-7", timeout=10) as c:
        issue = c.execute("create", {"title": "Fix the flaky test", "priority": 1})
        c.batch([("create", {"title": "A"}), ("create", {"title": "B", "dependencies": ["$0"]})])

Every call has a deadline (default 30 s, ``set_timeout`` or per call) covering connect, send and
receive; the server is told the remaining time and does not run a request whose deadline has
passed while it waited. Errors come back as the core's BdError subclasses.
"""
from __future__ import annotations

import _socket  # the C module: `import socket` costs ~4 ms per process (enum set-up)
import itertools
import json
import os
import time
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import DaemonError, DeadlineExceeded, from_wire
from .protocol import encode, find_socket

DEFAULT_TIMEOUT = 30.0


def _socket_for(path: str | os.PathLike[str] | None) -> Path:
    """Accept a socket path, a ``.beads`` directory or a directory inside a workspace."""
    p = Path(path or os.getcwd())
    if p.is_socket() or p.name.endswith(".sock"):
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


class Client:
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
        s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        s.settimeout(timeout if timeout is not None else self.timeout)
        try:
            s.connect(str(self.socket_path))
        except TimeoutError:
            s.close()
            raise DeadlineExceeded(f"timed out connecting to the daemon at {self.socket_path}") from None
        except OSError as e:
            s.close()
            raise DaemonError(f"no daemon answers at {self.socket_path}: {e.strerror or e}",
                              "start one with 'bd daemon start', or use --no-daemon") from None
        self._sock = s
        self._buf = b""

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # --- requests ---------------------------------------------------------------------------

    def request(self, operation: str, args: dict[str, Any] | None = None, *,
                timeout: float | None = None, actor: str | None = None) -> dict[str, Any]:
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
        fresh = self._sock is None
        if fresh:
            self.connect(max(deadline - time.monotonic(), 0.001))
        req["timeout_ms"] = max(int((deadline - time.monotonic()) * 1000), 1)
        data = encode(req)
        try:
            self._send(data, deadline)
        except (BrokenPipeError, ConnectionResetError):
            # The daemon closed our idle connection before reading anything: nothing ran,
            # so sending again on a new connection is safe.
            self.close()
            if fresh:
                raise DaemonError("the daemon closed the connection") from None
            self.connect(max(deadline - time.monotonic(), 0.001))
            self._send(data, deadline)
        line = self._recv_line(deadline)
        try:
            resp = json.loads(line)
        except ValueError:
            self.close()
            raise DaemonError(f"the daemon sent something that is not JSON: {line[:200]!r}") from None
        if resp.get("request_id") not in (None, rid):
            self.close()
            raise DaemonError("the daemon answered another request (protocol out of step)")
        return resp

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
            nl = self._buf.find(b"\n")
            if nl != -1:
                line, self._buf = self._buf[:nl], self._buf[nl + 1:]
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
