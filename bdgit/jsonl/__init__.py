"""The JSONL file git carries: canonical export, strict parsing; import is replication's.

Canonical form: one issue per line, lines sorted by id (as strings, like beads), keys in
beads' order, Go-style compact JSON, the issue's versions last (``_v``). One change to one
issue changes one line.

Import (``import_text``, from bdgit.replication.importer) merges every issue per field against
the line last exported or imported for it (the base), in one transaction; a line missing from
the file never deletes anything. See docs/JSONL.md.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..model import dumps_compact  # the line encoding, for callers that check lines
from .files import (export_lines, fingerprint, flush, line_hash, needs_import, read_jsonl,
                    read_lines_by_id, render)

if TYPE_CHECKING:
    from .parse import Record, parse
    from ..replication.ids import may_collide, same_creation
    from ..replication.importer import ImportResult, hash_prefixes, import_text, kept_summary

#: names imported on first use: a direct-mode read (``needs_import`` and nothing else) must
#: not load the parser and the whole importer at start-up (docs/PERFORMANCE.md)
_LAZY = {"Record": "bdgit.jsonl.parse", "parse": "bdgit.jsonl.parse",
         "may_collide": "bdgit.replication.ids", "same_creation": "bdgit.replication.ids",
         "ImportResult": "bdgit.replication.importer", "hash_prefixes": "bdgit.replication.importer",
         "import_text": "bdgit.replication.importer", "kept_summary": "bdgit.replication.importer"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value

__all__ = [
    "ImportResult", "dumps_compact", "Record", "export_lines", "fingerprint", "flush",
    "hash_prefixes", "import_text", "kept_summary", "line_hash", "may_collide", "needs_import", "parse", "read_jsonl",
    "read_lines_by_id", "render", "same_creation",
]
