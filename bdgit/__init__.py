"""bdgit: a git-backed, dependency-aware issue tracker (a Python reimplementation of beads)."""
from __future__ import annotations

__version__ = "0.1.0"

#: The beads release whose CLI and wire protocol we are compatible with. Clients such as
#: beads-mcp read the first X.Y.Z of `bd version`, so that one comes first.
BEADS_COMPAT_VERSION = "0.9.8"
