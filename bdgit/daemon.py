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

from . import BEADS_COMPAT_VERSION, __version__
from .errors import DaemonError
from .rpc.protocol import POINTER_NAME, socket_path_for
from .workspace import Workspace

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
    from .rpc.client import Client
    from .rpc.protocol import find_socket
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
    env = {k: v for k, v in os.environ.items() if k not in ("GIT_INDEX_FILE", "GIT_DIR", "GIT_WORK_TREE")}
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
    from .rpc.client import Client
    from .rpc.protocol import find_socket
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


#: the socket name beads' own daemon clients look for (mcp-beads discovers ``.beads/beads.sock``)
ALIAS_NAME = "beads.sock"


def _link_alias(beads_dir: Path, sock_path: Path) -> None:
    """A hard link to our socket under beads' name: the same inode, so either path reaches this
    daemon, with the same 0600 mode. A hard link, never a symlink (bd follows none in .beads/).
    Best effort: a client that dials bd.sock needs none of it."""
    alias = beads_dir / ALIAS_NAME
    try:
        if alias.is_socket():
            alias.unlink()  # we hold the lifetime lock: it is a dead daemon's
        if not os.path.lexists(alias):
            os.link(sock_path, alias)
    except OSError:
        pass


def _cleanup_files(ws: Workspace) -> None:
    for p in (status_path(ws), ws.beads_dir / POINTER_NAME):
        try:
            p.unlink()
        except FileNotFoundError:
            pass
    for sock in (socket_path_for(ws.beads_dir), ws.beads_dir / ALIAS_NAME):
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


# --- the daemon process ------------------------------------------------------------------------

def run_foreground(ws: Workspace, options: dict[str, Any] | None = None) -> int:
    """Be the daemon (blocks until stopped). Returns EXIT_ALREADY_RUNNING if another one is."""
    opts = {**DEFAULTS, **(options or {})}
    lfd = os.open(lock_path(ws), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lfd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(lfd)
        st = read_status(ws) or {}
        sys.stderr.write(f"bd daemon already running (pid {st.get('pid', '?')})\n")
        return EXIT_ALREADY_RUNNING
    os.set_inheritable(lfd, False)
    # We hold the lock: any socket/status/state file is left over from a dead daemon.
    _cleanup_files(ws)
    sock_path = socket_path_for(ws.beads_dir)
    if sock_path.parent != ws.beads_dir:
        sock_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(sock_path.parent, 0o700)
        if sock_path.exists():
            sock_path.unlink()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)  # the socket is born 0600: nobody else may even connect
    try:
        sock.bind(str(sock_path))
    finally:
        os.umask(old_umask)
    os.chmod(sock_path, 0o600)
    sock.listen(128)
    if sock_path.parent != ws.beads_dir:
        _write_atomic(ws.beads_dir / POINTER_NAME, str(sock_path) + "\n")
    else:
        _link_alias(ws.beads_dir, sock_path)

    from . import fastpath
    from .rpc.server import Server
    state = fastpath.Writer(ws.state_path)
    state.update(pid=os.getpid(), protocol=1, started=time.time(),
                 flags=fastpath.FLAG_AUTO_COMMIT if opts.get("auto_commit") else 0)
    server = Server(ws, sock, flush_interval=float(opts["flush_interval"]),
                    idle_timeout=float(opts["idle_timeout"]), log=lambda m: log(ws, m), state=state)
    git_agent = _attach_git(ws, server, opts)
    _write_atomic(status_path(ws), json.dumps({
        "pid": os.getpid(), "version": BEADS_COMPAT_VERSION, "bdgit_version": __version__,
        "socket": str(sock_path), "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "database": str(ws.db_path), "options": opts,
    }, indent=2) + "\n")

    def on_signal(signum: int, frame: Any) -> None:
        server.stop(f"signal {signal.Signals(signum).name}")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    log(ws, f"daemon started (pid {os.getpid()}, bdgit {__version__}, socket {sock_path})")
    # A crash (kill -9) loses no acknowledged write, but may leave dirty issues unexported.
    if server.writer_store.dirty_count():
        server.flush_due = time.monotonic()
    try:
        server.serve_forever()
    finally:
        if git_agent is not None:
            git_agent.close()  # after the last flush: commit what it wrote (bounded)
        try:
            sock.close()
        finally:
            _cleanup_files(ws)
            try:
                state.update(pid=0)
                state.close()
            except Exception:
                pass
            log(ws, f"daemon stopped ({server.stop_reason or 'exit'})")
            fcntl.flock(lfd, fcntl.LOCK_UN)
            os.close(lfd)
    return 0


def _attach_git(ws: Workspace, server: Any, opts: dict[str, Any]) -> Any:
    """Let the git layer (auto-commit, sync branch) hook into the server, when available.
    Returns its agent (``close()`` at shutdown) or None."""
    try:
        from .gitsync import attach
    except ImportError:
        return None
    return attach(ws, server, opts)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp.{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)
