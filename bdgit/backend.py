"""Choosing a transport: the daemon when one answers, direct mode otherwise.

Both expose ``call(op, args) -> data`` (raising BdError), ``notices`` and ``ws``. The daemon
client path imports only the socket client; direct mode is imported only when used.
"""
from __future__ import annotations

from typing import Any

from . import workspace


def connect(g: Any) -> Any:
    """A backend for the CLI globals ``g`` (db, actor, no_daemon, ...). Raises NoDatabaseError."""
    ws = workspace.find(g.db)
    actor = workspace.actor(g.actor)
    if not g.no_daemon:
        client = _try_daemon(ws, actor, g)
        if client is not None:
            return client
    from .direct import DirectBackend
    return DirectBackend(ws, actor, auto_flush=not g.no_auto_flush, auto_import=not g.no_auto_import)


def _try_daemon(ws: workspace.Workspace, actor: str, g: Any) -> Any:
    """A connected daemon client, or None when no daemon answers on the socket."""
    try:
        from .rpc.client import DaemonBackend
    except ImportError:  # the daemon layer is optional at this stage
        return None
    return DaemonBackend.try_connect(ws, actor, timeout=g.timeout)
