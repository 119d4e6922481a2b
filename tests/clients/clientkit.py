"""Installing today's beads clients from the registries and running them against a workspace.

The clients are installed once into a cache outside the repository (``$BDGIT_CLIENTS_CACHE``,
default ``~/.cache/bdgit-clients``, taken from the real HOME before the tests isolate it) and
reused across runs; an install is guarded by a file lock so parallel workers share it.
Whatever cannot be had (npm, the network, chromium) makes the tests that need it skip, saying why.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import queue
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
CACHE = Path(os.environ.get("BDGIT_CLIENTS_CACHE") or Path(os.path.expanduser("~")) / ".cache" / "bdgit-clients")
REAL_HOME = os.path.expanduser("~")

#: exact versions the tests were written against (what the clients' users install today)
NPM_PACKAGES = ("beads-ui@0.12.0", "beads-workflows@0.1.1", "opencode-beads@0.3.2", "bun@1.4.5",
                "playwright-core@1.65.1")
PIP_PACKAGES = {"beads-mcp": "beads-mcp==1.3.2", "mcp-beads": "mcp-beads==0.30.3"}
INSTALL_TIMEOUT = 420
CHROMIUM = "/usr/bin/chromium"


@contextlib.contextmanager
def _lock(name: str) -> Iterator[None]:
    """One installer at a time per client (xdist workers share the cache)."""
    import fcntl
    CACHE.mkdir(parents=True, exist_ok=True)
    fd = os.open(CACHE / f".{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _stamp(dir_: Path, spec: str) -> Path:
    return dir_ / f".bdgit-installed-{hashlib.sha1(spec.encode()).hexdigest()[:12]}"


def _installer_env() -> dict[str, str]:
    env = dict(os.environ)
    env["HOME"] = REAL_HOME  # npm's and pip's own caches stay where the user keeps them
    for k in ("PYTHONPATH", "VIRTUAL_ENV"):
        env.pop(k, None)
    return env


def _run_install(cmd: list[str], cwd: Path, what: str) -> None:
    try:
        p = subprocess.run(cmd, cwd=cwd, env=_installer_env(), capture_output=True, text=True,
                           timeout=INSTALL_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.skip(f"installing {what} took more than {INSTALL_TIMEOUT} s (no registry reachable?)")
    if p.returncode != 0:
        tail = (p.stderr or p.stdout).strip().splitlines()[-3:]
        pytest.skip(f"could not install {what} from its registry: {' | '.join(tail)}")


def npm_clients() -> Path:
    """The ``node_modules`` directory holding the npm clients (installed on first use)."""
    if not shutil.which("npm") or not shutil.which("node"):
        pytest.skip("npm/node are not installed (apt-get install nodejs npm)")
    dir_ = CACHE / "npm"
    spec = " ".join(NPM_PACKAGES)
    with _lock("npm"):
        if not _stamp(dir_, spec).exists():
            dir_.mkdir(parents=True, exist_ok=True)
            if not (dir_ / "package.json").exists():
                (dir_ / "package.json").write_text('{"name": "bdgit-client-cache", "private": true}\n')
            _run_install(["npm", "install", "--no-audit", "--no-fund", *NPM_PACKAGES], dir_, "the npm clients")
            _stamp(dir_, spec).write_text(spec + "\n")
    return dir_ / "node_modules"


def pip_client(name: str) -> Path:
    """The python executable of a venv holding PyPI package ``name`` (installed on first use)."""
    spec = PIP_PACKAGES[name]
    dir_ = CACHE / name
    py = dir_ / "bin" / "python"
    with _lock(name):
        if not _stamp(dir_, spec).exists():
            if not py.exists():
                _run_install([sys.executable, "-m", "venv", str(dir_)], CACHE, f"a venv for {name}")
            _run_install([str(py), "-m", "pip", "install", "-q", spec], CACHE, spec)
            _stamp(dir_, spec).write_text(spec + "\n")
    return py


def chromium() -> str:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    return CHROMIUM


def bd_bin(dir_: Path) -> Path:
    """A ``bd`` executable in ``dir_`` running this checkout's bdgit (what the clients spawn)."""
    dir_.mkdir(parents=True, exist_ok=True)
    exe = dir_ / "bd"
    exe.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m bdgit "$@"\n')
    exe.chmod(0o755)
    return exe


def client_env(bin_dir: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    src = str(HERE.parent.parent)
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Lines:
    """A process's stdout read line by line on a thread, so waits are bounded."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.q: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.q.put(line.rstrip("\n"))
        self.q.put(None)

    def next(self, timeout: float) -> str | None:
        try:
            return self.q.get(timeout=timeout)
        except queue.Empty:
            return None


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


class UiServer:
    """beads-ui's server (``server/index.js``) serving ``workspace`` on a free loopback port."""

    def __init__(self, node_modules: Path, workspace: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(env, HOST="127.0.0.1", PORT=str(self.port))
        self.proc = subprocess.Popen(["node", str(node_modules / "beads-ui" / "server" / "index.js")],
                                     cwd=workspace, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True)
        self.out = Lines(self.proc)
        end = time.monotonic() + 20
        seen = []
        while time.monotonic() < end:
            line = self.out.next(0.5)
            if line is None and self.proc.poll() is not None:
                break
            if line:
                seen.append(line)
                if "listening on" in line:
                    return
        stop(self.proc)
        raise AssertionError("beads-ui did not start:\n" + "\n".join(seen))

    def close(self) -> None:
        stop(self.proc)


class UiSocket:
    """A WebSocket peer of beads-ui's server speaking its browser app's messages."""

    def __init__(self, node_modules: Path, server: UiServer) -> None:
        self.proc = subprocess.Popen(["node", str(HERE / "ws_driver.mjs"), str(node_modules),
                                      f"ws://127.0.0.1:{server.port}/ws"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.lines = Lines(self.proc)
        self.events: list[dict[str, Any]] = []
        self._n = 0
        first = self._read(10)
        assert first == {"driver": "open"}, f"WebSocket did not open: {first}"

    def _read(self, timeout: float) -> dict[str, Any] | None:
        line = self.lines.next(timeout)
        return None if line is None else json.loads(line)

    def request(self, type_: str, payload: Any = None, timeout: float = 20) -> dict[str, Any]:
        """Send one request envelope; return its reply (events seen meanwhile are kept)."""
        self._n += 1
        rid = f"req-{self._n}"
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"id": rid, "type": type_, "payload": payload}) + "\n")
        self.proc.stdin.flush()
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            msg = self._read(max(0.05, end - time.monotonic()))
            if msg is None:
                continue
            if msg.get("id") == rid:
                return msg
            self.events.append(msg)
        raise AssertionError(f"no reply to {type_} within {timeout} s")

    def subscribe(self, cid: str, type_: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Subscribe like the app does; return the snapshot's issues (the reply must be ok)."""
        payload: dict[str, Any] = {"id": cid, "type": type_}
        if params is not None:
            payload["params"] = params
        reply = self.request("subscribe-list", payload)
        assert reply.get("ok"), f"subscribe {type_}: {reply}"
        snaps = [e for e in self.events if e.get("type") == "snapshot" and e["payload"]["id"] == cid]
        assert snaps, f"no snapshot for {type_}"
        return list(snaps[-1]["payload"]["issues"])

    def wait_event(self, pred: Any, timeout: float) -> dict[str, Any] | None:
        """Wait for a pushed event matching ``pred`` (already seen ones count)."""
        end = time.monotonic() + timeout
        while True:
            for e in self.events:
                if pred(e):
                    return e
            left = end - time.monotonic()
            if left <= 0:
                return None
            msg = self._read(min(left, 0.5))
            if msg is not None:
                self.events.append(msg)

    def close(self) -> None:
        if self.proc.stdin:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
        stop(self.proc)


def run_json(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 120) -> Any:
    p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, f"{cmd[:3]} -> {p.returncode}\n{p.stdout[-2000:]}\n{p.stderr[-4000:]}"
    return json.loads(p.stdout.strip().splitlines()[-1])


def seed(workspace: Path, env: dict[str, str]) -> dict[str, str]:
    """Issues every client test starts from: an epic with two children (one closed), a blocker
    pair, a label and a comment. Returns their ids by role."""
    def bd(*args: str) -> Any:
        p = subprocess.run(["bd", *args, "--json"], cwd=workspace, env=env, capture_output=True, text=True,
                           timeout=60)
        assert p.returncode == 0, f"bd {' '.join(args)} -> {p.returncode}: {p.stderr}"
        return json.loads(p.stdout) if p.stdout.strip() else None
    ids = {}
    ids["epic"] = bd("create", "Launch the web UI", "-t", "epic", "-p", "1")["id"]
    ids["child1"] = bd("create", "Draw the issue list", "-t", "feature", "-l", "ui")["id"]
    ids["child2"] = bd("create", "Pick a colour scheme", "-t", "chore")["id"]
    bd("dep", "add", ids["child1"], ids["epic"], "--type", "parent-child")
    bd("dep", "add", ids["child2"], ids["epic"], "--type", "parent-child")
    bd("close", ids["child2"], "--reason", "picked")
    ids["blocker"] = bd("create", "Fix the login bug", "-t", "bug", "-p", "0")["id"]
    ids["blocked"] = bd("create", "Ship the release", "--deps", ids["blocker"])["id"]
    bd("comment", ids["blocker"], "seen in production")
    return ids


def workspace(root: Path, env: dict[str, str], prefix: str = "demo") -> Path:
    """A real git repository with a bd workspace (hooks off: clients do not need them)."""
    repo = root / "repo"
    repo.mkdir(parents=True)
    (repo / "README.md").write_text("a project\n")
    for args in (["init", "-q", "-b", "main"], ["config", "user.name", "UI Tester"],
                 ["config", "user.email", "ui@example.com"], ["config", "commit.gpgsign", "false"],
                 ["add", "README.md"], ["commit", "-qm", "start"]):
        subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, env=env)
    p = subprocess.run(["bd", "init", "--prefix", prefix, "--no-hooks", "-q"], cwd=repo, env=env,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return repo


def daemon(repo: Path, env: dict[str, str]) -> Iterator[None]:
    """Run a real daemon for ``repo`` while the generator is suspended."""
    p = subprocess.run(["bd", "daemon", "start"], cwd=repo, env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    try:
        yield
    finally:
        subprocess.run(["bd", "daemon", "stop"], cwd=repo, env=env, capture_output=True, text=True, timeout=60)
