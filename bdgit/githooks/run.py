"""The Python half of bd's git hooks: ``python -m bdgit.githooks.run HOOK [ARGS...]``.

The shell wrappers (``githooks.scripts``) call this only when there may be work; ``bd hooks run``
calls it too. It acts on the ``.beads/`` at the top of the work tree only (never a parent's,
never ``$BEADS_DB``), talks to the daemon when one runs and works in direct mode otherwise,
and never starts a daemon. Exit status: 0, or ``BLOCK`` (3) when a hook refuses (pre-push: the
JSONL is not committed; pre-commit: it holds conflict markers); an error of bd's own is
reported on stderr and never blocks git.

- pre-commit: refuse (``BLOCK``) a JSONL the commit would carry that does not parse (the
  import's own parser: file, line and the fix are named). Then, unless a daemon auto-commits
  issue changes on this branch (they are its to commit: the user's commit carries only what
  the user staged) or issues travel on a sync branch: flush if ``bd.state`` says writes are
  pending, stage ``.beads/issues.jsonl`` (and ``.beads/.gitignore`` while it is untracked)
  into the index being committed, and save ``bd.state``'s bytes as ``bd.hookstate`` (the
  shell's no-op check). A partial commit (``git commit <paths>``: git commits a temporary
  index) does not get the JSONL: it goes with the next full commit.
- post-merge / post-checkout / post-rewrite: import the JSONL if it changed (three-way).
- pre-push: when pushing the current HEAD, make sure the JSONL is flushed and that HEAD's
  copy of it is the work tree's; otherwise explain and refuse - except with a daemon that
  auto-commits on this branch, where it only says that the changes go with the next push.
- Run by hand (``bd hooks run``, from a shared hook), the entering and leaving hooks also set
  and clear the daemon's "git is busy" mark, as the shell wrappers do (``gitsync.busy``).

First import: ``workspace.statefile`` only (os, struct, mmap, fcntl); the rest loads when needed.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from ..workspace import statefile
from .scripts import HOOK_NAMES, MARK_ONLY, STAMP_NAME

#: hooks at which git enters / leaves a command that commits (see gitsync.busy)
ENTERING = ("pre-commit", "prepare-commit-msg", "pre-merge-commit", "pre-rebase")
LEAVING = ("post-commit", "post-merge", "post-checkout", "post-rewrite")
#: the file an auto-committing daemon keeps (gitsync.auto.AUTOCOMMIT_FILE)
AUTOCOMMIT_FILE = "daemon.autocommit"

BLOCK = 3
ACTOR = "git-hook"


def warn(msg: str) -> None:
    sys.stderr.write(f"bd: {msg}\n")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        sys.stderr.write(f"usage: python -m bdgit.githooks.run HOOK [ARGS...]   (HOOK: {', '.join(HOOK_NAMES)})\n")
        sys.exit(2)
    sys.exit(run(argv[0], argv[1:]))


def run(hook: str, args: list[str], *, cwd: str | os.PathLike[str] | None = None,
        stdin: Any = None) -> int:
    """Run bd's part of ``hook``; returns the exit status (0, or BLOCK when it refuses)."""
    if hook not in HOOK_NAMES:
        warn(f"unknown hook {hook!r} (known: {', '.join(HOOK_NAMES)})")
        return 2
    if os.environ.get("BD_SKIP_HOOKS"):
        return 0
    top = _top(Path(cwd or os.getcwd()))
    if top is None:
        return 0
    from ..workspace import Workspace, db_in
    db = db_in(top / ".beads")
    if db is None:
        return 0
    ws = Workspace(db)
    if not os.environ.get("BD_GIT_PID") and (hook in ENTERING or hook in LEAVING):
        _busy_mark(top, hook, args)  # not run by our wrapper (a shared hook): mark here
    if hook in MARK_ONLY:
        return 0
    try:
        if hook == "pre-commit":
            return pre_commit(ws, top)
        if hook == "pre-push":
            return pre_push(ws, top, args, sys.stdin if stdin is None else stdin)
        return post_change(ws, top, hook, args)
    except Exception as e:  # bd's own failure never blocks git
        from ..errors import BdError
        if os.environ.get("BD_DEBUG"):
            raise
        warn(f"{hook}: {e}" + ("" if isinstance(e, BdError) else f" ({type(e).__name__})")
             + ("" if hook != "pre-push" else "; not blocking the push"))
        hint = getattr(e, "hint", None)
        if hint:
            sys.stderr.write(f"  {hint}\n")
        return 0


def _top(cwd: Path) -> Path | None:
    """The work tree's top when it holds ``.beads/``: git runs hooks there; by hand, ask git."""
    if (cwd / ".beads").is_dir():
        return cwd
    from ..gitsync.env import git
    p = git(["rev-parse", "--show-toplevel"], cwd)
    if p.returncode != 0:
        return None
    top = Path(p.stdout.strip())
    return top if (top / ".beads").is_dir() else None


def _rel(ws: Any, top: Path) -> str:
    return Path(os.path.relpath(ws.jsonl_path, top)).as_posix()


def _git_dir(top: Path) -> Path | None:
    """The work tree's git dir (``.git``, or where a ``.git`` file points), as the shell finds it."""
    gd = Path(os.environ.get("GIT_DIR") or top / ".git")
    if gd.is_file():
        try:
            text = gd.read_text(encoding="utf-8").strip()
        except OSError:
            return None
        gd = (top / text[len("gitdir:"):].strip()) if text.startswith("gitdir:") else gd
    return gd if gd.is_dir() else None


def _busy_mark(top: Path, hook: str, args: list[str]) -> None:
    """Set (entering hooks) or clear (leaving ones) the mark of the git process above us."""
    from ..gitsync import busy
    gd = _git_dir(top)
    pid = busy.git_ancestor()
    if gd is None or pid is None:
        return
    if hook in ENTERING:
        busy.mark(gd, pid)
    elif (hook == "post-rewrite" and args[:1] == ["rebase"]) or not (
            (gd / "rebase-merge").is_dir() or (gd / "rebase-apply").is_dir()):
        busy.unmark(gd, pid)


# --- flushing ----------------------------------------------------------------------------------

def flush(ws: Any, st: statefile.State | None, *, force: bool = False) -> bool:
    """Make the JSONL hold every committed write. Through the daemon when one answers, else
    in this process (importing a changed JSONL first). Only when ``bd.state`` says writes are
    pending, unless ``force`` or there is no state yet. Returns False (after saying why) when
    it could not."""
    from ..errors import BdError
    if not (force or st is None or st.dirty):
        return True
    if st is not None and st.daemon_alive():
        try:
            from ..rpc.client import Client
            from ..rpc.protocol import find_socket
            with Client(find_socket(ws.beads_dir), timeout=30.0, actor=ACTOR) as c:
                c.execute("flush")
            return True
        except BdError:
            pass  # no daemon answers after all, or another version: do it here
    from .. import jsonl
    from ..backends.direct import DirectBackend
    b = DirectBackend(ws, ACTOR)
    try:
        store = b.store
        path = ws.jsonl_path
        if jsonl.needs_import(store, path):
            b.call("import", {"workspace": True})
        if store.dirty_count() or not path.exists():
            b.call("flush")
        else:
            b.note_state(store, wrote=False)
        for note in b.notices:
            warn(note)
        return True
    except BdError as e:
        warn(f"could not flush {ws.jsonl_path.name}: {e}")
        return False
    finally:
        b.close()


def save_stamp(ws: Any, snapshot: bytes) -> None:
    """Keep a copy of ``bd.state`` as it was when the JSONL was flushed and staged."""
    from ..errors import UnsafePathError
    from ..workspace import safefs
    from ..workspace.files import atomic_write
    try:
        atomic_write(ws.beads_dir / STAMP_NAME, snapshot, mode=safefs.PRIVATE_FILE, exact_mode=True,
                     durable=False, check_target=True)
    except (OSError, UnsafePathError):
        pass  # a hint: without it the next commit's hook just does the work again


def clear_stamp(ws: Any) -> None:
    try:
        (ws.beads_dir / STAMP_NAME).unlink()
    except OSError:
        pass


# --- pre-commit ----------------------------------------------------------------------------------

def partial_commit(env: dict[str, str] | None = None) -> bool:
    """Whether git is committing a temporary index (``git commit <paths>``): any index but the
    repository's own (``index``, or ``index.lock`` for ``commit -a``/``-i``)."""
    idx = (env if env is not None else os.environ).get("GIT_INDEX_FILE")
    return bool(idx) and os.path.basename(idx or "") not in ("index", "index.lock")


def has_conflict_markers(path: Path) -> bool:
    from ..errors import UnsafePathError
    from ..workspace import safefs
    try:
        data = safefs.read_bytes(path)  # never through a link, never blocking on a FIFO
    except (OSError, UnsafePathError):
        return False
    from ..jsonl.markers import find_marker
    return find_marker(data) is not None


def sync_branch_mode(ws: Any, st: Any) -> bool:
    """Whether issues travel on a dedicated sync branch (``sync.branch``): the daemon says so in
    bd.state; without a daemon, the database's config decides."""
    if st is not None and st.flags & statefile.FLAG_SYNC_BRANCH:
        return True
    from ..workspace.config import read_config
    return bool((read_config(ws, "sync.branch") or "").strip())


def daemon_auto_commits(ws: Any) -> bool:
    """Whether a live daemon auto-commits issue changes, on the checked-out branch or a sync
    branch (it keeps its pid in ``.beads/daemon.autocommit`` while it does; the shell asks the
    same)."""
    from ..errors import UnsafePathError
    from ..workspace import safefs
    try:
        pid = int(safefs.read_bytes(ws.beads_dir / AUTOCOMMIT_FILE, limit=64).strip() or 0)
    except (OSError, ValueError, UnsafePathError):
        return False
    return statefile.State(pid=pid).daemon_alive()


def check_jsonl(text: str) -> tuple[int | None, str] | None:
    """(line, what is wrong) when ``text`` is not a JSONL bd can import, else None: the import's
    own parser decides (conflict markers included)."""
    from ..errors import ImportFormatError
    from ..jsonl.parse import parse
    try:
        parse(text)
    except ImportFormatError as e:
        return _problem(e)
    return None


def _problem(e: Any) -> tuple[int | None, str]:
    msg = e.message if hasattr(e, "message") else str(e)
    prefix = f"line {e.line}: "
    return e.line, msg.split(prefix, 1)[1] if e.line is not None and prefix in msg else msg


def _worktree_jsonl(ws: Any) -> str | tuple[int | None, str] | None:
    """The work tree's JSONL (read as bd reads it: a regular file of ours, never a link), a
    problem (line, what) when it is not UTF-8, or None when there is none."""
    from ..errors import ImportFormatError
    from ..jsonl.files import read_jsonl
    try:
        return read_jsonl(ws.jsonl_path)
    except FileNotFoundError:
        return None
    except ImportFormatError as e:
        return _problem(e)


def refuse(rel: str, where: str, problem: tuple[int | None, str]) -> int:
    """Explain why the commit is refused (file, line, the fix) and return BLOCK."""
    line, what = problem
    at = f"{rel} line {line}" if line is not None else rel
    warn(f"pre-commit: {at} ({where}): {what}")
    if "conflict marker" in what:
        sys.stderr.write("  The file is in the middle of a merge. Keep the lines of both sides (one issue per line;\n"
                         "  for the same id, the one with the later updated_at), delete the marker lines,\n")
    else:
        sys.stderr.write(f"  Every line must be one issue as a JSON object; committing this one would break the\n"
                         f"  import in every clone. Fix line {line if line is not None else '?'} in your editor,\n")
    sys.stderr.write(f"  then 'git add {rel}' and commit again ('bd doctor' checks the file).\n")
    return BLOCK


def _staged_jsonl(top: Path, rel: str) -> str | None:
    """The JSONL the commit would carry when it differs from HEAD's (staged), else None."""
    from ..gitsync.env import git
    if git(["diff", "--cached", "--quiet", "--", rel], top, keep_index=True).returncode != 1:
        return None
    p = git(["cat-file", "blob", f":{rel}"], top, keep_index=True)
    return p.stdout if p.returncode == 0 else None


def pre_commit(ws: Any, top: Path) -> int:
    from ..gitsync.env import git
    rel = _rel(ws, top)
    staged_text = _staged_jsonl(top, rel)
    if staged_text is not None:
        bad = check_jsonl(staged_text)
        if bad:
            return refuse(rel, "as staged", bad)
    st = statefile.read(ws.state_path)
    text = _worktree_jsonl(ws)
    bad = check_jsonl(text) if isinstance(text, str) else text
    if daemon_auto_commits(ws):
        # Issue changes are the daemon's to commit: this commit carries what the user staged.
        if bad:
            warn(f"{rel} line {bad[0]}: {bad[1]}; the daemon does not commit it until it is fixed")
        return 0
    if bad and not sync_branch_mode(ws, st) and not partial_commit():
        return refuse(rel, "in the work tree, to be staged", bad)
    ok = flush(ws, st)
    if sync_branch_mode(ws, st):
        return 0  # the JSONL travels on the sync branch: never in the user's own commits
    if partial_commit():
        if ws.jsonl_path.exists() and git(["diff", "--quiet", "HEAD", "--", rel], top).returncode == 1:
            warn(f"partial commit: {rel} is not part of it (its changes go with your next full commit)")
        return 0
    snapshot = statefile.read_raw(ws.state_path)  # before staging: a later write must not match it
    if not ws.jsonl_path.exists():
        return 0
    paths = [rel]
    from ..workspace import COMPANIONS
    for name in COMPANIONS:  # the commit that first carries the JSONL carries these too
        f = ws.beads_dir / name
        if f.is_file() and not f.is_symlink():
            f_rel = Path(os.path.relpath(f, top)).as_posix()
            if not git(["ls-files", "--", f_rel], top, keep_index=True).stdout.strip():
                paths.append(f_rel)
    p = git(["add", "--", *paths], top, keep_index=True)
    if p.returncode != 0:
        clear_stamp(ws)
        warn(f"could not stage {', '.join(paths)}: {p.stderr.strip()}")
        if "ignored" in p.stderr:
            sys.stderr.write("  it is ignored by a .gitignore; git will not carry your issues ('bd doctor' explains)\n")
        return 0
    if ok and snapshot is not None:
        save_stamp(ws, snapshot)
    else:
        clear_stamp(ws)
    return 0


# --- post-merge / post-checkout / post-rewrite --------------------------------------------------

def git_busy(top: Path) -> str | None:
    """What git is in the middle of (a merge, rebase, cherry-pick, revert), or None."""
    from ..gitsync.env import IN_PROGRESS
    from .install import git
    p = git(["rev-parse", "--git-dir"], top)
    if p.returncode != 0:
        return None
    gd = (top / p.stdout.strip()).resolve()
    return next((why for name, why in IN_PROGRESS if name != "BISECT_LOG" and (gd / name).exists()), None)


def post_change(ws: Any, top: Path, hook: str, args: list[str]) -> int:
    """Import the JSONL when it changed under the database (merged per field, as auto-import
    does). Never while git is in the middle of a merge, rebase or cherry-pick (the rebase's own
    checkouts): the import after it ends (post-rewrite, post-merge, or the next bd command)
    takes it. The hook never rewrites the JSONL itself: issues the checked-out file lacks are
    kept and written back by the next write (a rewrite now would make git's next checkout
    refuse)."""
    from ..errors import BdError
    if hook == "post-checkout" and (len(args) < 3 or args[2] != "1"):
        return 0  # a file checkout: git checkout -- <paths>
    if hook == "post-rewrite" and args[:1] != ["rebase"]:
        return 0
    if hook == "post-checkout" and git_busy(top):
        return 0  # a checkout git makes inside a rebase: post-rewrite imports when it ends
    # (post-merge runs with MERGE_HEAD still present, but the merge is done by then)
    path = ws.jsonl_path
    if not path.exists():
        return 0
    st = statefile.read(ws.state_path)
    res: dict[str, Any] | None = None
    notices: list[str] = []
    if st is not None and st.daemon_alive():
        try:
            from ..rpc.client import Client
            from ..rpc.protocol import find_socket
            with Client(find_socket(ws.beads_dir), timeout=60.0, actor=ACTOR) as c:
                resp = c.request("import", {"workspace": True})
            if resp.get("success"):
                res = resp.get("data") or {}
                notices = resp.get("notices") or []
            elif resp.get("kind") != "version_mismatch":
                raise BdError(resp.get("error") or "the daemon could not import")
        except BdError as e:
            if e.kind not in ("daemon", "timeout"):
                raise
    if res is None:
        from .. import jsonl
        from ..backends.direct import DirectBackend
        b = DirectBackend(ws, ACTOR, auto_flush=False)
        try:
            if not jsonl.needs_import(b.store, path):
                return 0
            res = b.call("import", {"workspace": True})
            notices = b.notices
        finally:
            b.close()
    for note in notices:
        warn(note)
    n_c, n_u = res.get("created", 0), res.get("updated", 0)
    if n_c or n_u:
        warn(f"imported {path.name} after {hook.replace('post-', '')}: {n_c} created, {n_u} updated")
    for old, new in (res.get("renumbered") or {}).items():
        warn(f"local issue {old} collided with {old} from {path.name}; it is now {new}")
    for old, new in (res.get("remapped") or {}).items():
        warn(f"{old} from {path.name} collided with a local issue; imported as {new}")
    return 0


# --- pre-push ---------------------------------------------------------------------------------

def pre_push(ws: Any, top: Path, args: list[str], stdin: Any) -> int:
    from ..gitsync.env import git
    try:
        text = stdin.read() if stdin is not None and not stdin.isatty() else ""
    except (OSError, ValueError):
        text = ""
    pushed = [line.split() for line in text.splitlines() if line.strip()]
    head = git(["rev-parse", "-q", "--verify", "HEAD"], top).stdout.strip()
    if not head:
        return 0
    if pushed and not any(len(p) >= 2 and p[1] == head for p in pushed):
        return 0  # not pushing the commit that is checked out: nothing we can vouch for
    if daemon_auto_commits(ws) and not sync_branch_mode(ws, statefile.read(ws.state_path)):
        # The daemon commits issue changes on this branch (coalesced) and writes the JSONL only
        # with its commit: the push goes ahead, and the next one carries what follows.
        st = statefile.read(ws.state_path)
        if st is not None and st.write_gen > st.commit_gen:
            warn("pre-push: issue changes made since the daemon's last commit are not in this push; the "
                 "daemon commits them on this branch shortly and your next push carries them "
                 "('bd daemon start --auto-push' pushes them by itself)")
        return 0
    if not flush(ws, statefile.read(ws.state_path), force=True):
        warn("pre-push: could not make sure the JSONL is up to date; not blocking the push")
        return 0
    st = statefile.read(ws.state_path)
    if sync_branch_mode(ws, st):
        return 0  # the JSONL travels on the sync branch ('bd sync'), not with this branch
    rel = _rel(ws, top)
    if not ws.jsonl_path.exists() or git(["check-ignore", "-q", "--", rel], top).returncode == 0:
        return 0
    state = _committed(top, rel)
    if state == "same":
        return 0
    changed = _changed_count(top, rel, ws.jsonl_path)
    if state == "untracked" and not changed:
        return 0  # no issues yet: nothing to lose
    what = f"{changed} issue(s) changed" if changed else "changes"
    if state == "untracked":
        warn(f"pre-push: {rel} ({what}) has never been committed, so this push would not carry your issues.")
    else:
        warn(f"pre-push: {rel} has {what} that the commit you are pushing (HEAD) does not have.")
    sys.stderr.write(f"  Commit it first:   git add {rel} && git commit -m \"Update issues\"\n"
                     "  Then push again. To push without this check once: BD_SKIP_HOOKS=1 git push ...\n")
    return BLOCK


def _committed(top: Path, rel: str) -> str:
    """'same' when HEAD's copy of the JSONL is the work tree's, 'differs', or 'untracked'."""
    from ..gitsync.env import git
    if git(["cat-file", "-e", f"HEAD:{rel}"], top).returncode != 0:
        return "untracked"
    return "same" if git(["diff", "--quiet", "HEAD", "--", rel], top).returncode == 0 else "differs"


def _changed_count(top: Path, rel: str, path: Path) -> int:
    """How many issues' lines differ between HEAD's JSONL and the work tree's."""
    from ..gitsync.env import git
    p = git(["show", f"HEAD:{rel}"], top)
    old = set(p.stdout.splitlines()) if p.returncode == 0 else set()
    try:
        new = set(path.read_text(encoding="utf-8").splitlines())
    except OSError:
        return 0

    def ids(lines: set[str]) -> set[str]:
        out = set()
        for ln in lines:
            if ln.startswith('{"id":"'):
                out.add(ln[7:ln.find('"', 7)])
        return out
    return len(ids(old ^ new))


if __name__ == "__main__":
    main()
