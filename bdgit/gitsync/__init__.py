"""Git for bd: commit the JSONL without touching the user's staged changes, batched by the
daemon; sync branches; worktree guards. ``bd sync`` (pull/merge/push) lives in ``bdgit.sync``.

Modules: ``repo`` (discovery, state checks, worktrees, upstreams, running git), ``indexfile``
(one index entry under a short ``index.lock`` hold), ``commit`` (``commit_jsonl``), ``auto``
(the daemon's git agent: ``attach``).
"""
from __future__ import annotations

from .auto import GitAgent, attach
from .commit import CommitResult, commit_jsonl
from .repo import open_repo

__all__ = ["GitAgent", "attach", "CommitResult", "commit_jsonl", "open_repo"]
