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
    remote = remote_issues(Path(path)) if path and not hash_mode else None
    res = merge_texts(_read(base), _read(ours), _read(theirs), pushed=remote.has if remote else None,
                      renumber=not hash_mode, taken=remote.ids if remote else None)
    atomic_write(Path(ours), res.text.encode())
    return res


# --- what reached the remote -----------------------------------------------------------------

class RemoteIssues:
    """The issues in the JSONL at one path in every remote-tracking ref (``refs/remotes/*``):
    what reached a remote. Read from git when first asked (collisions are rare), once."""

    def __init__(self, jsonl_path: Path) -> None:
        self.jsonl_path = Path(jsonl_path).absolute()
        self._index: dict[str, list[int]] | None = None

    def _load(self) -> dict[str, list[int]]:
        if self._index is not None:
            return self._index
        import json

        from ..gitsync.env import git
        from ..model import ts_micros
        where = self.jsonl_path.parent
        out: dict[str, list[int]] = {}
        self._index = out
        top = git(["rev-parse", "--show-toplevel"], where)
        if top.returncode != 0:
            return out
        rel = Path(os.path.relpath(self.jsonl_path, top.stdout.strip())).as_posix()
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

    def has(self, issue_id: str, created_us: int) -> bool:
        """Whether a remote-tracking ref has this issue (this ID with this creation)."""
        return any(same_creation(created_us, c) for c in self._load().get(issue_id, ()))

    def ids(self) -> set[str]:
        """Every sequential ID some remote-tracking ref's JSONL uses: taken on a remote."""
        return set(self._load())


_REMOTE_CACHE: dict[str, RemoteIssues] = {}


def remote_issues(jsonl_path: Path) -> RemoteIssues:
    """The (cached) ``RemoteIssues`` of this path; ``forget_pushed`` drops the cache."""
    key = str(Path(jsonl_path).absolute())
    found = _REMOTE_CACHE.get(key)
    if found is None:
        found = _REMOTE_CACHE[key] = RemoteIssues(Path(jsonl_path))
    return found


def pushed_lookup(jsonl_path: Path) -> Pushed | None:
    """A predicate ``(id, created_us) -> bool``: whether the JSONL at this path in any
    remote-tracking ref (``refs/remotes/*``) has that issue (none there outside a git
    repository). Reads the refs only when first asked."""
    return remote_issues(jsonl_path).has


def forget_pushed() -> None:
    """Drop what ``pushed_lookup`` read (after a fetch, in a long-lived process)."""
    _REMOTE_CACHE.clear()


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
