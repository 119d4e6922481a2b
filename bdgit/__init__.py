"""bdgit: a git-backed, dependency-aware issue tracker (a Python reimplementation of beads)."""
from __future__ import annotations

import sys as _sys

__version__ = "0.1.0"

#: The beads release whose CLI and wire protocol we are compatible with. Clients such as
#: beads-mcp read the first X.Y.Z of `bd version`, so that one comes first.
BEADS_COMPAT_VERSION = "0.9.8"

# In the ``bd`` process itself (the console script, ``python -m bdgit``, a hook's
# ``python -m bdgit.githooks.run``), take SIGINT over before anything else is imported, so that
# a Ctrl-C during start-up prints one line (see cli/sigint.py). Library users are not affected.
if _sys.argv and (_sys.argv[0] == "-m" or _sys.argv[0].endswith(("/bd", "__main__.py")) or _sys.argv[0] == "bd"):
    from .cli.sigint import install_early as _install_early
    _install_early()
