"""Git for bd: commit the JSONL without touching the user's staged changes, batched by the
daemon; sync branches; ``bd sync``; the merge driver; worktree guards.

Modules: ``env`` (the one environment policy for git commands bd runs; light), ``repo``
(discovery, state checks, worktrees, upstreams), ``indexfile`` (one index entry under a short
``index.lock`` hold), ``refs`` (moving a branch the way git does), ``commit`` (``commit_jsonl``),
``auto`` (the daemon's git plug-in), ``sync`` (``bd sync`` and the merge driver). Nothing is
imported here: ``env`` must stay free of pygit2.
"""
