"""Regular expressions compiled on first use.

Every ``bd`` call is a new process, and a module-level ``re.compile`` runs in each one whether
the pattern is used or not (a character class over Unicode ranges costs a quarter of a
millisecond). A ``Lazy`` pattern compiles when a method is first called, then is the compiled
pattern's method from then on.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

__all__ = ["Lazy"]


class Lazy:
    """``re.compile(source, flags)``, deferred until first use."""

    __slots__ = ("source", "flags", "_compiled")

    def __init__(self, source: str, flags: int = 0) -> None:
        self.source = source
        self.flags = flags
        self._compiled: re.Pattern[str] | None = None

    @property
    def pattern(self) -> re.Pattern[str]:
        if self._compiled is None:
            self._compiled = re.compile(self.source, self.flags)
        return self._compiled

    def match(self, string: str) -> re.Match[str] | None:
        return self.pattern.match(string)

    def fullmatch(self, string: str) -> re.Match[str] | None:
        return self.pattern.fullmatch(string)

    def findall(self, string: str) -> list[Any]:
        return self.pattern.findall(string)

    def split(self, string: str) -> list[str | Any]:
        return self.pattern.split(string)

    def sub(self, repl: str | Callable[[re.Match[str]], str], string: str) -> str:
        return self.pattern.sub(repl, string)
