"""Helpers for the tests of hostile files, other local users and full disks.

- :func:`other_user`: a real second local account (created with ``useradd`` when the tests run
  as root; otherwise the test is skipped with the reason), and :func:`as_user` to run a function
  as that user in a forked child (no exec: the interpreter's files need not be readable to it).
- :func:`shared_dir`: a directory other users can reach (pytest's tmp dirs are private).
- :func:`small_tmpfs`: a tiny tmpfs to fill the disk for real (root only, else skipped).
"""
from __future__ import annotations

import os
import pwd
import shutil
import sys
import subprocess
import tempfile
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

OTHER_USER = "bdgit-other"


def other_user() -> tuple[int, int]:
    """(uid, gid) of a second local user; skips the test when none can be had."""
    try:
        pw = pwd.getpwnam(OTHER_USER)
        return pw.pw_uid, pw.pw_gid
    except KeyError:
        pass
    if os.geteuid() != 0:
        pytest.skip("needs a second local user: run as root (useradd) or create the user "
                    f"{OTHER_USER!r} first")
    if shutil.which("useradd") is None:
        pytest.skip("needs useradd to create a second local user")
    p = subprocess.run(["useradd", "--no-create-home", "--shell", "/bin/false", OTHER_USER],
                       capture_output=True, text=True)
    if p.returncode not in (0, 9):  # 9: created meanwhile by a parallel test
        pytest.skip(f"useradd failed: {p.stderr.strip()}")
    pw = pwd.getpwnam(OTHER_USER)
    return pw.pw_uid, pw.pw_gid


def as_user(uid: int, gid: int, fn: Callable[..., Any], *args: Any) -> int:
    """Run ``fn(*args)`` as ``uid``/``gid`` in a forked child; returns its exit code (0 when
    ``fn`` returned normally, 1 after an exception, which is printed)."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 0
        try:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            fn(*args)
        except BaseException:
            traceback.print_exc()
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def start_as_user(uid: int, gid: int, fn: Callable[..., Any], *args: Any) -> int:
    """Like :func:`as_user` but returns the child's pid at once (kill and reap it yourself)."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 0
        try:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            fn(*args)
        except BaseException:
            traceback.print_exc()
            code = 1
        os._exit(code)
    return pid


@contextmanager
def shared_dir(mode: int = 0o755) -> Iterator[Path]:
    """A fresh directory under /tmp that other users can reach, removed afterwards."""
    d = Path(tempfile.mkdtemp(prefix="bdsec-", dir="/tmp"))
    os.chmod(d, mode)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@contextmanager
def small_tmpfs(size: str = "256k") -> Iterator[Path]:
    """A tmpfs of ``size`` mounted on a fresh directory; skips when it cannot be mounted."""
    if os.geteuid() != 0:
        pytest.skip("filling a disk needs a small tmpfs, and mounting one needs root")
    d = Path(tempfile.mkdtemp(prefix="bdfull-", dir="/tmp"))
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(d)],
                       capture_output=True, text=True)
    if p.returncode != 0:
        os.rmdir(d)
        pytest.skip(f"cannot mount a tmpfs here: {p.stderr.strip()}")
    try:
        yield d
    finally:
        subprocess.run(["umount", "-l", str(d)], capture_output=True)
        try:
            os.rmdir(d)
        except OSError:
            pass


def fill(directory: Path, name: str = "filler") -> Path:
    """Fill the filesystem of ``directory`` to the last byte; returns the filler file."""
    path = directory / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for size in (65536, 4096, 512, 1):
            chunk = b"\0" * size
            try:
                while True:
                    os.write(fd, chunk)
            except OSError:
                pass
    finally:
        os.close(fd)
    return path


def temp_files(directory: Path) -> list[str]:
    """Names of bd temp files (``.<name>.tmp.<pid>...``) in ``directory``."""
    return sorted(n for n in os.listdir(directory) if ".tmp." in n)


BD = [sys.executable, "-m", "bdgit"]


def bd(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 60,
       umask: int = -1, input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real ``bd`` in a subprocess; returns the completed process (never raises for
    a non-zero exit)."""
    full = dict(os.environ)
    full.update(env or {})
    return subprocess.run([*BD, *args], cwd=cwd, env=full, text=True, capture_output=True, timeout=timeout,
                          umask=umask, input=input)


def clean_exit(p: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    """``p`` printed no traceback (returned for chaining)."""
    assert "Traceback" not in p.stderr and "Traceback" not in p.stdout, p.stderr
    return p


def ok(p: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert p.returncode == 0, f"exit {p.returncode}\n{p.stdout}\n{p.stderr}"
    return clean_exit(p)


def refused(p: subprocess.CompletedProcess[str], *words: str) -> subprocess.CompletedProcess[str]:
    """``p`` failed cleanly, and its error mentions every one of ``words``."""
    assert p.returncode != 0, f"expected a refusal\n{p.stdout}\n{p.stderr}"
    clean_exit(p)
    for w in words:
        assert w in p.stderr, f"{w!r} not in: {p.stderr}"
    return p
