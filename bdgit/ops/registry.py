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
    __slots__ = ("name", "handler", "write")

    def __init__(self, name: str, handler: Handler, write: bool) -> None:
        self.name = name
        self.handler = handler
        self.write = write

    def __repr__(self) -> str:
        return f"Op(name={self.name!r}, handler={self.handler!r}, write={self.write!r})"


OPS: dict[str, Op] = {}


def op(name: str, *, write: bool) -> Callable[[Handler], Handler]:
    def deco(fn: Handler) -> Handler:
        OPS[name] = Op(name, fn, write)
        return fn
    return deco
