"""The daemon process itself: take the lifetime lock, bind the socket, serve until stopped."""
from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

from .. import BEADS_COMPAT_VERSION, __version__
from ..rpc.protocol import POINTER_NAME, socket_path_for
from ..workspace import Workspace
from ..workspace.files import atomic_write
from .lifecycle import DEFAULTS, EXIT_ALREADY_RUNNING, _cleanup_files, lock_path, log, read_status, status_path



def run_foreground(ws: Workspace, options: dict[str, Any] | None = None) -> int:
    """Be the daemon (blocks until stopped). Returns EXIT_ALREADY_RUNNING if another one is."""
    opts = {**DEFAULTS, **(options or {})}
    lfd = _take_lifetime_lock(ws)
    if lfd is None:
        st = read_status(ws) or {}
        sys.stderr.write(f"bd daemon already running (pid {st.get('pid', '?')})\n")
        return EXIT_ALREADY_RUNNING
    try:
        # We hold the lock: any socket/status/state file is left over from a dead daemon.
        _cleanup_files(ws)
        sock, sock_path = _bind(ws)
        _serve(ws, sock, sock_path, opts)
    finally:
        fcntl.flock(lfd, fcntl.LOCK_UN)
        os.close(lfd)
    return 0


def _take_lifetime_lock(ws: Workspace) -> int | None:
    """The held lifetime lock's fd (whoever holds it is the daemon), or None when taken."""
    lfd = os.open(lock_path(ws), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lfd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(lfd)
        return None
    os.set_inheritable(lfd, False)
    return lfd


def _bind(ws: Workspace) -> tuple[socket.socket, Path]:
    """The listening socket, born 0600 (in a short private directory when the path is long)."""
    sock_path = socket_path_for(ws.beads_dir)
    if sock_path.parent != ws.beads_dir:
        sock_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(sock_path.parent, 0o700)
        if sock_path.exists():
            sock_path.unlink()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)  # nobody else may even connect
    try:
        sock.bind(str(sock_path))
    finally:
        os.umask(old_umask)
    os.chmod(sock_path, 0o600)
    sock.listen(128)
    if sock_path.parent != ws.beads_dir:
        atomic_write(ws.beads_dir / POINTER_NAME, str(sock_path) + "\n")
    return sock, sock_path


def _serve(ws: Workspace, sock: socket.socket, sock_path: Path, opts: dict[str, Any]) -> None:
    """Serve on ``sock`` until stopped; leaves no socket, status or pid behind."""
    from ..gitsync.auto import plugin as git_plugin
    from ..rpc.server import Server
    from ..workspace import statefile
    state = statefile.Writer(ws.state_path)
    state.update(pid=os.getpid(), protocol=1, started=time.time(),
                 flags=statefile.FLAG_AUTO_COMMIT if opts.get("auto_commit") else 0)

    def say(msg: str) -> None:
        log(ws, msg)

    server = Server(ws, sock, flush_interval=float(opts["flush_interval"]), idle_timeout=float(opts["idle_timeout"]),
                    log=say, state=state, plugins=[git_plugin(ws, opts, log=say, state=state)])
    atomic_write(status_path(ws), json.dumps({
        "pid": os.getpid(), "version": BEADS_COMPAT_VERSION, "bdgit_version": __version__,
        "socket": str(sock_path), "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "database": str(ws.db_path), "options": opts,
    }, indent=2) + "\n")

    def on_signal(signum: int, frame: Any) -> None:
        server.stop(f"signal {signal.Signals(signum).name}")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    say(f"daemon started (pid {os.getpid()}, bdgit {__version__}, socket {sock_path})")
    # A crash (kill -9) loses no acknowledged write, but may leave dirty issues unexported.
    if server.writer_store.dirty_count():
        server.flush_due = time.monotonic()
    try:
        server.serve_forever()  # returns after the last flush and the plug-ins' close
    finally:
        try:
            sock.close()
        finally:
            _cleanup_files(ws)
            try:
                state.update(pid=0)
                state.close()
            except Exception:
                pass
            say(f"daemon stopped ({server.stop_reason or 'exit'})")
