"""The repository around a workspace: discovery, the state it is in, worktrees, upstreams.

Read-only helpers on top of pygit2 plus a ``run_git`` for the few things we leave to git
itself (fetch, merge, push: they need the user's credentials, hooks and merge machinery).
"""
from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pygit2

from ..errors import GitError
from . import env

def open_repo(start: str | os.PathLike[str]) -> pygit2.Repository | None:
    """The non-bare repository containing ``start`` (a linked worktree opens as itself)."""
    try:
        path = pygit2.discover_repository(str(start))
    except pygit2.GitError:
        return None
    if path is None:
        return None
    repo = pygit2.Repository(path)
    if repo.is_bare or repo.workdir is None:
        return None
    return repo


def git_dir(repo: pygit2.Repository) -> Path:
    """This worktree's git dir (``.git`` or ``.git/worktrees/<name>``): HEAD and index live here."""
    return Path(repo.path)


def common_dir(repo: pygit2.Repository) -> Path:
    """The git dir shared by every worktree (refs, objects, config, info/)."""
    gd = git_dir(repo)
    cd = gd / "commondir"
    if cd.is_file():
        return (gd / cd.read_text().strip()).resolve()
    return gd


def rel_path(repo: pygit2.Repository, path: Path) -> str:
    """``path`` relative to the work tree, with forward slashes. Raises GitError if outside."""
    workdir = Path(repo.workdir).resolve()
    p = Path(path).resolve()
    try:
        rel = p.relative_to(workdir)
    except ValueError:
        raise GitError(f"{p} is not inside the git work tree {workdir}") from None
    return rel.as_posix()


def in_progress(repo: pygit2.Repository) -> str | None:
    """Why this worktree must not be committed to right now (merge, rebase, ...), or None."""
    gd = git_dir(repo)
    for name, why in env.IN_PROGRESS:
        if (gd / name).exists():
            return why
    return None


def head_branch(repo: pygit2.Repository) -> tuple[str | None, str | None]:
    """(``refs/heads/<b>``, None) for a branch HEAD; (None, reason) when detached or unborn."""
    try:
        head = repo.lookup_reference("HEAD")
    except (KeyError, pygit2.GitError):
        return None, "HEAD is missing"
    if head.type != pygit2.enums.ReferenceType.SYMBOLIC:
        return None, "HEAD is detached (no branch checked out)"
    name = head.target
    if not isinstance(name, str):  # pragma: no cover - defensive
        name = str(name)
    if repo.head_is_unborn:
        return None, f"branch {short(name)} has no commits yet (make the first commit yourself)"
    return name, None


def short(ref: str) -> str:
    return ref[len("refs/heads/"):] if ref.startswith("refs/heads/") else ref


def _read_head_file(path: Path) -> str | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return text[5:].strip() if text.startswith("ref: ") else None


def checked_out_elsewhere(repo: pygit2.Repository, ref: str, *, include_self: bool = False) -> str | None:
    """The path of a worktree (other than this one, unless ``include_self``) that has ``ref``
    checked out, or None. Reads the HEAD files directly: no repository is opened."""
    common = common_dir(repo)
    mine = git_dir(repo).resolve()
    heads: list[tuple[Path, Path]] = []  # (git dir, worktree path)
    if (common / "HEAD").is_file() and not _is_bare(repo, common):
        heads.append((common.resolve(), common.parent))
    wt_root = common / "worktrees"
    if wt_root.is_dir():
        for d in sorted(wt_root.iterdir()):
            gd_file = d / "gitdir"
            try:
                wt_path = Path(gd_file.read_text().strip()).parent
            except OSError:
                wt_path = d
            heads.append((d.resolve(), wt_path))
    for gd, wt in heads:
        if gd == mine and not include_self:
            continue
        if _read_head_file(gd / "HEAD") == ref:
            if gd != mine and not wt.exists():
                continue  # a worktree deleted without 'git worktree prune'
            return str(wt)
    return None


def _is_bare(repo: pygit2.Repository, common: Path) -> bool:
    try:
        return bool(repo.config.get_bool("core.bare"))
    except (KeyError, pygit2.GitError):
        return common.name != ".git"


def as_commit(obj: pygit2.Object | pygit2.Commit | None) -> pygit2.Commit | None:
    """``obj`` (a commit, or a tag of one) as a commit; None stays None."""
    if obj is None:
        return None
    peeled = obj.peel(pygit2.Commit)
    assert isinstance(peeled, pygit2.Commit)
    return peeled


def changed_paths(a: pygit2.Object | pygit2.Commit, b: pygit2.Object | pygit2.Commit) -> list[tuple[str, str]]:
    """(old path, new path) of every file that differs between two commits' trees."""
    ca, cb = as_commit(a), as_commit(b)
    assert ca is not None and cb is not None
    return [(d.old_file.path, d.new_file.path) for d in ca.tree.diff_to_tree(cb.tree).deltas]


def blob_at(repo: pygit2.Repository, commit: pygit2.Object | pygit2.Commit | None, rel: str) -> pygit2.Blob | None:
    """The blob at ``rel`` in ``commit``'s tree, or None (no commit, no such file)."""
    c = as_commit(commit)
    if c is None:
        return None
    try:
        entry = c.tree[rel]
    except KeyError:
        return None
    obj = repo[entry.id]
    return obj if isinstance(obj, pygit2.Blob) else None


def text_at(repo: pygit2.Repository, commit: pygit2.Object | pygit2.Commit | None, rel: str) -> str:
    blob = blob_at(repo, commit, rel)
    return blob.data.decode("utf-8") if blob is not None else ""


def config_get(repo: pygit2.Repository, key: str) -> str | None:
    try:
        return repo.config[key]
    except (KeyError, pygit2.GitError):
        return None


@dataclass(frozen=True)
class Upstream:
    remote: str          # e.g. origin
    merge_ref: str       # the remote's branch, e.g. refs/heads/main
    tracking_ref: str    # our copy of it, e.g. refs/remotes/origin/main


def upstream(repo: pygit2.Repository, branch_ref: str) -> Upstream | None:
    """The upstream configured for ``refs/heads/<b>`` (branch.<b>.remote/merge), or None."""
    b = short(branch_ref)
    remote = config_get(repo, f"branch.{b}.remote")
    merge = config_get(repo, f"branch.{b}.merge")
    if not remote or not merge or remote == ".":
        return None
    return Upstream(remote, merge, f"refs/remotes/{remote}/{short(merge)}")


def default_remote(repo: pygit2.Repository) -> str | None:
    names = [r.name for r in repo.remotes]
    if "origin" in names:
        return "origin"
    return names[0] if len(names) == 1 else None


def ref_target(repo: pygit2.Repository, ref: str) -> pygit2.Oid | None:
    try:
        return repo.lookup_reference(ref).resolve().target  # type: ignore[return-value]
    except (KeyError, pygit2.GitError):
        return None


def run_git(repo: pygit2.Repository, *args: str, check: bool = True, timeout: float = 300,
            config: dict[str, str] | None = None, bd_hooks: bool = True) -> subprocess.CompletedProcess[str]:
    """Run git in the work tree (environment: ``env.git_env``, the repository named by the work
    tree only). Raises GitError when ``check`` and git fails, or git is missing or too slow.

    ``bd_hooks=False``: bd's part of the git hooks (import after a merge, the pre-push check) is
    skipped because the caller does that work itself, and must not wait for the workspace lock
    the caller holds. The user's own (chained) hooks still run."""
    try:
        proc = env.git(list(args), repo.workdir, keep_repo=False, skip_bd_hooks=not bd_hooks,
                       timeout=timeout, config=config)
    except subprocess.TimeoutExpired:
        raise GitError(f"git {args[0]} did not finish within {timeout:g}s") from None
    except FileNotFoundError:
        raise GitError("git is not installed (or not on PATH)") from None
    if check and proc.returncode != 0:
        msg = (proc.stderr.strip() or proc.stdout.strip() or f"exit code {proc.returncode}")
        raise GitError(f"git {args[0]} failed: {msg}")
    return proc


def signature(repo: pygit2.Repository, who: str = "AUTHOR") -> pygit2.Signature:
    """Who our commits are by: GIT_<who>_NAME/EMAIL, else user.name/email, else bd."""
    name = os.environ.get(f"GIT_{who}_NAME")
    email = os.environ.get(f"GIT_{who}_EMAIL")
    if not name or not email:
        try:
            sig = repo.default_signature
            name, email = name or sig.name, email or sig.email
        except (KeyError, pygit2.GitError):
            name, email = name or "bd", email or "bd@localhost"
    return pygit2.Signature(name, email)
