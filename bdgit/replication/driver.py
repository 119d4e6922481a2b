"""Git's side of replication: the merge driver for the JSONL, its registration, and "did this
issue reach the remote" for collisions.

``bd merge-driver %O %A %B %P`` merges the three files with ``filemerge.merge_texts`` and
writes the result over %A, so ``git merge``, ``pull``, ``pull --rebase`` and ``cherry-pick``
never leave conflict markers in the JSONL. ``install`` registers it: ``.beads/.gitattributes``
(tracked, so every clone's git knows the file has a driver) and ``merge.beads.driver`` in the
clone's git config (``bd init`` and ``bd hooks install`` run it).

Light imports only (git through ``gitsync.env``, no pygit2): the driver and the hooks use it.
"""
from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

from .filemerge import MergeResult, Pushed, merge_texts
from .ids import may_collide, same_creation

DRIVER_NAME = "beads"
ATTRIBUTES = ".gitattributes"


def driver_command() -> str:
    return f"{shlex.quote(sys.executable)} -m bdgit merge-driver %O %A %B %P"


def _read(p: str | os.PathLike[str]) -> str:
    try:
        return Path(p).read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""


def merge_files(base: str, ours: str, theirs: str, path: str | None = None) -> MergeResult:
    """The merge driver: merge the three files, write the result over ``ours`` (atomically).
    ``path`` (git's %P, relative to the work tree's top, the current directory) tells where the
    workspace is: its ID mode, and the remote-tracking refs for collisions. Raises
    ImportFormatError when a side is not JSONL (git then keeps the conflict)."""
    from ..workspace.config import id_mode
    from ..workspace.files import atomic_write
    beads_dir = Path(path).parent if path else None
    hash_mode = beads_dir is not None and id_mode(beads_dir) == "hash"
    pushed = pushed_lookup(Path(path)) if path and not hash_mode else None
    res = merge_texts(_read(base), _read(ours), _read(theirs), pushed=pushed, renumber=not hash_mode)
    atomic_write(Path(ours), res.text.encode())
    return res


# --- what reached the remote -----------------------------------------------------------------

_PUSHED_CACHE: dict[str, Pushed | None] = {}


def pushed_lookup(jsonl_path: Path) -> Pushed | None:
    """A predicate ``(id, created_us) -> bool``: whether the JSONL at this path in any
    remote-tracking ref (``refs/remotes/*``) has that issue. None outside a git repository.
    Reads the refs only when first asked (collisions are rare)."""
    key = str(Path(jsonl_path).absolute())
    if key in _PUSHED_CACHE:
        return _PUSHED_CACHE[key]
    index: dict[str, list[int]] | None = None

    def load() -> dict[str, list[int]]:
        import json

        from ..gitsync.env import git
        from ..model import ts_micros
        where = Path(jsonl_path).absolute().parent
        out: dict[str, list[int]] = {}
        top = git(["rev-parse", "--show-toplevel"], where)
        if top.returncode != 0:
            return out
        rel = Path(os.path.relpath(Path(jsonl_path).absolute(), top.stdout.strip())).as_posix()
        refs = git(["for-each-ref", "--format=%(refname)", "refs/remotes"], where).stdout.split()
        for ref in refs:
            if ref.endswith("/HEAD"):
                continue
            blob = git(["cat-file", "-p", f"{ref}:{rel}"], where)
            if blob.returncode != 0:
                continue
            for line in blob.stdout.splitlines():
                try:
                    o = json.loads(line)
                    if may_collide(o["id"]):
                        out.setdefault(o["id"], []).append(ts_micros(o.get("created_at") or o["updated_at"]))
                except (ValueError, KeyError, TypeError):
                    continue
        return out

    def pushed(issue_id: str, created_us: int) -> bool:
        nonlocal index
        if index is None:
            index = load()
        return any(same_creation(created_us, c) for c in index.get(issue_id, ()))

    _PUSHED_CACHE[key] = pushed
    return pushed


def forget_pushed() -> None:
    """Drop what ``pushed_lookup`` read (after a fetch, in a long-lived process)."""
    _PUSHED_CACHE.clear()


# --- registration ----------------------------------------------------------------------------

def install(top: Path, jsonl_path: Path, *, tracked: bool = True) -> list[str]:
    """Register the merge driver for the JSONL (idempotent); returns what it changed.

    The attribute: unless an attributes file already gives the file a merge driver,
    ``.beads/.gitattributes`` (``tracked``: a file to commit, so that every clone has it; ``bd
    init``, ``bd hooks install``) or else the clone's own ``info/attributes`` (``bd sync``, which
    must not leave a new file in the work tree) gets ``<file> merge=beads``. The clone's git
    config gets ``merge.beads.driver``, replacing a driver that is not bdgit's (the same name is
    beads', whose merge drops fields we keep)."""
    from ..gitsync.env import git
    changed: list[str] = []
    rel = Path(os.path.relpath(jsonl_path, top)).as_posix()
    attr = git(["check-attr", "merge", "--", rel], top)
    current = attr.stdout.strip().rsplit(": ", 1)[-1] if attr.returncode == 0 else "unspecified"
    if current in ("unspecified", "unset"):
        if tracked:
            path, line = jsonl_path.parent / ATTRIBUTES, f"{jsonl_path.name} merge={DRIVER_NAME}"
        else:
            common = git(["rev-parse", "--git-common-dir"], top).stdout.strip()
            path, line = (top / common).resolve() / "info" / "attributes", f"{rel} merge={DRIVER_NAME}"
            path.parent.mkdir(parents=True, exist_ok=True)
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        if text and not text.endswith("\n"):
            text += "\n"
        path.write_text(text + line + "\n", encoding="utf-8")
        shown = Path(os.path.relpath(path, top)).as_posix() if tracked else str(path)
        changed.append(f"{shown}: {line}")
        current = DRIVER_NAME
    if current == DRIVER_NAME:
        have = git(["config", "--get", f"merge.{DRIVER_NAME}.driver"], top).stdout.strip()
        if "bdgit merge-driver" not in have:
            git(["config", f"merge.{DRIVER_NAME}.name", "bd: merge issues.jsonl per field, nothing lost"], top)
            git(["config", f"merge.{DRIVER_NAME}.driver", driver_command()], top)
            changed.append(f"git config merge.{DRIVER_NAME}.driver" + (f" (was: {have})" if have else ""))
    return changed


def register(jsonl_path: Path) -> list[str]:
    """``install`` for the work tree around ``jsonl_path`` (tracked attributes); [] outside git."""
    from ..gitsync.env import git
    p = git(["rev-parse", "--show-toplevel"], jsonl_path.parent)
    if p.returncode != 0:
        return []
    return install(Path(p.stdout.strip()).resolve(), jsonl_path.resolve())


def installed(top: Path, jsonl_path: Path) -> bool:
    """Whether git would merge the JSONL with bdgit's driver."""
    from ..gitsync.env import git
    rel = Path(os.path.relpath(jsonl_path, top)).as_posix()
    attr = git(["check-attr", "merge", "--", rel], top).stdout.strip().rsplit(": ", 1)[-1]
    drv = git(["config", "--get", f"merge.{attr}.driver"], top).stdout
    return attr != "unspecified" and "bdgit merge-driver" in drv
