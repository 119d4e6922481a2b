"""Daemon lifecycle: start, stop, status, restart, logs, and the foreground run.

One daemon per workspace: the daemon takes an exclusive ``flock`` on ``.beads/daemon.lock``
for its whole life *before* it binds the socket. Whoever holds that lock is the daemon; the
socket, ``daemon.json`` (status) and ``bd.state`` files are hints that a new daemon simply
replaces when nobody holds the lock (so files left by ``kill -9`` never block a start).
"""
from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .. import BEADS_COMPAT_VERSION, __version__
from ..errors import DaemonError
from ..rpc.protocol import POINTER_NAME, socket_path_for
from ..workspace import Workspace

EXIT_ALREADY_RUNNING = 3
DEFAULTS = {"flush_interval": 1.0, "idle_timeout": 1800.0, "auto_commit": False, "auto_push": False}


def lock_path(ws: Workspace) -> Path:
    return ws.beads_dir / "daemon.lock"


def status_path(ws: Workspace) -> Path:
    return ws.beads_dir / "daemon.json"


def log_path(ws: Workspace) -> Path:
    return ws.beads_dir / "daemon.log"


def _lock_held(ws: Workspace) -> bool:
    """Whether some process holds the daemon's lifetime lock (i.e. a daemon is alive)."""
    try:
        fd = os.open(lock_path(ws), os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def read_status(ws: Workspace) -> dict[str, Any] | None:
    try:
        return json.loads(status_path(ws).read_text())
    except (OSError, ValueError):
        return None


def _ping(ws: Workspace, timeout: float = 2.0) -> dict[str, Any] | None:
    from ..rpc.client import Client
    from ..rpc.protocol import find_socket
    try:
        with Client(find_socket(ws.beads_dir), timeout=timeout, client_version=None) as c:
            return c.execute("health")
    except Exception:
        return None


def status(ws: Workspace) -> dict[str, Any]:
    """What we know about the workspace's daemon (``running`` false when there is none)."""
    held = _lock_held(ws)
    st = read_status(ws) or {}
    if not held:
        return {"running": False, "workspace": str(ws.root),
                **({"stale_status_file": True} if st else {})}
    health = _ping(ws)
    out = {"running": True, "pid": st.get("pid"), "version": st.get("version"),
           "bdgit_version": st.get("bdgit_version"), "socket": st.get("socket"),
           "started_at": st.get("started_at"), "log": str(log_path(ws)), "options": st.get("options", {}),
           "workspace": str(ws.root)}
    if health is None:
        out["responding"] = False
    else:
        out["responding"] = True
        out["health"] = health
    return out


def log(ws: Workspace, msg: str) -> None:
    line = f"[{time.strftime('%Y-%m-%d %H:%M:%S')}] {msg}\n"
    try:
        with open(log_path(ws), "a", encoding="utf-8") as f:
            f.write(line)
    except OSError:
        pass


# --- start / stop ----------------------------------------------------------------------------

def start(ws: Workspace, options: dict[str, Any] | None = None, *, wait: float = 10.0) -> dict[str, Any]:
    """Start a daemon in the background and return its status once it answers.

    Returns the running one's status (``already_running``) when there is one. Raises
    DaemonError with the reason from the log when the new daemon does not come up.
    """
    opts = {**DEFAULTS, **(options or {})}
    if _lock_held(ws):
        st = _wait_answering(ws, wait)
        st["already_running"] = True
        return st
    cmd = [sys.executable, "-m", "bdgit", "--db", str(ws.db_path), "daemon", "start", "--foreground",
           "--interval", str(opts["flush_interval"]), "--idle-timeout", str(opts["idle_timeout"])]
    if opts.get("auto_commit"):
        cmd.append("--auto-commit")
    if opts.get("auto_push"):
        cmd.append("--auto-push")
    log_size = log_path(ws).stat().st_size if log_path(ws).exists() else 0
    from ..gitsync.env import git_env
    env = git_env(keep_repo=False)  # the daemon addresses the repository by its work tree
    with open(os.devnull, "rb") as devnull, open(log_path(ws), "ab") as logf:
        proc = subprocess.Popen(cmd, stdin=devnull, stdout=logf, stderr=logf, cwd=str(ws.root),
                                start_new_session=True, env=env, close_fds=True)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        code = proc.poll()
        if code is not None and code != 0:
            if code == EXIT_ALREADY_RUNNING:  # lost the race to another start: report the winner
                st = _wait_answering(ws, max(deadline - time.monotonic(), 1.0))
                st["already_running"] = True
                return st
            raise DaemonError(f"the daemon exited at start (code {code}): {_log_tail(ws, log_size)}",
                              f"see {log_path(ws)}")
        if _ping(ws, timeout=0.5) is not None:
            st = status(ws)
            st["started"] = True
            return st
        time.sleep(0.02)
    raise DaemonError(f"the daemon did not answer within {wait:g}s: {_log_tail(ws, log_size)}",
                      f"see {log_path(ws)}")


def _wait_answering(ws: Workspace, wait: float) -> dict[str, Any]:
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if _ping(ws, timeout=0.5) is not None:
            return status(ws)
        if not _lock_held(ws):
            break
        time.sleep(0.02)
    st = status(ws)
    if not st.get("running"):
        raise DaemonError("the daemon that was starting went away", f"see {log_path(ws)}")
    return st


def _log_tail(ws: Workspace, offset: int = 0, lines: int = 5) -> str:
    try:
        with open(log_path(ws), "rb") as f:
            f.seek(offset)
            text = f.read().decode(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(text[-lines:]) or "(nothing in the log)"


def stop(ws: Workspace, *, wait: float = 10.0) -> dict[str, Any]:
    """Stop the daemon: ask it to shut down (it flushes first), then SIGTERM, then SIGKILL."""
    if not _lock_held(ws):
        _cleanup_files(ws)
        return {"stopped": False, "running": False, "message": "no daemon is running"}
    st = read_status(ws) or {}
    pid = st.get("pid")
    from ..rpc.client import Client
    from ..rpc.protocol import find_socket
    try:
        with Client(find_socket(ws.beads_dir), timeout=2.0, client_version=None) as c:
            c.execute("shutdown")
    except Exception:
        if pid:
            _signal(pid, signal.SIGTERM)
    if _wait_released(ws, wait):
        return {"stopped": True, "pid": pid}
    if pid:
        _signal(pid, signal.SIGTERM)
        if _wait_released(ws, 5.0):
            return {"stopped": True, "pid": pid}
        _signal(pid, signal.SIGKILL)
        if _wait_released(ws, 5.0):
            _cleanup_files(ws)
            return {"stopped": True, "pid": pid, "killed": True}
    raise DaemonError(f"the daemon (pid {pid}) did not stop", f"see {log_path(ws)}")


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _wait_released(ws: Workspace, wait: float) -> bool:
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if not _lock_held(ws):
            return True
        time.sleep(0.02)
    return False


def restart(ws: Workspace, options: dict[str, Any] | None = None) -> dict[str, Any]:
    prev = (read_status(ws) or {}).get("options", {})
    stop(ws)
    return start(ws, {**prev, **(options or {})})


def restart_for_version(ws: Workspace, reason: str) -> None:
    """Replace a running daemon of another bdgit version with one of ours."""
    log(ws, f"client of bdgit {__version__} restarts the daemon: {reason}")
    restart(ws)


def _cleanup_files(ws: Workspace) -> None:
    for p in (status_path(ws), ws.beads_dir / POINTER_NAME):
        try:
            p.unlink()
        except FileNotFoundError:
            pass
    sock = socket_path_for(ws.beads_dir)
    try:
        if sock.is_socket():
            sock.unlink()
    except OSError:
        pass


def logs(ws: Workspace, lines: int = 50) -> str:
    try:
        text = log_path(ws).read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return ""
    return "\n".join(text[-lines:]) if lines > 0 else "\n".join(text)
