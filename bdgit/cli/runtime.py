"""What every command body runs with: the invocation's global flags and its backend.

A plain class, not a dataclass: importing dataclasses costs every ``bd`` process ~4 ms.
Imports nothing heavy: the backend decides what to load.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import UsageError
from . import render as r
from .decl import GLOBAL_FLAGS

if TYPE_CHECKING:
    from ..backends import Backend


class Globals:
    """The global flags of one bd invocation, and the backend they select (made lazily)."""

    def __init__(self) -> None:
        self.db: str | None = None
        self.actor: str | None = None
        self.json = False
        self.no_daemon = False
        self.no_auto_flush = False
        self.no_auto_import = False
        self.timeout: float | None = None
        self.debug = False
        self._backend: Backend | None = None

    def backend(self) -> Backend:
        if self._backend is None:
            from ..backends import connect
            self._backend = connect(self)
        return self._backend

    def call(self, op: str, args: dict[str, Any] | None = None) -> Any:
        """Run ``op`` on the backend (None-valued args dropped); prints its notices. Raises BdError."""
        b = self.backend()
        try:
            return b.call(op, {k: v for k, v in (args or {}).items() if v is not None})
        finally:
            for note in b.notices:
                r.err(f"{r.yellow('!')} {note}")
            b.notices.clear()

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
            self._backend = None


_BY_DECL = {f.decl: f for f in GLOBAL_FLAGS}


def split_globals(argv: list[str]) -> tuple[Globals, list[str]]:
    """Take the global flags out of ``argv`` wherever they are (until a ``--``); the
    environment fills in what the line does not say. Raises UsageError for a bad value."""
    g = Globals()
    rest: list[str] = []
    i = 0
    while i < len(argv):
        tok = argv[i]
        if tok == "--":
            rest.extend(argv[i:])
            break
        name, eq, val = tok.partition("=")
        flag = _BY_DECL.get(name)
        if flag is None or (flag.kind == "bool" and eq):
            rest.append(tok)
        elif flag.kind == "bool":
            setattr(g, flag.name, True)
        else:
            if not eq:
                if i + 1 >= len(argv):
                    raise UsageError(f"{name} needs a value")
                val = argv[i + 1]
                i += 1
            setattr(g, flag.name, val)
        i += 1
    if g.timeout is None and os.environ.get("BD_TIMEOUT"):
        g.timeout = os.environ["BD_TIMEOUT"]  # type: ignore[assignment]
    if g.timeout is not None:
        try:
            g.timeout = float(g.timeout)
        except ValueError:
            raise UsageError(f"--timeout needs a number of seconds, got {g.timeout!r}") from None
        if g.timeout <= 0:
            raise UsageError("--timeout must be positive")
    if not g.debug and os.environ.get("BD_DEBUG", "").strip().lower() in ("1", "true", "yes", "on"):
        g.debug = True
    return g, rest


def emit(data: Any) -> None:
    """Print ``data`` as ``--json`` output (indented, as beads prints)."""
    from ..model import dumps_pretty
    sys.stdout.write(dumps_pretty(data) + "\n")


def csv(values: list[str] | None) -> list[str]:
    """Values of a repeatable option, each of which may itself be comma-separated."""
    out: list[str] = []
    for v in values or []:
        out.extend(x.strip() for x in v.split(",") if x.strip())
    return out


def read_text(path: str) -> str:
    """The text of ``path`` ('-' is stdin). Raises UsageError when missing or not UTF-8."""
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"file not found: {path}") from None
    except UnicodeDecodeError as e:
        raise UsageError(f"{path} is not UTF-8 text: {e}") from None
    except IsADirectoryError:
        raise UsageError(f"{path} is a directory, not a file") from None
