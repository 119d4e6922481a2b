"""Committing the JSONL, and nothing else.

``commit_jsonl`` makes a commit whose tree is the branch tip's tree with one blob replaced
(``.beads/issues.jsonl``), so the user's staged changes and every other file stay out of it.

- Index mode (the default): the commit goes on the checked-out branch; the index entry of the
  JSONL is updated with it under one short hold of ``index.lock`` (see ``indexfile``), and the
  branch ref moves with a compare-and-swap on the tip we built on. If the user moved the
  branch meanwhile, we build again on their new tip.
- Sync-branch mode (``branch=``): the commit goes on ``refs/heads/<branch>``, built from that
  branch's own tree (created from HEAD the first time). Neither HEAD nor the index is touched.

Nothing here waits: a reason to wait (merge in progress, detached HEAD, index.lock held, the
JSONL staged by the user with other content, ...) comes back in ``CommitResult.waiting`` and the
caller decides when to try again.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pygit2

from ..errors import GitError
from ..jsonl.markers import find_marker
from . import indexfile, refs
from .repo import (as_commit, blob_at, changed_paths, checked_out_elsewhere, head_branch, in_progress, ref_target, rel_path, short,
                   signature)



@dataclass
class CommitResult:
    committed: bool = False
    commit: str | None = None
    branch: str | None = None           # refs/heads/<b>
    changes: dict[str, Any] = field(default_factory=dict)
    waiting: str | None = None          # why not now (try again later)
    busy: bool = False                  # the reason is a held index.lock
    up_to_date: bool = False            # nothing to commit
    replaced_staged: bool = False       # the user's staged JSONL was replaced (staged="replace")
    lock_hold: float = 0.0              # seconds we held index.lock

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v not in (None, False, 0.0, {})}


def _ids(data: bytes) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for line in data.splitlines():
        if not line.strip():
            continue
        if line.startswith(b'{"id":"'):
            end = line.index(b'"', 7)
            out[line[7:end].decode()] = line
        else:
            try:
                out[str(json.loads(line)["id"])] = line
            except (ValueError, KeyError, TypeError):
                continue
    return out


def count_changes(old: bytes, new: bytes) -> dict[str, Any]:
    """How the issues differ between two JSONL texts: created, updated, deleted (by id)."""
    a, b = _ids(old), _ids(new)
    created = sorted(set(b) - set(a))
    deleted = sorted(set(a) - set(b))
    updated = sorted(i for i in set(a) & set(b) if a[i] != b[i])
    return {"changed": len(created) + len(updated) + len(deleted), "created": created, "updated": updated,
            "deleted": deleted}


def default_message(changes: dict[str, Any], title: str = "bd") -> str:
    n = changes["changed"]
    parts = [f"{len(changes[k])} {k}" for k in ("created", "updated", "deleted") if changes[k]]
    head = f"{title}: {n} issue{'' if n == 1 else 's'} changed" + (f" ({', '.join(parts)})" if parts else "")
    ids = changes["created"] + changes["updated"] + changes["deleted"]
    body = ", ".join(ids[:40]) + (f", ... ({len(ids) - 40} more)" if len(ids) > 40 else "")
    return f"{head}\n\n{body}\n" if body else head + "\n"


def replace_path(repo: pygit2.Repository, tree: pygit2.Tree | None, parts: list[str], blob: pygit2.Oid,
                 mode: int) -> pygit2.Oid:
    """The id of ``tree`` with the blob at ``parts`` set (nested trees rebuilt, others shared)."""
    tb = repo.TreeBuilder(tree) if tree is not None else repo.TreeBuilder()
    name = parts[0]
    if len(parts) == 1:
        tb.insert(name, blob, mode)
    else:
        sub: pygit2.Tree | None = None
        if tree is not None and name in tree:
            entry = tree[name]
            obj = repo[entry.id]
            if entry.filemode != pygit2.GIT_FILEMODE_TREE or not isinstance(obj, pygit2.Tree):
                raise GitError(f"cannot commit under {name}: it is a file in the branch's tree")
            sub = obj
        tb.insert(name, replace_path(repo, sub, parts[1:], blob, mode), pygit2.GIT_FILEMODE_TREE)
    return tb.write()


def _prepare(repo: pygit2.Repository, rel: str, blob: pygit2.Oid, mode: int, st: os.stat_result) -> indexfile.Prepared:
    try:
        return indexfile.prepare(repo, rel, blob, mode, st)
    except (pygit2.GitError, ValueError) as e:
        raise GitError(f"cannot update the git index: {e}",
                       "bd supports index versions 2-4 without a split index (git update-index --no-split-index)"
                       ) from None


class _Moved(Exception):
    """The branch or the index changed since we read them: build again."""


def _publish(repo: pygit2.Repository, ref: str, tip: pygit2.Oid, commit: pygit2.Oid, prep: indexfile.Prepared,
             reflog: str, lock_wait: float) -> float:
    """Publish ``commit`` on ``ref`` (from ``tip``) together with the prepared index.

    Before the hold: wait (polling, up to ``lock_wait``) until nobody holds index.lock and the
    index is still the one ``prep`` was built from; take the branch's ref lock and check its
    value (compare-and-swap). The hold on ``index.lock``: check the index, write it, rename the
    ref lock over the ref, rename the index lock over the index. After it: the reflog. Returns
    the hold time. Raises IndexBusy or _Moved (nothing changed)."""
    lock = indexfile.Lock(repo)
    reflock = refs.RefLock(repo, ref) if refs.supported(repo) else None
    deadline = time.monotonic() + lock_wait
    while True:
        try:
            lock.check(prep.base)  # no lock yet: skip a hold that could only fail
        except indexfile.IndexChanged:
            raise _Moved() from None
        if lock.path.exists():
            if time.monotonic() >= deadline:
                raise indexfile.IndexBusy(str(lock.path))
            while lock.path.exists() and time.monotonic() < deadline:
                time.sleep(0.0005)
            continue
        if reflock is not None:
            try:
                reflock.acquire()
            except refs.RefBusy:
                raise indexfile.IndexBusy(str(reflock.lock)) from None  # git is moving the branch
            try:
                if reflock.current() != tip:
                    raise _Moved()
                reflock.write(commit)
            except refs.Unsupported:
                reflock.rollback()
                reflock = None
            except BaseException:
                reflock.rollback()
                raise
        try:
            lock.acquire()
            break
        except indexfile.IndexBusy:
            if reflock is not None:
                reflock.rollback()
                reflock = refs.RefLock(repo, ref)
            if time.monotonic() >= deadline:
                raise
    t0 = time.perf_counter()
    try:
        lock.check(prep.base)
        lock.write(prep.data)
        if reflock is not None:
            reflock.commit()
        else:
            cur = repo.lookup_reference(ref)
            if cur.target != tip:
                raise _Moved()
            cur.set_target(commit, reflog)  # libgit2's compare-and-swap on the tip we checked
        lock.commit()
    except (indexfile.IndexChanged, pygit2.GitError):
        lock.rollback()
        if reflock is not None:
            reflock.rollback()
        raise _Moved() from None
    except BaseException:
        lock.rollback()
        if reflock is not None:
            reflock.rollback()
        raise
    hold = time.perf_counter() - t0
    if reflock is not None:
        reflock.log(tip, commit, reflog, signature(repo, "COMMITTER"), head=True)
    return hold


def advance_branch(repo: pygit2.Repository, jsonl_path: Path, target: pygit2.Oid, *,
                   reflog: str = "bd sync: merge", lock_wait: float = 2.0) -> CommitResult:
    """Move the checked-out branch to ``target`` (a fast-forward, or a merge commit we built) when
    ``target``'s tree differs from HEAD's only in the JSONL; only the JSONL's index entry changes,
    so the user's staged changes stay staged. The work tree's JSONL must already hold
    ``target``'s version (its stat data goes into the index)."""
    rel = rel_path(repo, jsonl_path)
    ref, why = head_branch(repo)
    if ref is None:
        return CommitResult(waiting=why)
    tip = ref_target(repo, ref)
    assert tip is not None
    new = as_commit(repo[target])
    assert new is not None
    other = [new_path for old_path, new_path in changed_paths(repo[tip], new) if new_path != rel or old_path != rel]
    if other:
        raise GitError(f"cannot move {short(ref)} over changes outside {rel}: {', '.join(other[:5])}")
    entry = new.tree[rel]
    with open(jsonl_path, "rb") as f:
        data = f.read()
        st = os.fstat(f.fileno())
    if pygit2.hash(data) != entry.id:
        raise GitError(f"{rel} in the work tree is not the version being committed")
    prep = _prepare(repo, rel, entry.id, entry.filemode, st)
    if prep.conflicted:
        return CommitResult(branch=ref, waiting=f"{rel} has unmerged entries in the index")
    try:
        hold = _publish(repo, ref, tip, target, prep, reflog, lock_wait)
    except indexfile.IndexBusy:
        return CommitResult(branch=ref, busy=True, waiting="index.lock is held (git is running in this repository)")
    except _Moved:
        return CommitResult(branch=ref, waiting=f"{short(ref)} or the index changed meanwhile")
    return CommitResult(committed=True, commit=str(target), branch=ref, lock_hold=hold)


def commit_jsonl(repo: pygit2.Repository, jsonl_path: Path, *, branch: str | None = None,
                 message: str | None = None, title: str = "bd", staged: str = "wait",
                 attempts: int = 5, lock_wait: float = 0.0) -> CommitResult:
    """Commit the workspace JSONL as it is on disk now; see the module docstring.

    ``staged``: what to do when the user has the JSONL staged with content that is neither
    HEAD's nor ours: "wait" (the daemon: their staged version goes into *their* next commit
    first) or "replace" (``bd sync``, which the user asked for: ours supersedes it).
    ``lock_wait``: when the user's git holds ``index.lock`` at the moment we are ready, watch
    it for up to this many seconds and take it the moment it is released (the next git command
    of a busy user needs a few milliseconds to start; our hold is far shorter).
    Raises GitError only for configuration problems (path outside the work tree, bad branch).
    """
    rel = rel_path(repo, jsonl_path)
    why = in_progress(repo)
    if why:
        return CommitResult(waiting=why)
    if branch is None:
        ref, why = head_branch(repo)
        if ref is None:
            return CommitResult(waiting=why)
        other = checked_out_elsewhere(repo, ref)
        if other:
            return CommitResult(branch=ref, waiting=f"branch {short(ref)} is also checked out in the worktree "
                                                    f"{other}; not committing to it")
    else:
        ref = branch if branch.startswith("refs/") else f"refs/heads/{branch}"
        if not pygit2.reference_is_valid_name(ref):
            raise GitError(f"invalid sync branch name {branch!r}")
        where = checked_out_elsewhere(repo, ref, include_self=True)
        if where:
            return CommitResult(branch=ref, waiting=f"sync branch {short(ref)} is checked out in the worktree "
                                                    f"{where}; bd never commits to a checked-out branch")
    try:
        with open(jsonl_path, "rb") as f:
            data = f.read()
            st = os.fstat(f.fileno())
    except FileNotFoundError:
        return CommitResult(branch=ref, up_to_date=True)
    if find_marker(data) is not None:
        return CommitResult(branch=ref, waiting=f"{rel} contains git conflict markers")
    blob = repo.create_blob(data)
    author, committer = signature(repo, "AUTHOR"), signature(repo, "COMMITTER")
    for _ in range(attempts):
        tip = ref_target(repo, ref)
        parents: list[pygit2.Oid] = []
        base: pygit2.Commit | None = None
        if tip is not None:
            base = as_commit(repo[tip])
            parents = [tip]
        elif branch is not None and not repo.head_is_unborn:
            base = repo.head.peel(pygit2.Commit)  # a new sync branch starts at HEAD
            parents = [base.id]
        elif branch is None:  # pragma: no cover - head_branch reported it
            return CommitResult(branch=ref, waiting="the branch has no commit")
        old = blob_at(repo, base, rel)
        old_id = old.id if old is not None else None
        mode = base.tree[rel].filemode if old is not None else pygit2.GIT_FILEMODE_BLOB  # type: ignore[union-attr]
        result = CommitResult(branch=ref)
        prep = None
        if old is None and not data.strip():
            return CommitResult(branch=ref, up_to_date=True)  # no issues yet: nothing worth a commit
        if branch is None:
            if old_id == blob:
                return CommitResult(branch=ref, up_to_date=True)
            prep = _prepare(repo, rel, blob, mode, st)
            if prep.conflicted:
                return CommitResult(branch=ref, waiting=f"{rel} has unmerged entries in the index")
            if prep.staged != old_id and prep.staged != blob:
                if staged == "wait":
                    return CommitResult(branch=ref, waiting=(
                        f"{rel} is staged with other content; waiting for your commit "
                        f"(or 'git restore --staged {rel}')"))
                result.replaced_staged = True
        elif old_id == blob:
            if tip is None and base is not None:  # a new sync branch, already up to date: start it at HEAD
                try:
                    repo.create_reference(ref, base.id, force=False, message=f"{title}: create {short(ref)}")
                except (pygit2.GitError, pygit2.AlreadyExistsError, ValueError):
                    continue
            return CommitResult(branch=ref, up_to_date=True)
        tree = replace_path(repo, base.tree if base is not None else None, rel.split("/"), blob, mode)
        changes = count_changes(old.data if old is not None else b"", data)
        msg = message if message else default_message(changes, title)
        commit = repo.create_commit(None, author, committer, msg, tree, parents)
        reflog = f"{title}: commit {rel}"
        if branch is None:
            assert prep is not None and tip is not None
            try:
                result.lock_hold = _publish(repo, ref, tip, commit, prep, reflog, lock_wait)
            except indexfile.IndexBusy:
                return CommitResult(branch=ref, busy=True,
                                    waiting="index.lock is held (git is running in this repository)")
            except _Moved:
                continue
        else:
            try:
                if tip is None:
                    repo.create_reference(ref, commit, force=False, message=reflog)
                else:
                    repo.lookup_reference(ref).set_target(commit, reflog)
            except (pygit2.GitError, pygit2.AlreadyExistsError, ValueError):
                continue
        result.committed = True
        result.commit = str(commit)
        result.changes = changes
        return result
    return CommitResult(branch=ref, busy=True, waiting=f"{short(ref)} or the index changed under us "
                                                       "(index.lock: git is running in this repository)")
