"""The backends: one interface, two transports (``direct`` in-process, ``daemon`` over the
socket), and ``connect``, which picks the daemon when one answers and direct mode otherwise.

The daemon path imports only the socket client; direct mode is imported only when used.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Protocol

from .. import workspace
from ..errors import NotExportedError
from ..workspace.config import read_config


class Backend(Protocol):
    """What the CLI (and hooks, doctor) run operations on; both transports give the same
    results and raise the same core errors for the same request."""

    #: "direct" or "daemon"
    mode: str
    ws: workspace.Workspace
    #: messages for the user that are not errors (import warnings, a restarted daemon);
    #: the caller prints and clears them
    notices: list[str]
    #: progress(done, total) for long imports and exports, when someone watches (direct mode
    #: draws it; the daemon does its work elsewhere and ignores it)
    progress: Callable[[int, int], None] | None
    #: a write was committed but the JSONL could not be updated (a full disk): the CLI reports
    #: it after the command's output, with its own exit status, so that nobody repeats the write
    export_error: NotExportedError | None

    def call(self, op: str, args: dict[str, Any] | None = None) -> Any:
        """Run operation ``op``; returns its data. Raises BdError."""
        ...

    def close(self) -> None:
        ...


class Options(Protocol):
    """The global flags ``connect`` reads (the CLI's Globals)."""

    db: str | None
    actor: str | None
    no_daemon: bool
    no_auto_flush: bool
    no_auto_import: bool
    timeout: float | None


def connect(g: Options) -> Backend:
    """A backend for the global flags ``g``. Raises NoDatabaseError.

    ``g.sandbox`` (beads' ``--sandbox``): never start a daemon and never reach a remote; a
    daemon that already runs is still used (it is the workspace's one writer, and what it
    does with git is its own configuration). ``g.readonly``: the backend refuses writes."""
    ws = workspace.find(g.db)
    actor = workspace.actor(g.actor)
    notices: list[str] = []
    readonly = bool(getattr(g, "readonly", False))
    if not g.no_daemon:
        client = _try_daemon(ws, actor, g, notices)
        if client is not None:
            client.readonly = readonly  # type: ignore[attr-defined]
            return client
        if auto_start_wanted(ws) and not getattr(g, "sandbox", False):
            from ..daemon.lifecycle import start
            from ..errors import DaemonError
            try:
                start(ws)
                client = _try_daemon(ws, actor, g, notices)
                if client is not None:
                    return client
            except DaemonError as e:
                notices.append(f"could not auto-start the daemon ({e}); running in direct mode")
    from .direct import DirectBackend
    b = DirectBackend(ws, actor, auto_flush=not g.no_auto_flush, auto_import=not g.no_auto_import)
    b.readonly = readonly
    b.notices.extend(notices)
    return b


def auto_start_wanted(ws: workspace.Workspace) -> bool:
    """BEADS_AUTO_START_DAEMON (true/false) wins; else the ``daemon.auto_start`` config."""
    env = os.environ.get("BEADS_AUTO_START_DAEMON", "").strip().lower()
    if env in ("1", "true", "yes", "on"):
        return True
    if env in ("0", "false", "no", "off"):
        return False
    value = read_config(ws, "daemon.auto_start") or ""
    return value.strip().lower() in ("1", "true", "yes", "on")


def _try_daemon(ws: workspace.Workspace, actor: str, g: Options, notices: list[str]) -> Backend | None:
    """A connected daemon client, or None when no daemon of ours answers on the socket (why
    not, when it matters, goes to ``notices``)."""
    from .daemon import DaemonBackend
    return DaemonBackend.try_connect(ws, actor, timeout=g.timeout, notices=notices)
