"""bd's git hooks: the shipped scripts (``scripts``), installing them (``install``) and their
Python side (``run``: ``python -m bdgit.githooks.run HOOK``)."""
