"""What a doctor check reports."""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

OK, WARN, ERROR = "ok", "warn", "error"


@dataclass
class Check:
    name: str
    status: str
    message: str
    fix: str | None = None          # what to do (or what --fix does)
    fixable: bool = False           # --fix can do it safely
    fixed: bool = False
    details: dict[str, Any] = field(default_factory=dict)
    _repair: Callable[[], str] | None = field(default=None, repr=False)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("_repair", None)
        if not d["details"]:
            d.pop("details")
        return d


def short(p: Path, root: Path) -> str:
    try:
        return os.path.relpath(p, root) if Path(root) in Path(p).resolve().parents or p == root else str(p)
    except ValueError:
        return str(p)
