"""A real daemon for tests: started with ``bdgit.daemon.lifecycle``, stopped (or killed) after."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from bdgit.daemon import lifecycle as d
from bdgit.rpc.client import Client
from bdgit.workspace import Workspace, find


class Daemon:
    def __init__(self, repo: Path) -> None:
        self.repo = repo
        self.ws: Workspace = find(cwd=repo)
        self.st: dict[str, Any] = {}

    def start(self, **opts: Any) -> Daemon:
        """Start it; its commits follow each other 0.1 s apart at least unless ``commit_interval``
        says otherwise (None: the configured or default spacing)."""
        opts = {"idle_timeout": 300, "commit_interval": 0.1, **opts}
        if opts["commit_interval"] is None:
            del opts["commit_interval"]
        self.st = d.start(self.ws, opts)
        return self

    def stop(self) -> None:
        try:
            d.stop(self.ws, wait=10)
        except Exception:
            import signal
            if self.st.get("pid"):
                try:
                    os.kill(self.st["pid"], signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def client(self, actor: str = "agent") -> Client:
        return Client(self.ws.beads_dir, actor=actor, timeout=30)

    def health(self) -> dict[str, Any]:
        with self.client() as c:
            return c.execute("health")

    def create(self, title: str, **kw: Any) -> str:
        with self.client() as c:
            return c.execute("create", {"title": title, **kw})["id"]
