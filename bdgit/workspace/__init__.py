"""Finding the workspace: the database, its ``.beads/`` directory and the files beside it.

Light on purpose (os and pathlib only): the daemon-mode client path imports this.
Discovery order: ``--db``, ``$BEADS_DB``, ``$BEADS_DIR``, then the nearest ``.beads/*.db``
walking up from the current directory; inside a linked git worktree whose ``.beads/`` has no
database, the main worktree's (so all worktrees share one database and one daemon).
No database is an error that says to run ``bd init``; nothing is ever created implicitly.
"""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import NoDatabaseError

BEADS_DIRNAME = ".beads"
#: files bd keeps in .beads/ that travel with the JSONL: a commit that first carries the JSONL
#: carries each of them that exists and is not tracked yet (ignore rules, the merge driver's
#: attributes, the repository's ID mode)
COMPANIONS = (".gitignore", ".gitattributes", "config.yaml")


class Workspace:
    """A beads workspace, named by its database file. (Not a dataclass: the CLI hot path
    imports this module, and dataclasses costs milliseconds to import.)"""

    __slots__ = ("db_path",)

    def __init__(self, db_path: Path) -> None:
        self.db_path = Path(db_path)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Workspace) and other.db_path == self.db_path

    def __hash__(self) -> int:
        return hash(self.db_path)

    def __repr__(self) -> str:
        return f"Workspace({str(self.db_path)!r})"

    @property
    def beads_dir(self) -> Path:
        return self.db_path.parent

    @property
    def root(self) -> Path:
        """The directory that holds ``.beads/`` (the project root)."""
        return self.beads_dir.parent

    @property
    def lock_path(self) -> Path:
        return self.beads_dir / "bd.lock"

    @property
    def socket_path(self) -> Path:
        return self.beads_dir / "bd.sock"

    @property
    def state_path(self) -> Path:
        return self.beads_dir / "bd.state"

    @property
    def jsonl_path(self) -> Path:
        default = self.beads_dir / "issues.jsonl"
        if os.path.lexists(default):  # even a link: bd then refuses it, rather than pick another file
            return default
        others = sorted(p for p in self.beads_dir.glob("*.jsonl")
                        if not p.name.startswith(("deletions", "interactions")))
        return others[0] if others else default


def db_in(beads_dir: Path) -> Path | None:
    try:
        names = sorted(n for n in os.listdir(beads_dir)
                       if n.endswith(".db") and ".backup" not in n and n != "vc.db")
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return None
    return beads_dir / names[0] if names else None


def _main_worktree(d: Path) -> Path | None:
    """The main worktree's root when ``d`` is the root of a linked git worktree, else None.

    A linked worktree has a ``.git`` *file* ("gitdir: <main>/.git/worktrees/<name>") whose git
    dir names the shared one in ``commondir``. Submodules (no commondir) and worktrees of a bare
    repository (no main worktree) give None."""
    git = d / ".git"
    if not git.is_file():
        return None
    try:
        text = git.read_text(encoding="utf-8", errors="replace").strip()
        if not text.startswith("gitdir:"):
            return None
        gitdir = Path(text[7:].strip())
        if not gitdir.is_absolute():
            gitdir = d / gitdir
        common = (gitdir / (gitdir / "commondir").read_text().strip()).resolve()
    except OSError:
        return None
    return common.parent if common.name == ".git" else None


def _checked(db_path: Path) -> Workspace:
    """The workspace of ``db_path`` once its ``.beads/`` is a real directory of ours that not
    every user can write (see safefs.check_dir). Raises UnsafePathError."""
    from . import safefs
    safefs.check_dir(db_path.parent)
    return Workspace(db_path)


def find(db: str | None = None, cwd: str | os.PathLike[str] | None = None) -> Workspace:
    """The workspace for ``db`` or the environment or ``cwd``. Raises NoDatabaseError, or
    UnsafePathError when the ``.beads/`` found is a symlink, another user's or world-writable
    (an explicit ``--db``/``BEADS_DB``/``BEADS_DIR`` may pass through links: the user named it)."""
    if db:
        p = Path(db).expanduser()
        if not p.is_absolute():
            p = Path(cwd or os.getcwd()) / p
        if p.is_dir():
            found = db_in(p / BEADS_DIRNAME) if (p / BEADS_DIRNAME).is_dir() else db_in(p)
            if found is None:
                raise NoDatabaseError(f"no beads database in {p}", "run 'bd init' there first")
            p = found
        if not p.exists():
            raise NoDatabaseError(f"no database at {p}", "check --db / BEADS_DB, or run 'bd init'")
        return _checked(p.resolve())
    env_db = os.environ.get("BEADS_DB")
    if env_db:
        return find(env_db, cwd)
    env_dir = os.environ.get("BEADS_DIR")
    if env_dir:
        found = db_in(Path(env_dir).expanduser())
        if found is None:
            raise NoDatabaseError(f"no beads database in BEADS_DIR={env_dir}", "run 'bd init' first")
        return _checked(found.resolve())
    start = Path(cwd or os.getcwd()).resolve()
    for d in (start, *start.parents):
        beads = d / BEADS_DIRNAME
        if beads.is_dir():
            found = db_in(beads)
            if found is not None:
                return _checked(found)  # a symlinked .beads/ is refused here, naming it
        main = _main_worktree(d)
        if main is not None:  # a linked git worktree: its issues live in the main worktree's database
            rel = start.relative_to(d)
            for sub in (rel, *rel.parents):
                found = db_in(main / sub / BEADS_DIRNAME)
                if found is not None:
                    return _checked(found)
    raise NoDatabaseError(
        "no beads database found (looked for .beads/*.db here and in every parent directory)",
        "run 'bd init' in your project root, or pass --db PATH")


def actor(flag: str | None = None) -> str:
    return flag or os.environ.get("BD_ACTOR") or os.environ.get("BEADS_ACTOR") or os.environ.get("USER") or "unknown"
