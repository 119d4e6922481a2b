"""The operation registry: what a handler runs with (``Ctx``) and the table it is listed in.

Handler modules (``issues``, ``graph``, ``meta``, ``exchange``) register with ``@op``; the
package's ``run`` looks them up. Kept apart from the package so that handlers import it
without importing the package itself (no import cycle).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..store import Store
from ..validate import Args


class Ctx:
    """What a handler runs with. (Plain classes here and in jsonl: importing dataclasses
    costs every direct-mode ``bd`` process ~5 ms, see docs/PERFORMANCE.md.)"""

    __slots__ = ("store", "actor", "notices", "progress")

    def __init__(self, store: Store, actor: str, notices: list[str] | None = None,
                 progress: Callable[[int, int], None] | None = None) -> None:
        self.store = store
        self.actor = actor
        #: messages for the user that are not errors (e.g. import warnings); the CLI prints them
        self.notices: list[str] = [] if notices is None else notices
        #: progress(done, total) for long operations, when someone is watching (direct mode)
        self.progress = progress

    def __repr__(self) -> str:
        return f"Ctx(store={self.store!r}, actor={self.actor!r}, notices={self.notices!r})"


Handler = Callable[[Ctx, Args], Any]


class Op:
    """An operation. ``stream``, for the reads whose answer can be every issue: the same
    answer as a ``answer.Rows`` (rendered a chunk at a time), which the daemon sends as it
    renders; the handler is then ``stream(ctx, a).to_list()`` in a read snapshot."""

    __slots__ = ("name", "handler", "write", "stream")

    def __init__(self, name: str, handler: Handler, write: bool, stream: Handler | None = None) -> None:
        self.name = name
        self.handler = handler
        self.write = write
        self.stream = stream

    def __repr__(self) -> str:
        return f"Op(name={self.name!r}, handler={self.handler!r}, write={self.write!r})"


#: the modules that declare operations (``@op``); ``index.py`` maps each operation to one
HANDLER_MODULES = ("issues", "graph", "meta", "exchange", "claim", "leases", "epics", "ids", "inspect",
                   "integrity", "prime", "records")


class OpTable(dict[str, Op]):
    """The operation table. A handler module is imported the first time one of its operations
    is looked up (``index.py``, generated, says which module declares which operation): a
    ``bd list`` process loads the list handler's module, not all of them."""

    def _load(self, name: str) -> bool:
        from .index import MODULES
        module = MODULES.get(name)
        if module is None:
            return False
        __import__(f"{__package__}.{module}")
        return dict.__contains__(self, name)

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        if not dict.__contains__(self, name) and not self._load(name):
            return default
        return dict.__getitem__(self, name)

    def __getitem__(self, name: str) -> Op:
        if not dict.__contains__(self, name):
            self._load(name)
        return dict.__getitem__(self, name)

    def __contains__(self, name: object) -> bool:
        if dict.__contains__(self, name):
            return True
        from .index import MODULES
        return name in MODULES

    def load_all(self) -> OpTable:
        """Import every handler module (for listings and the index generator)."""
        for module in HANDLER_MODULES:
            __import__(f"{__package__}.{module}")
        return self


OPS = OpTable()


def op(name: str, *, write: bool, stream: Handler | None = None) -> Callable[[Handler], Handler]:
    """Register the decorated handler as operation ``name`` (declared once, here); ``stream``:
    see ``Op``."""
    def deco(fn: Handler) -> Handler:
        dict.setdefault(OPS, name, Op(name, fn, write, stream))  # an entry set before (a test's stand-in) stays
        return fn
    return deco
