"""The daemon backend: the CLI's transport when a daemon answers on the workspace's socket.

Imports only the socket client (``_socket``, json): no SQLite, no pygit2.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from ..errors import BdError, NotExportedError, UnsafePathError
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
        #: set when a write was committed but the daemon could not write the JSONL (exit 4)
        self.export_error: NotExportedError | None = None
        #: --readonly: every request says so and the daemon refuses writes
        self.readonly = False

    @classmethod
    def try_connect(cls, ws: Workspace, actor: str, timeout: float | None = None,
                    notices: list[str] | None = None) -> DaemonBackend | None:
        """Connect if a daemon of ours listens for ``ws``; None when none does (quietly), or
        when the socket or its pointer is not trustworthy (another user's, a link): then it says
        why in ``notices`` and the caller works without the daemon."""
        try:
            sock = find_socket(ws.beads_dir)
            if not os.path.lexists(sock):
                return None
            client = Client(sock, timeout=timeout or DEFAULT_TIMEOUT, actor=actor, cwd=None)
            client.connect(timeout=min(timeout or 2.0, 2.0))
        except UnsafePathError as e:
            if notices is not None:
                notices.append(f"not using the daemon: {e.message}")
            return None
        except BdError:
            return None
        return cls(ws, client)

    def call(self, op: str, args: dict[str, Any] | None = None) -> Any:
        resp = self.client.request(op, args, readonly=self.readonly)
        if not resp.get("success") and resp.get("kind") == "version_mismatch":
            resp = self._replace_daemon(op, args, resp)
        self.notices.extend(resp.get("notices") or [])
        if resp.get("success") and resp.get("export_error"):
            # committed, but the daemon cannot write the JSONL at the moment (it retries)
            self.export_error = NotExportedError(
                f"saved in the database, but {self.ws.jsonl_path} was not updated: {resp['export_error']}",
                "do not run the command again: the change is saved, and the daemon writes the file as "
                "soon as it can (e.g. once disk space is freed); 'bd daemon status' shows how it goes",
                path=str(self.ws.jsonl_path))
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
