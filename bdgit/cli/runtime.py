"""What every command body runs with: the invocation's global flags and its backend.

A plain class, not a dataclass: importing dataclasses costs every ``bd`` process ~4 ms.
Imports nothing heavy: the backend decides what to load.
"""
from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

from ..errors import BdError, UsageError
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
        self.sandbox = False
        self.readonly = False
        #: notices of the last call that say a request changed nothing (the body reports them)
        self.unchanged: list[str] = []
        self._backend: Backend | None = None
        #: a write that is saved but not in the JSONL (the boundary reports it, exit 4); the
        #: backend's ``export_error`` counts too
        self.unexported: BdError | None = None

    def backend(self) -> Backend:
        if self._backend is None:
            from ..backends import connect
            self._backend = connect(self)
        return self._backend

    def call(self, op: str, args: dict[str, Any] | None = None) -> Any:
        """Run ``op`` on the backend (None-valued args dropped); prints its notices. Raises BdError."""
        b = self.backend()
        self.unchanged = []
        try:
            return b.call(op, {k: v for k, v in (args or {}).items() if v is not None})
        finally:
            from .safetext import clean
            for note in b.notices:  # notices may quote data (an imported title): cleaned
                if ": nothing changed: " in note:
                    self.unchanged.append(note)
                else:
                    r.err(f"{r.yellow('!')} {clean(note)}")
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
        if flag is None:
            rest.append(tok)
        elif flag.kind == "bool":
            setattr(g, flag.name, bool_value(name, val) if eq else True)
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


_TRUE = ("1", "t", "true", "yes", "on")
_FALSE = ("0", "f", "false", "no", "off")


def bool_value(flag: str, text: str) -> bool:
    """``--flag=VALUE`` for a boolean flag (beads' clients write ``--tree=false``)."""
    v = text.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise UsageError(f"{flag} takes true or false, got {text!r}")


def emit(data: Any) -> None:
    """Print ``data`` as ``--json`` output: indented on a terminal (as beads prints), one line
    when read by a program (every JSON parser takes it, and so do clients that take the first
    line starting with '{' or '[' as the document, such as beads-workflows)."""
    from ..model import dumps_compact, dumps_pretty
    pretty = sys.stdout.isatty() or os.environ.get("BD_JSON_INDENT", "").strip().lower() in _TRUE
    sys.stdout.write((dumps_pretty(data) if pretty else dumps_compact(data)) + "\n")


def csv(values: list[str] | None) -> list[str]:
    """Values of a repeatable option, each of which may itself be comma-separated."""
    out: list[str] = []
    for v in values or []:
        out.extend(x.strip() for x in v.split(",") if x.strip())
    return out


def read_text(path: str) -> str:
    """The text of ``path`` ('-' is stdin): a regular file, a pipe or a terminal, read with a
    bound; a device (``/dev/zero``) or a directory is refused before anything is read. Raises
    UsageError (missing, not a file, not UTF-8) or ValidationError (too large)."""
    from ..intake import read_input
    return read_input(path)
