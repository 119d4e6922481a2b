"""The daemon backend: the CLI's transport when a daemon answers on the workspace's socket.

Imports only the socket client (``_socket``, json): no SQLite, no pygit2.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from ..errors import BdError
from ..rpc.client import DEFAULT_TIMEOUT, Client, data_of
from ..rpc.protocol import find_socket
from ..workspace import Workspace


class DaemonBackend:
    """The CLI's transport when a daemon answers: ``call(op, args)`` over one connection."""

    mode = "daemon"

    def __init__(self, ws: Workspace, client: Client) -> None:
        self.ws = ws
        self.client = client
        self.notices: list[str] = []
        self.progress: Callable[[int, int], None] | None = None  # the daemon reports none

    @classmethod
    def try_connect(cls, ws: Workspace, actor: str, timeout: float | None = None) -> DaemonBackend | None:
        """Connect if a daemon listens for ``ws``; None (quietly) when none does."""
        sock = find_socket(ws.beads_dir)
        if not os.path.exists(sock):
            return None
        client = Client(sock, timeout=timeout or DEFAULT_TIMEOUT, actor=actor, cwd=None)
        try:
            client.connect(timeout=min(timeout or 2.0, 2.0))
        except BdError:
            return None
        return cls(ws, client)

    def call(self, op: str, args: dict[str, Any] | None = None) -> Any:
        resp = self.client.request(op, args)
        if not resp.get("success") and resp.get("kind") == "version_mismatch":
            resp = self._replace_daemon(op, args, resp)
        self.notices.extend(resp.get("notices") or [])
        return data_of(resp)

    def _replace_daemon(self, op: str, args: dict[str, Any] | None, resp: dict[str, Any]) -> dict[str, Any]:
        """A daemon of another bdgit version answered: restart it with ours, then retry once."""
        from ..daemon.lifecycle import restart_for_version
        self.client.close()
        restart_for_version(self.ws, resp.get("error", ""))
        self.notices.append(f"restarted the daemon (it ran another version: {resp.get('error')})")
        return self.client.request(op, args)

    def close(self) -> None:
        self.client.close()
