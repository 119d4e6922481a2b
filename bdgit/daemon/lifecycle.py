"""Daemon lifecycle: start, stop, status, restart, logs, and the foreground run.

One daemon per workspace: the daemon takes an exclusive ``flock`` on ``.beads/daemon.lock``
for its whole life *before* it binds the socket. Whoever holds that lock is the daemon; the
socket, ``daemon.json`` (status) and ``bd.state`` files are hints that a new daemon simply
replaces when nobody holds the lock (so files left by ``kill -9`` never block a start).
"""
from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import DaemonError, UnsafePathError
from ..rpc.protocol import POINTER_NAME, socket_path_for
from ..workspace import Workspace, safefs

EXIT_ALREADY_RUNNING = 3
DEFAULTS = {"flush_interval": 1.0, "idle_timeout": 1800.0, "auto_commit": False, "auto_push": False}


def lock_path(ws: Workspace) -> Path:
    return ws.beads_dir / "daemon.lock"


def status_path(ws: Workspace) -> Path:
    return ws.beads_dir / "daemon.json"


def log_path(ws: Workspace) -> Path:
    return ws.beads_dir / "daemon.log"


def open_lock(ws: Workspace) -> int:
    """A descriptor of ``.beads/daemon.lock`` (created 0600; never through a link or a FIFO:
    UnsafePathError)."""
    return safefs.open_file(lock_path(ws), os.O_RDWR | os.O_CREAT, safefs.PRIVATE_FILE)


def open_log(ws: Workspace) -> int:
    """A descriptor appending to ``.beads/daemon.log`` (created 0600; UnsafePathError for a
    link, FIFO or another user's file)."""
    return safefs.open_file(log_path(ws), os.O_WRONLY | os.O_APPEND | os.O_CREAT, safefs.PRIVATE_FILE)


def lock_held(ws: Workspace) -> bool:
    """Whether some process holds the daemon's lifetime lock (i.e. a daemon is alive)."""
    try:
        fd = open_lock(ws)
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
    """``daemon.json``, or None when there is none or it is not a JSON object. Raises
    UnsafePathError for a link or another user's file."""
    from ..intake import loads
    try:
        data = loads(safefs.read_bytes(status_path(ws), limit=1 << 20))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


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
    held = lock_held(ws)
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


#: where log lines also go (stderr for ``bd daemon start --foreground``: service managers
#: collect a foreground daemon's stderr, not a file of its own)
ECHO: list[Any] = []


def log(ws: Workspace, msg: str) -> None:
    line = f"[{time.strftime('%Y-%m-%d %H:%M:%S')}] {msg}\n"
    try:
        fd = open_log(ws)
    except (OSError, UnsafePathError):
        return
    try:
        os.write(fd, line.encode("utf-8", "replace"))
    except OSError:  # a full disk: the log is a nicety
        pass
    finally:
        os.close(fd)
    for stream in ECHO:
        try:
            stream.write(line)
            stream.flush()
        except (OSError, ValueError):
            pass


# --- start / stop ----------------------------------------------------------------------------

def start(ws: Workspace, options: dict[str, Any] | None = None, *, wait: float = 10.0) -> dict[str, Any]:
    """Start a daemon in the background and return its status once it answers.

    Returns the running one's status (``already_running``) when there is one. Raises
    DaemonError with the reason when the new daemon does not come up: the daemon reports it
    through a pipe, so it arrives even when the log cannot be written (a full disk).
    Interrupted (Ctrl-C) before the daemon answered, it stops the daemon it started, so that
    none is left running unreported.
    """
    opts = {**DEFAULTS, **(options or {})}
    if lock_held(ws):
        st = _wait_answering(ws, wait)
        st["already_running"] = True
        return st
    cmd = [sys.executable, "-m", "bdgit", "--db", str(ws.db_path), "daemon", "start", "--foreground",
           "--interval", str(opts["flush_interval"]), "--idle-timeout", str(opts["idle_timeout"])]
    if opts.get("auto_commit"):
        cmd.append("--auto-commit")
    if opts.get("auto_push"):
        cmd.append("--auto-push")
    from ..gitsync.env import git_env
    env = git_env(keep_repo=False)  # the daemon addresses the repository by its work tree
    logf = open_log(ws)
    log_size = os.fstat(logf).st_size
    ready_r, ready_w = os.pipe()
    env[READY_FD_ENV] = str(ready_w)
    proc: subprocess.Popen[bytes] | None = None
    try:
        # a Ctrl-C between fork and the assignment would orphan the child: hold it back
        held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            with open(os.devnull, "rb") as devnull:
                proc = subprocess.Popen(cmd, stdin=devnull, stdout=logf, stderr=logf, cwd=str(ws.root),
                                        start_new_session=True, env=env, close_fds=True, pass_fds=(ready_w,))
        finally:
            os.close(ready_w)
            os.close(logf)
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
        return _await_start(ws, proc, ready_r, wait, log_size)
    except KeyboardInterrupt:
        if proc is not None:
            _abandon(proc)
        raise
    finally:
        os.close(ready_r)


#: the environment variable naming the pipe a starting daemon reports on ("ready" or "error: ...")
READY_FD_ENV = "BD_DAEMON_READY_FD"


def _await_start(ws: Workspace, proc: subprocess.Popen[bytes], ready: int, wait: float,
                 log_size: int) -> dict[str, Any]:
    import select
    deadline = time.monotonic() + wait
    said = b""
    while time.monotonic() < deadline:
        if select.select([ready], [], [], 0)[0]:
            chunk = os.read(ready, 4096)
            said += chunk
        code = proc.poll()
        if code is not None and code != 0:
            if code == EXIT_ALREADY_RUNNING:  # lost the race to another start: report the winner
                st = _wait_answering(ws, max(deadline - time.monotonic(), 1.0))
                st["already_running"] = True
                return st
            said += _drain(ready)
            raise DaemonError(f"the daemon could not start: {_reason(said) or _log_tail(ws, log_size)}",
                              "fix what it names and start it again; bd works without it meanwhile")
        if b"ready" in said.split(b"\n") and _ping(ws, timeout=0.5) is not None:
            st = status(ws)
            st["started"] = True
            return st
        time.sleep(0.02)
    raise DaemonError(f"the daemon did not answer within {wait:g}s: {_reason(said) or _log_tail(ws, log_size)}",
                      f"see {log_path(ws)}")


def _drain(fd: int) -> bytes:
    import select
    out = b""
    while select.select([fd], [], [], 0.2)[0]:
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        out += chunk
    return out


def _reason(said: bytes) -> str:
    for line in said.decode("utf-8", "replace").splitlines():
        if line.startswith("error: "):
            return line[7:]
    return ""


def _abandon(proc: subprocess.Popen[bytes]) -> None:
    """Stop a daemon whose start was interrupted (it flushes on SIGTERM)."""
    try:
        proc.terminate()
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
    except (OSError, KeyboardInterrupt):
        proc.kill()


def _wait_answering(ws: Workspace, wait: float) -> dict[str, Any]:
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if _ping(ws, timeout=0.5) is not None:
            return status(ws)
        if not lock_held(ws):
            break
        time.sleep(0.02)
    st = status(ws)
    if not st.get("running"):
        raise DaemonError("the daemon that was starting went away", f"see {log_path(ws)}")
    return st


def _log_tail(ws: Workspace, offset: int = 0, lines: int = 5) -> str:
    try:
        text = safefs.read_bytes(log_path(ws))[offset:].decode(errors="replace").strip().splitlines()
    except (OSError, UnsafePathError):
        return "(no log)"
    return " | ".join(text[-lines:]) or "(nothing in the log)"


def stop(ws: Workspace, *, wait: float = 10.0) -> dict[str, Any]:
    """Stop the daemon: ask it to shut down (it flushes first), then SIGTERM, then SIGKILL."""
    if not lock_held(ws):
        cleanup_files(ws)
        return {"stopped": False, "running": False, "message": "no daemon is running"}
    st = read_status(ws) or {}
    pid = st.get("pid")
    from ..rpc.client import Client
    from ..rpc.protocol import find_socket
    final: dict[str, Any] = {}
    try:
        with Client(find_socket(ws.beads_dir), timeout=wait + 30.0, client_version=None) as c:
            # the answer comes after the daemon's final flush, and says how it went
            final = c.execute("shutdown", {"wait": True}) or {}
    except Exception:
        if pid:
            _signal(pid, signal.SIGTERM)
    if _wait_released(ws, wait):
        out: dict[str, Any] = {"stopped": True, "pid": pid}
        if final.get("flush_error"):
            out["flush_error"] = final["flush_error"]
            out["dirty"] = final.get("dirty", 0)
        return out
    if pid:
        _signal(pid, signal.SIGTERM)
        if _wait_released(ws, 5.0):
            return {"stopped": True, "pid": pid}
        _signal(pid, signal.SIGKILL)
        if _wait_released(ws, 5.0):
            cleanup_files(ws)
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
        if not lock_held(ws):
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


def cleanup_files(ws: Workspace) -> None:
    for p in (status_path(ws), ws.beads_dir / POINTER_NAME):
        try:
            p.unlink()
        except FileNotFoundError:
            pass
    for sock in (socket_path_for(ws.beads_dir), ws.beads_dir / ALIAS_NAME):
        try:
            import stat as st
            if st.S_ISSOCK(os.lstat(sock).st_mode):  # a link or a file there is not ours to remove
                sock.unlink()
        except OSError:
            pass


def logs(ws: Workspace, lines: int = 50) -> str:
    try:
        text = safefs.read_bytes(log_path(ws)).decode("utf-8", "replace").splitlines()
    except FileNotFoundError:
        return ""
    return "\n".join(text[-lines:]) if lines > 0 else "\n".join(text)
