"""Helpers shared by the tests (fixtures live in ``conftest.py``): paths, running ``bd`` as a
real process or in-process, git, polling."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
DATA_DIR = REPO_ROOT.parent / "shared" / "data" / "beads-jsonl"
BD = [sys.executable, "-m", "bdgit"]


def git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=cwd, check=check, text=True, capture_output=True)


def run_bd(*args: str, cwd: Path | None = None, input: str | None = None,
           env: dict[str, str] | None = None, check: bool = False) -> subprocess.CompletedProcess[str]:
    """Run the real ``bd`` as a subprocess (python -m bdgit)."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    proc = subprocess.run([*BD, *args], cwd=cwd, input=input, text=True, capture_output=True, env=full_env)
    if check and proc.returncode != 0:
        raise AssertionError(f"bd {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def bd_runner(capsys: Any) -> Callable[..., tuple[int, str, str]]:
    """A function running bd in-process (same code path as the console script) that returns
    (code, stdout, stderr)."""
    from bdgit.cli.main import run

    def call(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = run(list(args))
        out, err = capsys.readouterr()
        return code, out, err
    return call


def wait_for(pred: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02) -> Any:
    """Poll ``pred`` until it returns a truthy value (returned) or ``timeout`` passes (None)."""
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= end:
            return None
        time.sleep(interval)


def run_op(store: Any, op: str, actor: str = "tester", **args: Any) -> Any:
    """Run one operation in process on an open ``Store``, as ``actor`` (the data it returns)."""
    from bdgit import ops
    return ops.run(store, op, args, actor)


def new_issue(store: Any, title: str = "t", **args: Any) -> str:
    """Create an issue in process; its ID."""
    return str(run_op(store, "create", title=title, **args)["id"])
