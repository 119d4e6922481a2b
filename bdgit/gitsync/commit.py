"""Committing the JSONL, and nothing else.

``commit_jsonl`` makes a commit whose tree is the branch tip's tree with one blob replaced
(``.beads/issues.jsonl``; the first time, ``.beads/.gitignore`` comes with it), so the user's
staged changes and every other file stay out of it. A JSONL that does not parse (the import's
own rules, conflict markers included) is never committed.

- Index mode (the default): the commit goes on the checked-out branch; the index entry of the
  JSONL is updated with it under one short hold of ``index.lock`` (see ``indexfile``), and the
  branch ref moves with a compare-and-swap on the tip we built on. If the user moved the
  branch meanwhile, we build again on their new tip. A ``guard`` (the daemon's
  ``busy.Watcher.look``) is asked at the last moment, holding the branch's ref lock, whether
  the user's git is running; we finish before the deadline it gives, or change nothing.
- Sync-branch mode (``branch=``): the commit goes on ``refs/heads/<branch>``, built from that
  branch's own tree (created from HEAD the first time). Neither HEAD nor the index is touched.

Nothing here waits: a reason to wait (merge in progress, detached HEAD, index.lock held, the
JSONL staged by the user with other content, ...) comes back in ``CommitResult.waiting`` and the
caller decides when to try again.
"""
from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pygit2

from ..errors import GitError, ImportFormatError
from ..workspace import COMPANIONS
from . import indexfile, refs
from .repo import (as_commit, blob_at, changed_paths, checked_out_elsewhere, head_branch, in_progress, ref_target,
                   rel_path, short, signature)

#: (reason the user's git is busy, or None; until when a None holds: a time.perf_counter())
Guard = Callable[[], "tuple[str | None, float]"]


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
    companions: list[str] = field(default_factory=list)  # other files the commit added (.gitignore)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v not in (None, False, 0.0, {}, [])}


def _id_of(line: bytes) -> str | None:
    if line.startswith(b'{"id":"'):
        end = line.find(b'"', 7)
        return line[7:end].decode(errors="replace") if end > 7 else None
    try:
        return str(json.loads(line)["id"])
    except (ValueError, KeyError, TypeError):
        return None


def _ids(lines: set[bytes]) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for line in lines:
        if line.strip():
            i = _id_of(line)
            if i is not None:
                out[i] = line
    return out


def natural_key(issue_id: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key that puts test-2 before test-10 (and test-5.2 before test-5.10)."""
    return tuple((0, int(x)) if x.isdigit() else (1, x) for x in re.split(r"(\d+)", issue_id) if x)


_STATUS = re.compile(rb'"status":\s*"([^"\\]*)"')
_TITLE = re.compile(rb'"title":\s*"((?:[^"\\]|\\.)*)"')


def _status(line: bytes | None) -> bytes | None:
    """A line's status without parsing it (an escaped ``\\"status\\"`` inside a text never matches)."""
    if line is None:
        return None
    m = _STATUS.search(line)
    return m.group(1) if m else None


def _title(line: bytes | None) -> str:
    if line is None:
        return ""
    m = _TITLE.search(line)
    if not m:
        return ""
    try:
        return str(json.loads(b'"' + m.group(1) + b'"'))
    except ValueError:
        return m.group(1).decode(errors="replace")


def _kind(old: bytes | None, new: bytes | None) -> str:
    """What happened to an issue: created, updated, closed, reopened or deleted."""
    a, b = _status(old), _status(new)
    if new is None or b == b"tombstone":
        return "deleted"
    if old is None:
        return "created"
    if b == b"closed" and a != b"closed":
        return "closed"
    if a == b"closed" and b != b"closed":
        return "reopened"
    return "updated"


def count_changes(old: bytes, new: bytes) -> dict[str, Any]:
    """How the issues differ between two JSONL texts: created, updated, deleted (by id, in
    natural id order), and ``details``: (id, kind, title) for each, kind one of created,
    updated, closed, reopened, deleted (titles only for the first ``MESSAGE_LINES``).
    Only the lines that differ are looked at (one line per issue: a changed issue is a line
    gone and a line added)."""
    old_lines, new_lines = set(old.splitlines()), set(new.splitlines())
    a, b = _ids(old_lines - new_lines), _ids(new_lines - old_lines)
    created = sorted(set(b) - set(a), key=natural_key)
    deleted = sorted(set(a) - set(b), key=natural_key)
    updated = sorted(set(a) & set(b), key=natural_key)
    details = []
    for n, i in enumerate(sorted([*created, *updated, *deleted], key=natural_key)):
        details.append((i, _kind(a.get(i), b.get(i)), _title(b.get(i) or a.get(i)) if n < MESSAGE_LINES else ""))
    return {"changed": len(created) + len(updated) + len(deleted), "created": created, "updated": updated,
            "deleted": deleted, "details": details}


#: a daemon commit's message: the subject, then at most this many issue lines and one "more" line
MESSAGE_LINES = 5


def default_message(changes: dict[str, Any], title: str = "bd", companions: list[str] | tuple[str, ...] = ()) -> str:
    """``bd: 3 issues changed (1 created, 1 closed, 1 updated)``, then one line per issue in
    natural id order (``test-2 created: Write the parser``, titles cut at 60 characters), at
    most ``MESSAGE_LINES`` of them and a line with the remaining ids."""
    n = changes["changed"]
    details: list[tuple[str, str, str]] = changes.get("details") or [
        (i, k, "") for k in ("created", "updated", "deleted") for i in changes[k]]
    counts: dict[str, int] = {}
    for _, kind, _ in details:
        counts[kind] = counts.get(kind, 0) + 1
    parts = [f"{counts[k]} {k}" for k in ("created", "updated", "closed", "reopened", "deleted") if counts.get(k)]
    head = f"{title}: {n} issue{'' if n == 1 else 's'} changed" + (f" ({', '.join(parts)})" if parts else "")
    lines = []
    for iid, kind, name in details[:MESSAGE_LINES]:
        name = " ".join(name.split())
        name = name if len(name) <= 60 else name[:59] + "…"
        lines.append(f"{iid} {kind}" + (f": {name}" if name else ""))
    rest = [iid for iid, _, _ in details[MESSAGE_LINES:]]
    if rest:
        more = f"and {len(rest)} more: "
        shown: list[str] = []
        for iid in rest:
            if len(more) + sum(len(x) + 2 for x in shown) + len(iid) > 100:
                break
            shown.append(iid)
        lines.append(more + ", ".join(shown) + (", …" if len(shown) < len(rest) else ""))
    for c in companions:
        lines.append(f"with {c} (bd's ignore rules for its machine-local files)")
    return f"{head}\n\n" + "\n".join(lines) + "\n" if lines else head + "\n"


def check_jsonl(data: bytes, rel: str, old: bytes | None = None) -> str | None:
    """Why ``data`` must not be committed as ``rel`` (the import's own parser: a line that is
    not a JSON issue, a conflict marker, invalid UTF-8), or None when it parses. With ``old``
    (the version it replaces), only lines not in ``old`` are parsed: we never add a bad line."""
    from ..jsonl.parse import parse
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        return f"{rel} is not UTF-8 text (byte {e.start})"
    if old is not None:
        known = set(old.splitlines())
        text = "\n".join("" if ln in known else ln.decode("utf-8")  # line numbers kept
                          for ln in data.splitlines())
    try:
        parse(text)
    except ImportFormatError as e:
        return f"{rel} {e}"
    return None


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


def _prepare(repo: pygit2.Repository, rel: str, blob: pygit2.Oid, mode: int, st: os.stat_result,
             extra: list[indexfile.Entry] | tuple[indexfile.Entry, ...] = ()) -> indexfile.Prepared:
    try:
        return indexfile.prepare(repo, rel, blob, mode, st, extra)
    except (pygit2.GitError, ValueError) as e:
        raise GitError(f"cannot update the git index: {e}",
                       "bd supports index versions 2-4 without a split index (git update-index --no-split-index)"
                       ) from None


class _Moved(Exception):
    """The branch or the index changed since we read them: build again."""


class _UserGit(Exception):
    """The guard says the user's git is running (or we were too slow after it looked)."""


def _publish(repo: pygit2.Repository, ref: str, tip: pygit2.Oid, commit: pygit2.Oid, prep: indexfile.Prepared,
             reflog: str, lock_wait: float, guard: Guard | None = None) -> float:
    """Publish ``commit`` on ``ref`` (from ``tip``) together with the prepared index.

    Before the hold: the new index goes into our temp file; wait (polling, up to ``lock_wait``)
    until nobody holds index.lock and the index is still the one ``prep`` was built from; take
    the branch's ref lock and check its value (compare-and-swap); ask ``guard``. The hold on
    ``index.lock`` (born holding the new index: see ``indexfile.Lock``): check the index, rename
    the ref lock over the ref and the lock over the index - before the guard's deadline, else
    nothing. After it: the reflog. Returns the hold time. Raises IndexBusy, _UserGit or _Moved (nothing changed)."""
    lock = indexfile.Lock(repo)
    lock.write(prep.data)
    try:
        return _publish_written(repo, ref, tip, commit, lock, prep, reflog, lock_wait, guard)
    finally:
        lock.discard()


def _publish_written(repo: pygit2.Repository, ref: str, tip: pygit2.Oid, commit: pygit2.Oid,
                     lock: indexfile.Lock, prep: indexfile.Prepared, reflog: str, lock_wait: float,
                     guard: Guard | None) -> float:
    reflock = refs.RefLock(repo, ref) if refs.supported(repo) else None
    deadline = time.monotonic() + lock_wait
    answer_until: float | None = None  # the guard's deadline
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
        if guard is not None:
            why, answer_until = guard()
            if why:
                if reflock is not None:
                    reflock.rollback()
                raise _UserGit(why)
        if answer_until is not None and time.perf_counter() > answer_until:
            # descheduled since the look: a git started meanwhile would meet our index.lock
            if reflock is not None:
                reflock.rollback()
            raise _UserGit("too slow after the last look at your git; trying again")
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
        if answer_until is not None and time.perf_counter() > answer_until:
            raise _UserGit("too slow after the last look at your git; trying again")
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


_BUSY = "index.lock is held (git is running in this repository)"


def advance_branch(repo: pygit2.Repository, jsonl_path: Path, target: pygit2.Oid, *,
                   reflog: str = "bd sync: merge", lock_wait: float = 2.0, guard: Guard | None = None) -> CommitResult:
    """Move the checked-out branch to ``target`` (a fast-forward, or a merge commit we built) when
    ``target``'s tree differs from HEAD's only in the JSONL; only the JSONL's index entry changes,
    so the user's staged changes stay staged. The work tree's JSONL must already hold
    ``target``'s version (its stat data goes into the index). ``guard``: as for ``commit_jsonl``
    (the daemon's look at the user's git, at the last moment)."""
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
    data, st = _read(jsonl_path)
    if pygit2.hash(data) != entry.id:
        raise GitError(f"{rel} in the work tree is not the version being committed")
    prep = _prepare(repo, rel, entry.id, entry.filemode, st)
    if prep.conflicted:
        return CommitResult(branch=ref, waiting=f"{rel} has unmerged entries in the index")
    try:
        hold = _publish(repo, ref, tip, target, prep, reflog, lock_wait, guard)
    except indexfile.IndexBusy:
        return CommitResult(branch=ref, busy=True, waiting=_BUSY)
    except _UserGit as e:
        return CommitResult(branch=ref, busy=True, waiting=str(e))
    except _Moved:
        return CommitResult(branch=ref, waiting=f"{short(ref)} or the index changed meanwhile")
    return CommitResult(committed=True, commit=str(target), branch=ref, lock_hold=hold)


def _companions(repo: pygit2.Repository, jsonl_path: Path, base: pygit2.Commit | None
                ) -> list[tuple[str, pygit2.Oid, os.stat_result]]:
    """The files that go with the JSONL's first commit: each of ``COMPANIONS`` beside it that
    exists (a regular file, not a symlink) and that the base tree lacks. (rel, blob, stat)."""
    from ..errors import UnsafePathError
    out = []
    for name in COMPANIONS:
        path = jsonl_path.parent / name
        rel = rel_path(repo, path)
        if blob_at(repo, base, rel) is not None:
            continue
        try:
            data, st = _read(path)
        except (OSError, UnsafePathError):
            continue  # absent, or not a file bd reads (a link): not ours to commit
        out.append((rel, repo.create_blob(data), st))
    return out


def _read(path: Path) -> tuple[bytes, os.stat_result]:
    """A file of ``.beads/`` as bd reads it (a regular file of ours, never through a link: a
    clone may plant one pointing anywhere), with the stat of exactly what was read. Raises
    OSError and UnsafePathError."""
    from ..workspace import safefs
    fd = safefs.open_file(path)
    try:
        st = os.fstat(fd)
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks), st
    finally:
        os.close(fd)


def commit_jsonl(repo: pygit2.Repository, jsonl_path: Path, *, branch: str | None = None,
                 message: str | None = None, title: str = "bd", staged: str = "wait",
                 attempts: int = 5, lock_wait: float = 0.0, guard: Guard | None = None,
                 source: Path | None = None) -> CommitResult:
    """Commit the workspace JSONL as it is on disk now; see the module docstring.

    ``staged``: what to do when the user has the JSONL staged with content that is neither
    HEAD's nor ours: "wait" (the daemon: their staged version goes into *their* next commit
    first) or "replace" (``bd sync``, which the user asked for: ours supersedes it).
    ``lock_wait``: when the user's git holds ``index.lock`` at the moment we are ready, watch
    it for up to this many seconds and take it the moment it is released (the next git command
    of a busy user needs a few milliseconds to start; our hold is far shorter).
    ``guard`` (index mode): asked at the last moment whether the user's git is running.
    ``source``: commit this file's content (and stat data) as the JSONL (the daemon's new JSONL,
    before it replaces the work tree's copy: see ``jsonl.flush(before_replace=)``).
    Raises GitError only for configuration problems (path outside the work tree, bad branch),
    UnsafePathError when the JSONL is not a regular file of ours (a link, a FIFO).
    """
    rel = rel_path(repo, jsonl_path)
    ref, waiting = _target(repo, branch)
    if waiting is not None:
        return waiting
    assert ref is not None
    try:
        data, st = _read(source or jsonl_path)  # UnsafePathError for a link or a FIFO
    except FileNotFoundError:
        return CommitResult(branch=ref, up_to_date=True)
    blob = repo.create_blob(data)
    checked: pygit2.Oid | None = None  # the base blob the new lines were checked against
    author, committer = signature(repo, "AUTHOR"), signature(repo, "COMMITTER")
    for _ in range(attempts):
        tip, base, parents = _base(repo, ref, branch)
        if base is None and branch is None:  # pragma: no cover - _target reported it
            return CommitResult(branch=ref, waiting="the branch has no commit")
        old = blob_at(repo, base, rel)
        old_id = old.id if old is not None else None
        old_data = old.data if old is not None else None  # (each .data reads the object again)
        mode = base.tree[rel].filemode if old is not None else pygit2.GIT_FILEMODE_BLOB  # type: ignore[union-attr]
        if old is None and not data.strip():
            return CommitResult(branch=ref, up_to_date=True)  # no issues yet: nothing worth a commit
        if old_id == blob:
            if branch is not None and tip is None and base is not None and not _start_branch(repo, ref, base, title):
                continue
            return CommitResult(branch=ref, up_to_date=True)
        if checked is None or checked != old_id:
            bad = check_jsonl(data, rel, old_data)
            if bad:
                return CommitResult(branch=ref, waiting=f"{bad}; not committing it")
            checked = old_id
        result = CommitResult(branch=ref)
        extra = _companions(repo, jsonl_path, base) if old is None else []
        prep = None
        if branch is None:
            staged_in = _stage(repo, rel, blob, mode, st, extra, old_id, staged, result)
            if isinstance(staged_in, CommitResult):
                return staged_in
            prep, extra = staged_in
        tree_id = _tree(repo, base, rel, blob, mode, extra)
        changes = count_changes(old_data or b"", data)
        names = [r for r, _, _ in extra]
        msg = message if message else default_message(changes, title, names)
        commit = repo.create_commit(None, author, committer, msg, tree_id, parents)
        reflog = f"{title}: commit {rel}"
        if branch is None:
            assert prep is not None and tip is not None
            try:
                result.lock_hold = _publish(repo, ref, tip, commit, prep, reflog, lock_wait, guard)
            except indexfile.IndexBusy:
                return CommitResult(branch=ref, busy=True, waiting=_BUSY)
            except _UserGit as e:
                return CommitResult(branch=ref, busy=True, waiting=str(e))
            except _Moved:
                continue
        elif not _move_branch(repo, ref, tip, commit, reflog):
            continue
        result.committed = True
        result.commit = str(commit)
        result.changes = changes
        result.companions = names
        return result
    return CommitResult(branch=ref, busy=True, waiting=f"{short(ref)} or the index changed while we prepared "
                                                       "(your git is at work)")


def _target(repo: pygit2.Repository, branch: str | None) -> tuple[str | None, CommitResult | None]:
    """(the ref to commit to, None), or (None / the ref, a result saying why not now)."""
    why = in_progress(repo)
    if why:
        return None, CommitResult(waiting=why)
    if branch is None:
        ref, why = head_branch(repo)
        if ref is None:
            return None, CommitResult(waiting=why)
        other = checked_out_elsewhere(repo, ref)
        if other:
            return ref, CommitResult(branch=ref, waiting=f"branch {short(ref)} is also checked out in the "
                                                         f"worktree {other}; not committing to it")
        return ref, None
    ref = branch if branch.startswith("refs/") else f"refs/heads/{branch}"
    if not pygit2.reference_is_valid_name(ref):
        raise GitError(f"invalid sync branch name {branch!r}")
    where = checked_out_elsewhere(repo, ref, include_self=True)
    if where:
        return ref, CommitResult(branch=ref, waiting=f"sync branch {short(ref)} is checked out in the worktree "
                                                     f"{where}; bd never commits to a checked-out branch")
    return ref, None


def _base(repo: pygit2.Repository, ref: str, branch: str | None
          ) -> tuple[pygit2.Oid | None, pygit2.Commit | None, list[pygit2.Oid]]:
    """(the ref's tip, the commit to build on, the new commit's parents). A new sync branch
    starts at HEAD."""
    tip = ref_target(repo, ref)
    if tip is not None:
        return tip, as_commit(repo[tip]), [tip]
    if branch is not None and not repo.head_is_unborn:
        base = repo.head.peel(pygit2.Commit)
        return None, base, [base.id]
    return None, None, []


def _start_branch(repo: pygit2.Repository, ref: str, base: pygit2.Commit, title: str) -> bool:
    """Create a sync branch at ``base`` (already up to date). False when someone else did."""
    try:
        repo.create_reference(ref, base.id, force=False, message=f"{title}: create {short(ref)}")
    except (pygit2.GitError, pygit2.AlreadyExistsError, ValueError):
        return False
    return True


def _stage(repo: pygit2.Repository, rel: str, blob: pygit2.Oid, mode: int, st: os.stat_result,
           extra: list[tuple[str, pygit2.Oid, os.stat_result]], old_id: pygit2.Oid | None, staged: str,
           result: CommitResult) -> tuple[indexfile.Prepared, list[tuple[str, pygit2.Oid, os.stat_result]]] | CommitResult:
    """Index mode: the prepared index (the JSONL's entry and the companions' set) and the
    companions that go with it, or a result saying why not now. A companion the user staged
    with other content stays theirs: it is left out."""
    entries = [(r, b, pygit2.GIT_FILEMODE_BLOB, s) for r, b, s in extra]
    prep = _prepare(repo, rel, blob, mode, st, entries)
    if prep.conflicted:
        return CommitResult(branch=result.branch, waiting=f"{rel} has unmerged entries in the index")
    if prep.staged != old_id and prep.staged != blob:
        if staged == "wait":
            return CommitResult(branch=result.branch, waiting=(
                f"{rel} is staged with other content; waiting for your commit (or 'git restore --staged {rel}')"))
        result.replaced_staged = True
    keep = [e for e in extra if prep.others.get(e[0]) in (None, e[1])]
    if len(keep) != len(extra):
        prep = _prepare(repo, rel, blob, mode, st, [(r, b, pygit2.GIT_FILEMODE_BLOB, s) for r, b, s in keep])
    return prep, keep


def _tree(repo: pygit2.Repository, base: pygit2.Commit | None, rel: str, blob: pygit2.Oid, mode: int,
          extra: list[tuple[str, pygit2.Oid, os.stat_result]]) -> pygit2.Oid:
    """``base``'s tree with the JSONL (and the companions) replaced."""
    tree_id = replace_path(repo, base.tree if base is not None else None, rel.split("/"), blob, mode)
    for r, b, _ in extra:
        built = repo[tree_id]
        assert isinstance(built, pygit2.Tree)
        tree_id = replace_path(repo, built, r.split("/"), b, pygit2.GIT_FILEMODE_BLOB)
    return tree_id


def _move_branch(repo: pygit2.Repository, ref: str, tip: pygit2.Oid | None, commit: pygit2.Oid, reflog: str) -> bool:
    """Sync-branch mode: move (or create) ``ref`` to ``commit``; False when it moved meanwhile."""
    try:
        if tip is None:
            repo.create_reference(ref, commit, force=False, message=reflog)
        else:
            cur = repo.lookup_reference(ref)
            if cur.target != tip:
                return False
            cur.set_target(commit, reflog)
    except (pygit2.GitError, pygit2.AlreadyExistsError, ValueError):
        return False
    return True
