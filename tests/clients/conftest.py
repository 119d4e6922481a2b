"""Fixtures for the client acceptance tests: a ``bd`` on PATH and a seeded workspace, served
by a daemon or not (each test runs once per mode)."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import clientkit as ck
import pytest


@pytest.fixture(scope="session")
def bd_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("bd-bin")
    ck.bd_bin(d)
    return d


@pytest.fixture(params=["direct", "daemon"])
def client_ws(request: pytest.FixtureRequest, tmp_path: Path, bd_dir: Path) -> Iterator[dict[str, Any]]:
    """``{"repo", "env", "ids", "mode"}``: a seeded workspace; in mode ``daemon`` a real daemon
    serves it for the whole test."""
    env = ck.client_env(bd_dir)
    repo = ck.workspace(tmp_path, env)
    ids = ck.seed(repo, env)
    info = {"repo": repo, "env": env, "ids": ids, "mode": request.param, "bd": str(bd_dir / "bd")}
    if request.param == "daemon":
        gen = ck.daemon(repo, env)
        next(gen)
        try:
            yield info
        finally:
            next(gen, None)
    else:
        yield info
