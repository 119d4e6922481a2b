"""Replication: how two versions of an issue become one, the same way on every path.

- ``clock``: versions from a hybrid logical clock (wall ms, counter, node) and their text form;
- ``record``: one issue as versioned registers, decoded from and encoded to its JSONL line
  (the versions travel in the line's ``_v`` key);
- ``merge``: the rules: lift a line against its base, join two versioned states, ``merge3``;
- ``filemerge``: three whole files, for the git merge driver;
- ``ids``: sequential-ID collisions and renumbering, hash IDs.

The git merge driver, every import (auto-import, the daemon, ``bd import``, ``bd init`` in a
clone, ``bd sync``, hooks) call ``merge.merge3``; nothing else decides what wins.
"""
from __future__ import annotations

from .clock import ZERO, Version
from .merge import join, lift, merge3
from .record import ABSENT, Line, State, decode, encode

__all__ = ["ABSENT", "Line", "State", "Version", "ZERO", "decode", "encode", "join", "lift", "merge3"]
