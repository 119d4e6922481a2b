"""What in a ``.beads/`` directory bd would refuse, and what should not be in git.

For ``bd doctor``: every entry of ``.beads/`` that bd's safe opens would refuse (a symbolic link,
a FIFO, device or stray socket, another user's file, a file with several hard links), the
directory itself (a symlink, another user's, writable by every user), and the files git tracks
there that are machine-local (only the JSONL, ``.gitignore`` and the tracked config belong in
git: a committed database, lock, state or pointer file is how a clone plants things).
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

from . import safefs
from ..errors import UnsafePathError

#: files of ``.beads/`` that belong in git besides the JSONL files (``.gitattributes`` names the
#: JSONL's merge driver)
TRACKED_OK = frozenset({".gitignore", ".gitattributes", "config.yaml", "metadata.json", "README.md"})
#: names under which bd itself keeps a socket
_SOCKETS = frozenset({"bd.sock", "beads.sock"})


class Finding:
    """One problem: ``path`` (relative to the work tree when possible) and what is wrong."""

    __slots__ = ("path", "problem", "fixable")

    def __init__(self, path: str, problem: str, fixable: bool = False) -> None:
        self.path = path
        self.problem = problem
        self.fixable = fixable

    def __repr__(self) -> str:
        return f"Finding({self.path!r}, {self.problem!r})"

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"


def _problem(e: UnsafePathError) -> str:
    return e.message[len(e.path):].strip() if e.message.startswith(e.path) else e.message


def unsafe_entries(beads_dir: Path) -> list[Finding]:
    """Findings for ``beads_dir`` itself and every entry in it (not recursive: bd uses no
    subdirectory). A world-writable directory of ours is ``fixable`` (made 0700)."""
    out: list[Finding] = []
    try:
        safefs.check_dir(beads_dir)
    except UnsafePathError as e:
        st = os.lstat(beads_dir)
        fixable = (not stat.S_ISLNK(st.st_mode) and stat.S_ISDIR(st.st_mode) and st.st_uid == safefs.uid())
        out.append(Finding(str(beads_dir), _problem(e), fixable))
        if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
            return out
    except FileNotFoundError:
        return out
    try:
        names = sorted(os.listdir(beads_dir))
    except OSError as e:
        return [*out, Finding(str(beads_dir), f"cannot be listed: {e.strerror}")]
    for name in names:
        p = beads_dir / name
        try:
            st = os.lstat(p)
        except OSError:
            continue
        try:
            if stat.S_ISLNK(st.st_mode):
                out.append(Finding(str(p), f"is a symbolic link (to {os.readlink(p)}); bd refuses to use it"))
            elif stat.S_ISSOCK(st.st_mode) and name in _SOCKETS:
                safefs.check_owned(p, st)
            elif stat.S_ISDIR(st.st_mode):
                continue  # not bd's; nothing of bd's is inside
            else:
                safefs.check_regular(p, st)
        except UnsafePathError as e:
            out.append(Finding(str(p), _problem(e)))
    return out


def tracked_runtime_files(tracked: list[str], jsonl_names: set[str] | None = None) -> list[str]:
    """Of the ``tracked`` paths in ``.beads/`` (names relative to it, from ``git ls-files``),
    those that must not be in git: anything but JSONL files, ``.gitignore`` and the tracked config."""
    out = []
    for rel in tracked:
        name = rel.rsplit("/", 1)[-1]
        if "/" in rel.strip("/"):
            out.append(rel)  # bd keeps nothing in subdirectories of .beads/
        elif name in TRACKED_OK:
            continue
        elif name.endswith(".jsonl") and (jsonl_names is None or name in jsonl_names
                                          or name in ("deletions.jsonl", "interactions.jsonl")):
            continue
        else:
            out.append(rel)
    return out
