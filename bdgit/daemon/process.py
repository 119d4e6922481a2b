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
from ..errors import BdError
from ..rpc import peer
from ..rpc.protocol import POINTER_NAME, socket_path_for
from ..workspace import Workspace, safefs
from ..workspace.files import atomic_write
from .lifecycle import (DEFAULTS, EXIT_ALREADY_RUNNING, READY_FD_ENV, _link_alias, cleanup_files, log, open_lock,
                        read_status,
                        status_path)

EXIT_CANNOT_START = 1


def run_foreground(ws: Workspace, options: dict[str, Any] | None = None) -> int:
    """Be the daemon (blocks until stopped). Returns EXIT_ALREADY_RUNNING if another one is,
    EXIT_CANNOT_START (after saying why on stderr and to the starting ``bd``) when it cannot
    set up: an unsafe file in ``.beads/``, a socket directory of another user, a full disk."""
    opts = {**DEFAULTS, **(options or {})}
    ready = _ready_fd()
    try:
        lfd = _take_lifetime_lock(ws)
    except (BdError, OSError) as e:
        return _cannot_start(ready, e)
    if lfd is None:
        st = read_status(ws) or {}
        sys.stderr.write(f"bd daemon already running (pid {st.get('pid', '?')})\n")
        _close(ready)
        return EXIT_ALREADY_RUNNING
    try:
        # We hold the lock: any socket/status/state file is left over from a dead daemon.
        cleanup_files(ws)
        safefs.clean_stale_temps(ws.beads_dir)  # temp files of a crash or a full disk
        try:
            sock, sock_path = _bind(ws)
        except (BdError, OSError) as e:
            return _cannot_start(ready, e)
        return _serve(ws, sock, sock_path, opts, ready)
    finally:
        fcntl.flock(lfd, fcntl.LOCK_UN)
        os.close(lfd)


def _ready_fd() -> int | None:
    """The pipe the starting ``bd daemon start`` reads our outcome on, if it gave us one."""
    v = os.environ.pop(READY_FD_ENV, "")
    try:
        fd = int(v)
        os.fstat(fd)
    except (ValueError, OSError):
        return None
    os.set_inheritable(fd, False)
    return fd


def _tell(fd: int | None, text: str) -> None:
    if fd is not None:
        try:
            os.write(fd, text.encode("utf-8", "replace") + b"\n")
        except OSError:
            pass


def _close(fd: int | None) -> None:
    if fd is not None:
        try:
            os.close(fd)
        except OSError:
            pass


def _cannot_start(ready: int | None, e: BaseException) -> int:
    """Say why the daemon cannot start: to the starting ``bd`` (a pipe: works on a full disk)
    and on stderr (the log, or the service manager's journal)."""
    if isinstance(e, BdError):
        reason = e.message + (f" ({e.hint})" if e.hint else "")
    elif isinstance(e, OSError):
        reason = f"{e.filename}: {e.strerror}" if e.filename else str(e.strerror or e)
    else:
        reason = f"{type(e).__name__}: {e}"
    _tell(ready, f"error: {reason}")
    _close(ready)
    try:
        sys.stderr.write(f"bd daemon: cannot start: {reason}\n")
        sys.stderr.flush()
    except OSError:
        pass
    return EXIT_CANNOT_START


def _take_lifetime_lock(ws: Workspace) -> int | None:
    """The held lifetime lock's fd (whoever holds it is the daemon), or None when taken.

    ``lifecycle.lock_held`` tests the lock by taking it for an instant, so a lock found taken
    may be a client looking: only one still taken after a short while means another daemon."""
    lfd = open_lock(ws)
    deadline = time.monotonic() + 0.5
    while True:
        try:
            fcntl.flock(lfd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(lfd)
                return None
            time.sleep(0.01)
    os.set_inheritable(lfd, False)
    return lfd


def _bind(ws: Workspace) -> tuple[socket.socket, Path]:
    """The listening socket, born 0600 (in a short private directory when the path is long)."""
    sock_path = socket_path_for(ws.beads_dir)
    if sock_path.parent != ws.beads_dir:
        peer.prepare_short_dir(sock_path)  # ours and 0700, or UnsafePathError
    if os.path.lexists(sock_path):
        peer.check_socket(sock_path)  # a link or a file there is refused, never removed
        sock_path.unlink()  # a stale socket of ours (we hold the lifetime lock)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)  # nobody else may even connect
    try:
        sock.bind(str(sock_path))
    finally:
        os.umask(old_umask)
    os.chmod(sock_path, 0o600)
    sock.listen(128)
    if sock_path.parent != ws.beads_dir:
        try:
            atomic_write(ws.beads_dir / POINTER_NAME, str(sock_path) + "\n", mode=safefs.PRIVATE_FILE,
                         exact_mode=True, check_target=True)
        except BaseException:
            sock.close()
            raise
    else:
        _link_alias(ws.beads_dir, sock_path)
    return sock, sock_path


def _serve(ws: Workspace, sock: socket.socket, sock_path: Path, opts: dict[str, Any], ready: int | None) -> int:
    """Serve on ``sock`` until stopped; leaves no socket, status or pid behind."""
    from ..gitsync.auto import plugin as git_plugin
    from ..rpc.server import Server
    from ..workspace import statefile

    def say(msg: str) -> None:
        log(ws, msg)

    try:
        state = statefile.Writer(ws.state_path)
        try:
            state.update(pid=os.getpid(), protocol=1, started=time.time(),
                         flags=statefile.FLAG_AUTO_COMMIT if opts.get("auto_commit") else 0)
            server = Server(ws, sock, flush_interval=float(opts["flush_interval"]),
                            idle_timeout=float(opts["idle_timeout"]), log=say, state=state,
                            plugins=[git_plugin(ws, opts, log=say, state=state)])
            atomic_write(status_path(ws), json.dumps({
                "pid": os.getpid(), "version": BEADS_COMPAT_VERSION, "bdgit_version": __version__,
                "socket": str(sock_path), "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "database": str(ws.db_path), "options": opts,
            }, indent=2) + "\n", mode=safefs.PRIVATE_FILE, exact_mode=True, check_target=True)
        except BaseException:
            try:
                state.update(pid=0)
            except Exception:  # pragma: no cover - the map is in memory already
                pass
            state.close()
            raise
    except (BdError, OSError) as e:
        sock.close()
        cleanup_files(ws)
        return _cannot_start(ready, e)

    def on_signal(signum: int, frame: Any) -> None:
        server.stop(f"signal {signal.Signals(signum).name}")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    say(f"daemon started (pid {os.getpid()}, bdgit {__version__}, socket {sock_path})")
    _tell(ready, "ready")
    _close(ready)
    # A crash (kill -9) loses no acknowledged write, but may leave dirty issues unexported.
    if server.writer_store.dirty_count():
        server.flush_due = time.monotonic()
    try:
        server.serve_forever()  # returns after the last flush and the plug-ins' close
    finally:
        try:
            sock.close()
        finally:
            cleanup_files(ws)
            try:
                state.update(pid=0)
                state.close()
            except Exception:
                pass
            say(f"daemon stopped ({server.stop_reason or 'exit'})")
    return 0
