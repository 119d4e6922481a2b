"""What the daemon's server queues and answers: a write request waiting for the writer
(``Job``), a subscription handed to the feed, a failed response, and the plug-in interface."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import BatchFailed, BdError, DeadlineExceeded

if TYPE_CHECKING:
    from ..store import Store
    from .server import Server

PENDING, RUNNING, DONE, CANCELLED = range(4)


@dataclass
class Job:
    op: str
    args: Any
    actor: str
    deadline: float
    done: threading.Event = field(default_factory=threading.Event)
    state: int = PENDING
    response: dict[str, Any] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: False once the client hung up (its connection closed): then the write never runs
    alive: Callable[[], bool] | None = None

    def try_start(self) -> bool:
        with self.lock:
            if self.state != PENDING:
                return False
            if time.monotonic() > self.deadline:
                self.state = CANCELLED
                self.response = cancelled(self.op)
                self.done.set()
                return False
            if self.alive is not None and not self.alive():
                self.state = CANCELLED
                self.response = failure(DeadlineExceeded(
                    f"cancelled: the client of this {self.op} request hung up before it could run (nothing changed)"))
                self.done.set()
                return False
            self.state = RUNNING
            return True

    def try_cancel(self) -> bool:
        with self.lock:
            if self.state == PENDING:
                self.state = CANCELLED
                self.response = cancelled(self.op)
                self.done.set()
                return True
            return False


class Subscribe:
    """What ``handle_line`` returns for a ``subscribe`` request: the connection becomes a
    change-feed stream (``Feed.attach``) instead of getting one answer."""

    __slots__ = ("args", "request_id")

    def __init__(self, args: dict[str, Any], request_id: Any) -> None:
        self.args = args
        self.request_id = request_id


def cancelled(op: str) -> dict[str, Any]:
    return failure(DeadlineExceeded(
        f"cancelled: the deadline of this {op} request passed before it could run (nothing changed)"))


def failure(err: BdError) -> dict[str, Any]:
    """A failed response for ``err``: its wire fields (kind, hint, details). A failed batch also
    carries its per-operation results as ``data.results``, as beads' batch answers do."""
    resp: dict[str, Any] = {"success": False, **err.to_wire()}
    if isinstance(err, BatchFailed):
        resp["data"] = {"results": err.results}
    return resp


class Plugin(Protocol):
    """What a server extension (the git agent) offers: the server calls ``start`` before it
    serves, ``after_flush`` (writer lock held: only signal, never do slow work) after each JSONL
    flush, ``housekeeping`` every few seconds, ``status`` for ``health``, and ``close`` once it has
    stopped serving and made its last flush. ``host`` gives ``log``, ``state``, ``stopping``,
    ``flush_now`` and ``writes_held``. A plug-in may also have ``holds_flushes() -> bool``: while it says True, a due
    debounced flush is not made but announced to it (``after_flush`` with the writer lock held,
    the JSONL unchanged), and the plug-in flushes with ``host.flush_now()`` when it wants to (the
    git agent: the JSONL on the user's branch changes only together with its commit)."""

    def start(self, host: Server) -> None: ...

    def after_flush(self, store: Store) -> None: ...

    def housekeeping(self, store: Store) -> None: ...

    def status(self) -> dict[str, Any]: ...

    def close(self) -> None: ...
