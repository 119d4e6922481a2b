"""The JSONL file git carries: canonical export, strict parsing, newer-wins import.

Canonical form: one issue per line, lines sorted by id (as strings, like beads), keys in
beads' order, Go-style compact JSON. One change to one issue changes one line.

Import is all-or-nothing (one transaction) and newer-wins per record (``updated_at``, then
the line's hash as a deterministic tie-break). When the input is the workspace JSONL, the
per-issue line hashes recorded at the last export/import (``jsonl_state``) act as the base
of a three-way comparison: a line that did not change since then is not imported at all
(so a stale file never resurrects or reverts anything), and an issue whose line vanished
is deleted unless it changed locally since.
"""
from __future__ import annotations

from ..model import dumps_compact  # the line encoding, for callers that check lines
from .files import (CONFLICT_MARKERS, export_lines, fingerprint, flush, line_hash, needs_import,
                    read_lines_by_id, render)
from .importer import ImportResult, hash_prefixes, import_text, may_collide, same_creation
from .parse import Record, parse

__all__ = [
    "CONFLICT_MARKERS", "ImportResult", "dumps_compact", "Record", "export_lines", "fingerprint", "flush",
    "hash_prefixes", "import_text", "line_hash", "may_collide", "needs_import", "parse", "read_lines_by_id",
    "render", "same_creation",
]
