"""``bd sync``: export, commit, pull (merged per issue), import newer-wins, push; retried under
contention. The daemon's auto-push runs the same ``Sync`` (``daemon=True``).

Works the same with or without a daemon: the database and the JSONL are handled in this
process under the workspace lock ``.beads/bd.lock`` (the daemon's flushes and auto-commits
wait for it; its writes to SQLite go on). Network steps (fetch, push) run outside the lock.

Index mode (the default) merges the upstream into the checked-out branch. When the upstream
changed nothing but the JSONL since the merge base (other clones syncing issues: the usual
case), the merge is built in git objects only and **pushed before it is applied**: the
branch, the work tree's JSONL and the database move to it only once the remote took it. So a
push that loses a race (the remote moved, its ref lock was held) leaves nothing to undo: the
next attempt merges the new upstream from the same local state, and an issue renumbered
because its sequential ID was taken gets its final number in the attempt that lands, once.
When the upstream changed other files too, ``git merge`` runs in the work tree with our merge
driver for the JSONL (never in the daemon: it does not merge your files). Sync-branch mode
(``sync.branch``) never touches HEAD, the index or other files: the JSONL is committed to,
merged on and pushed from that branch, all in git objects, also pushed before applied.

Failures of fetch and push are classified (``remote.classify``): transient ones are retried
with fetching and merging again, after a jittered, growing wait, within ``remote.RetryPolicy``
(``sync.retry_timeout`` and friends); permanent ones raise at once (``remote.refusal``).
"""
from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pygit2

from .. import jsonl
from ..errors import GitError
from ..replication import driver, filemerge
from ..store import Store
from ..store.rename import rename_ids
from ..workspace import Workspace
from ..workspace.files import atomic_write
from . import env, remote
from .commit import Guard, advance_branch, commit_jsonl, count_changes, replace_path
from .repo import (Upstream, as_commit, blob_at, changed_paths, default_remote, head_branch, in_progress,
                   open_repo, ref_target, rel_path, run_git, short, signature, text_at, upstream)

DRIVER_NAME = driver.DRIVER_NAME
LOCK_TIMEOUT = 60.0
#: seconds one fetch or push may take before it counts as a network failure
NETWORK_TIMEOUT = 300.0
#: after the push that landed, rounds more to push what that sync's own import committed
FOLLOW_UPS = 2
#: printed when a sync renumbers: the mode in which that never happens
HASH_HINT = ("hash IDs are never renumbered: 'bd migrate-hash-ids' (run once every clone has synced) "
             "switches this repository to them")


def install_merge_driver(repo: pygit2.Repository, path: Path) -> list[str]:
    """Register the JSONL merge driver in this clone (see replication.driver.install)."""
    top = Path(repo.workdir) if repo.workdir else Path(path).parent.parent
    return driver.install(top, Path(path), tracked=False)


@dataclass
class Pending:
    """A merge built in git objects, to be pushed before it is applied: the branch moves from
    ``based_on`` to ``target`` and the work tree's JSONL becomes ``merged``."""

    target: pygit2.Oid
    based_on: pygit2.Oid | None
    merged: str
    name: str
    both_changed: int = 0
    renumbered: dict[str, str] = field(default_factory=dict)
    made: bool = False  # a merge commit of ours (not the upstream's tip)


@dataclass
class _Target:
    """Where one mode's sync rounds fetch from, merge into and push to (``Sync._rounds``).

    ``remote``/``dest``/``tracking``: the remote, its branch and our remote-tracking ref (None
    only when neither pulling nor pushing); ``fetch_spec``: the refspec to fetch (None: the
    upstream's own); ``branch``: the branch our commits go to (None: the checked-out one);
    ``merge``/``apply``: merge the fetched side, apply a merge at once; ``apply_pushed``: apply
    a merge that has been pushed (False: this clone takes it in the next round); ``rejected``:
    what to say when a push without pulling meets new remote commits."""

    remote: str | None
    dest: str | None
    tracking: str | None
    fetch_spec: str | None
    branch: str | None
    merge: Callable[[Store], Pending | None]
    apply: Callable[[Store, Pending], None]
    apply_pushed: Callable[[Store, Pending], bool]
    rejected: str


class _LocalBusy(Exception):
    """This clone cannot take the merge now (the user's git is busy, the branch moved)."""


class Sync:
    """One ``bd sync`` run. ``progress`` receives one line per step.

    ``retry_timeout`` overrides ``sync.retry_timeout`` for this run. ``daemon``: run for the
    daemon's auto-push: commit nothing of the database's (the daemon's own commits do that),
    never run ``git merge`` in the work tree, ask ``guard`` (the busy watcher) before moving the
    user's branch, stop retrying when ``stopping()`` says so, and take ``hold()`` (the daemon's
    writes held) around each local step, so that no issue is created between the merge's look at
    the database and the import of what it merged."""

    def __init__(self, ws: Workspace, *, message: str | None = None, dry_run: bool = False, pull: bool = True,
                 push: bool = True, actor: str = "bd-sync", progress: Callable[[str], None] = lambda s: None,
                 retry_timeout: float | None = None, daemon: bool = False, guard: Guard | None = None,
                 stopping: Callable[[], bool] = lambda: False,
                 hold: Callable[[], AbstractContextManager[Any]] = nullcontext) -> None:
        self.ws = ws
        self.hold = hold
        self.message = message
        self.dry_run = dry_run
        self.pull = pull
        self.push = push
        self.actor = actor
        self.progress = progress
        self.daemon = daemon
        self.guard = guard
        repo = open_repo(ws.root)
        if repo is None:
            raise GitError(f"{ws.root} is not in a git repository", "bd sync needs git: 'git init', add a remote")
        self.repo: pygit2.Repository = repo
        self.path = ws.jsonl_path
        self.rel = rel_path(repo, self.path)
        store = Store(ws.db_path)
        try:
            conf = store.all_config()
        finally:
            store.close()
        self.sync_branch = (conf.get("sync.branch") or "").strip() or None
        from ..workspace.config import id_mode
        self.hash_mode = id_mode(ws.beads_dir) == "hash"
        self.sync_remote = (conf.get("sync.remote") or "").strip() or None
        self.policy = remote.RetryPolicy.from_config(conf, retry_timeout)
        self.retries = remote.Retries(self.policy, stopping=stopping)
        self.report: dict[str, Any] = {
            "ok": False, "mode": "sync-branch" if self.sync_branch else "index", "dry_run": dry_run,
            "branch": None, "upstream": None, "pushed": False, "pulled": False, "commits": [],
            "exported": {"created": [], "updated": [], "deleted": []},
            "created": [], "updated": [], "deleted": [], "renumbered": {},
            "retries": self.retries.summary(), "attempts": 0, "imported": None, "steps": []}

    def step(self, msg: str) -> None:
        self.report["steps"].append(msg)
        self.progress(msg)

    def partial(self) -> dict[str, Any]:
        """The report so far (a failure carries it in its details)."""
        rep = {k: v for k, v in self.report.items() if k != "steps"}
        rep["retries"] = self.retries.summary()
        rep["seconds"] = round(self.retries.elapsed(), 3)
        return rep

    # --- shared pieces ------------------------------------------------------------------------

    @contextmanager
    def _lock(self) -> Iterator[None]:
        """The local steps' locks: the daemon's writes held (first, as its maintenance thread
        takes them), then ``.beads/bd.lock``."""
        from ..workspace.safefs import FileLock
        with self.hold(), FileLock(self.ws.lock_path, timeout=LOCK_TIMEOUT):
            yield

    def _absorb(self, store: Store) -> None:
        """Import the JSONL first if it changed under the database (a pull by hand, an edit,
        a direct-mode write while we were pushing)."""
        if jsonl.needs_import(store, self.path):
            res = jsonl.import_text(store, None, actor=self.actor,
                                    workspace=True, collisions="auto", path=self.path)
            self._note_import(store, res, "Imported local changes to", pulled=False)

    def _note_import(self, store: Store, res: jsonl.ImportResult, verb: str, *, pulled: bool = True) -> None:
        d = res.as_dict()
        prev = self.report["imported"] or {}
        self.report["imported"] = {k: prev.get(k, 0) + d[k] for k in
                                   ("created", "updated", "kept_absent", "kept_newer", "unchanged")}
        if res.renumbered:
            self._renumbered(res.renumbered)
        if pulled and (res.created or res.updated):
            from ..store.db import TOMBSTONE
            ids = res.created + res.updated
            dead = {r["id"] for k in range(0, len(ids), 500) for r in store.conn.execute(
                f"SELECT id FROM issues WHERE status=? AND id IN ({','.join('?' * len(ids[k:k + 500]))})",
                [TOMBSTONE, *ids[k:k + 500]])}
            for key, found in (("created", res.created), ("updated", res.updated)):
                self.report[key] = sorted(set(self.report[key]) | {i for i in found if i not in dead})
            self.report["deleted"] = sorted(set(self.report["deleted"]) | dead)
        kept = jsonl.kept_summary(len(res.kept_newer), len(res.kept_absent))
        self.step(f"{verb} {self.path.name}: {len(res.created)} created, {len(res.updated)} updated{kept}")

    def _renumbered(self, mapping: dict[str, str]) -> None:
        """Record renumberings old -> new (a chain a -> b -> c is reported as a -> c)."""
        out = self.report["renumbered"]
        for old, new in mapping.items():
            first = next((k for k, v in out.items() if v == old), old)
            out[first] = new

    def _commit(self, store: Store, message: str | None, branch: str | None) -> None:
        jsonl.flush(store, self.path)
        res = commit_jsonl(self.repo, self.path, branch=branch, message=message, title="bd sync",
                           staged="replace", lock_wait=2.0)
        if res.waiting:
            raise GitError(f"cannot commit {self.rel}: {res.waiting}", "try again in a moment")
        if res.committed and res.commit:
            self.report["commits"].append(res.commit)
            for k in ("created", "updated", "deleted"):
                self.report["exported"][k] = sorted(set(self.report["exported"][k]) | set(res.changes.get(k, [])))
            n = res.changes.get("changed", 0)
            note = " (replacing your staged version of the JSONL)" if res.replaced_staged else ""
            self.step(f"Committed {n} issue change(s) as {res.commit[:10]} on {short(res.branch or '')}{note}")

    def _taken(self, store: Store) -> Callable[[], set[str]]:
        """The IDs a renumbered issue must not get besides the three sides': this database's
        and every remote-tracking ref's (read only when something is renumbered)."""
        def taken() -> set[str]:
            return {r["id"] for r in store.conn.execute("SELECT id FROM issues")} | \
                driver.remote_issues(self.path).ids()
        return taken

    def _renumber(self, store: Store, base_text: str, ours_text: str, theirs_text: str, branch: str | None) -> None:
        """Renumber our never-pushed issues whose IDs the upstream used for other issues, in the
        database, before a ``git merge`` in the work tree (and for a dry run's preview)."""
        if self.hash_mode:
            return
        base, ours, theirs = (filemerge.parse_side(t, s) for t, s in
                              ((base_text, "base"), (ours_text, "our"), (theirs_text, "their")))
        pushed = driver.pushed_lookup(self.path)
        mine = sorted(i for i, side in filemerge.collisions(base, ours, theirs, pushed).items() if side == "ours")
        if not mine:
            return
        taken = set(base.lines) | set(ours.lines) | set(theirs.lines) | self._taken(store)()
        from ..replication.ids import plan_renumber
        plan = plan_renumber(mine, taken)
        if self.dry_run:
            self._renumbered(plan)
            self.step("Would renumber " + ", ".join(f"{a} -> {b}" for a, b in plan.items()))
            return
        with store.tx():
            rename_ids(store, plan, self.actor)
        self._renumbered(plan)
        self.step("Renumbered " + ", ".join(f"{a} -> {b}" for a, b in plan.items())
                  + " (the upstream has other issues with those IDs)")
        self._commit(store, "bd sync: renumber " + ", ".join(f"{a} -> {b}" for a, b in plan.items())
                     + "\n\nThe upstream created other issues with these IDs first.\n", branch)

    def _merge_texts(self, store: Store, base: str, ours: str, theirs: str) -> filemerge.MergeResult:
        """The merge driver's merge, in process, renumbering our colliding issues in the text."""
        return filemerge.merge_texts(base, ours, theirs, pushed=driver.pushed_lookup(self.path),
                                     renumber=not self.hash_mode, taken=self._taken(store))

    def _ours(self, store: Store, committed: str) -> str:
        """Our side of a merge: what is committed, or for the daemon (which commits on its own
        schedule) the database's export, so that issues not committed yet are merged, and
        renumbered if need be, before they are pushed, rather than moved aside by the import."""
        return jsonl.render(jsonl.export_lines(store)) if self.daemon else committed

    def _build(self, store: Store, name: str, base: str, ours: str, theirs: str, *, on: pygit2.Oid,
               parents: list[pygit2.Oid], based_on: pygit2.Oid | None, into: str | None = None) -> Pending:
        """The merge of the three JSONL texts as a commit built from ``on``'s tree (in objects
        only: nothing moves), to be pushed before it is applied."""
        repo = self.repo
        res = self._merge_texts(store, base, ours, theirs)
        on_c = as_commit(repo[on])
        assert on_c is not None
        blob = repo.create_blob(res.text.encode())
        mode = on_c.tree[self.rel].filemode if blob_at(repo, on_c, self.rel) else pygit2.GIT_FILEMODE_BLOB
        tree = replace_path(repo, on_c.tree, self.rel.split("/"), blob, mode)
        if len(parents) == 1:  # our uncommitted issue changes on top of the upstream
            from .commit import default_message
            msg = default_message(count_changes(theirs.encode(), res.text.encode()), "bd")
        else:
            msg = self._merge_message(name, res, into)
        target = repo.create_commit(None, signature(repo, "AUTHOR"), signature(repo, "COMMITTER"), msg, tree, parents)
        mapping = {**res.renumbered_ours, **res.renumbered_theirs}
        self._reserve(store, list(filemerge.parse_side(theirs, "their").lines) + list(mapping.values()))
        where = f" into {into}" if into else " (it changed only issues)"
        self.step(f"Merged {name}{where}: {len(res.both_changed)} issue(s) edited on both sides, merged per field"
                  + (f"; renumbering {_pairs(mapping)}" if mapping else ""))
        return Pending(target, based_on, res.text, name, len(res.both_changed), mapping, made=True)

    def _reserve(self, store: Store, ids: list[str]) -> None:
        """Raise the ID counter past every number the pending merge uses (the upstream's and
        the renumbered issues'), so that an issue created here while it is pushed cannot take
        one of them: the merge's import then meets no issue it would have to move aside."""
        if ids:
            with store.tx():
                for i in ids:
                    store.note_id(i)

    # --- the network ------------------------------------------------------------------------------

    def _net(self, op: str, args: list[str]) -> remote.Failure | None:
        """Run ``git fetch`` / ``git push`` (bd's hook parts skipped: we do their work) and
        classify a failure; a git that takes too long counts as a network failure."""
        try:
            proc = env.git([op, *args], self.repo.workdir, keep_repo=False, skip_bd_hooks=True,
                           timeout=NETWORK_TIMEOUT)
        except subprocess.TimeoutExpired:
            return remote.Failure(op, remote.NETWORK, f"git {op} did not finish within {NETWORK_TIMEOUT:g}s", -1)
        except FileNotFoundError:
            raise GitError("git is not installed (or not on PATH)") from None
        return remote.classify(op, proc.returncode, proc.stdout, proc.stderr)

    def _fetch(self, name: str, refspec: str | None, branch: str) -> remote.Failure | None:
        """Fetch; a permanent failure raises, a transient one is returned (None: fetched)."""
        self.step(f"Fetching {short(refspec.split(':')[0].lstrip('+')) + ' from ' if refspec else 'from '}{name}")
        f = self._net("fetch", [name] + ([refspec] if refspec else []))
        driver.forget_pushed()  # the remote-tracking refs moved
        if f is None or f.transient:
            return f
        if f.kind == remote.NO_BRANCH and refspec:
            self.step(f"{name} has no {short(branch)} yet")
            return None
        raise remote.refusal(f, name, short(branch))

    def _push(self, name: str, src: str, dest: str) -> remote.Failure | None:
        """Push ``src`` (a ref or a commit id); None when it landed, else why not. Permanent
        failures raise."""
        shown = short(src) if src.startswith("refs/") else src[:10]
        self.step(f"Pushing {shown} to {name}")
        f = self._net("push", ["--porcelain", name, f"{src}:{dest}"])
        if f is None:
            self.report["pushed"] = True
            return None
        if f.transient:
            return f
        raise remote.refusal(f, name, short(dest))

    def _retry(self, f: remote.Failure, name: str, branch: str) -> None:
        delay = self.retries.wait(f, name, short(branch), self.partial)
        self.report["retries"] = self.retries.summary()
        what = {remote.MOVED: "the remote moved meanwhile", remote.REF_LOCKED: "another push held the remote's ref",
                remote.NETWORK: "the network failed", remote.LOCAL_LOCK: "this clone was busy"}.get(f.kind, f.kind)
        self.step(f"{what} ({f.reason}); trying again after {delay * 1000:.0f} ms")

    # --- run ------------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        rep = self._run_sync_branch() if self.sync_branch else self._run_index()
        rep["retries"] = self.retries.summary()
        rep["ok"] = True
        if rep["renumbered"] and not self.hash_mode:
            rep["hint"] = HASH_HINT
        return rep

    def _preflight(self) -> tuple[str, Upstream | None]:
        why = in_progress(self.repo)
        if why:
            raise GitError(f"{why}; bd sync will not run in the middle of it",
                           "finish it (git merge --continue, git rebase --continue) or abort it, then retry")
        idx = self.repo.index
        if idx.conflicts is not None:
            paths = sorted({e.path for c in idx.conflicts for e in c if e is not None})
            if paths:
                raise GitError(f"unmerged paths: {', '.join(paths)}",
                               "resolve them and commit (or abort the merge), then run bd sync again")
        ref, why = head_branch(self.repo)
        if ref is None:
            raise GitError(f"cannot sync: {why}", "check out a branch first")
        up = upstream(self.repo, ref)
        if up is None and (self.pull or self.push):
            raise GitError(f"branch {short(ref)} has no upstream",
                           f"set one (git push -u <remote> {short(ref)}) or use --no-pull --no-push")
        return ref, up

    def _ahead(self, tip: pygit2.Oid | None, theirs: pygit2.Oid | None) -> bool:
        """Whether ``tip`` has commits ``theirs`` lacks."""
        return tip is not None and tip != theirs and not (theirs is not None and self.repo.descendant_of(theirs, tip))

    def _run_index(self) -> dict[str, Any]:
        ref, up = self._preflight()
        self.report.update(branch=short(ref), upstream=f"{up.remote}/{short(up.merge_ref)}" if up else None)
        if self.dry_run:
            return self._dry_run(ref, up.tracking_ref if up and self.pull else None, None)
        for c in install_merge_driver(self.repo, self.path):  # so that a 'git pull' by hand merges issues too
            self.step(f"Installed the JSONL merge driver ({c})")
        return self._rounds(ref, _Target(
            remote=up.remote if up else None, dest=up.merge_ref if up else None,
            tracking=up.tracking_ref if up else None, fetch_spec=None, branch=None,
            merge=lambda store: self._merge_index(store, up) if up is not None else None,
            apply=self._apply_index, apply_pushed=self._try_apply,
            rejected=f"the push to {up.remote if up else None} was rejected: the remote has new commits"))

    def _rounds(self, ref: str, t: _Target) -> dict[str, Any]:
        """Fetch, merge, push and apply until the push lands (or nothing is left to push), retrying
        transient failures within the policy: the one loop of both modes (``t`` says where)."""
        follow_ups = 0
        while True:
            self.report["attempts"] += 1
            if self.pull:
                assert t.remote is not None and t.dest is not None
                f = self._fetch(t.remote, t.fetch_spec, t.dest)
                if f is not None:
                    self._retry(f, t.remote, t.dest)
                    continue
            pending: Pending | None = None
            try:
                with self._lock():
                    store = Store(self.ws.db_path)
                    try:
                        if not self.daemon:
                            self._absorb(store)
                            self._commit(store, self.message if self.report["attempts"] == 1 else None, t.branch)
                        if self.pull:
                            pending = t.merge(store)
                        if pending is not None and not self.push:
                            t.apply(store, pending)
                            pending = None
                    finally:
                        store.close()
            except _LocalBusy as e:
                self._retry(remote.Failure("merge", remote.LOCAL_LOCK, str(e), 0), "this clone", ref)
                continue
            if not self.push:
                break
            assert t.remote is not None and t.dest is not None and t.tracking is not None
            tip = pending.target if pending is not None else ref_target(self.repo, ref)
            if not self._ahead(tip, ref_target(self.repo, t.tracking)):
                self.step("Nothing to push")
                break
            assert tip is not None
            f = self._push(t.remote, str(tip) if pending is not None else ref, t.dest)
            if f is not None:
                if not self.pull and f.kind == remote.MOVED:
                    raise GitError(t.rejected, "run bd sync without --no-pull")
                self._retry(f, t.remote, t.dest)
                continue
            if pending is not None:
                self._renumbered(pending.renumbered)  # on the remote now, whatever happens here
                with self._lock():
                    store = Store(self.ws.db_path)
                    try:
                        applied = t.apply_pushed(store, pending)
                    finally:
                        store.close()
                if not applied:  # the next round merges what we pushed (nothing is renumbered again)
                    follow_ups += 1
                    if follow_ups <= FOLLOW_UPS:
                        continue
            local = ref_target(self.repo, ref)
            if self._ahead(local, tip) and follow_ups < FOLLOW_UPS:
                follow_ups += 1
                self.step("Pushing what the merge committed")
                continue
            if self._ahead(local, tip):
                self.step("Changes committed during the sync stay for the next bd sync to push")
            break
        return self.report

    def _try_apply(self, store: Store, p: Pending) -> bool:
        try:
            self._apply_index(store, p)
            return True
        except _LocalBusy as e:
            self.step(f"Pushed; this clone takes the merge in the next round ({e})")
            return False

    def _merge_index(self, store: Store, up: Upstream) -> Pending | None:
        """Merge the upstream into the branch: applied at once when there is nothing of ours to
        push with it (up to date, fast-forward, a ``git merge`` of code), else built in objects
        and returned to be pushed first."""
        repo = self.repo
        theirs = ref_target(repo, up.tracking_ref)
        head = repo.head.target
        assert isinstance(head, pygit2.Oid)
        name = up.tracking_ref.replace("refs/remotes/", "")
        if theirs is None:
            self.step(f"{up.remote}/{short(up.merge_ref)} does not exist yet: nothing to pull")
            return None
        if theirs == head or repo.descendant_of(head, theirs):
            self.step(f"Already up to date with {name}")
            return None
        base_oid = repo.merge_base(head, theirs)
        base_c = repo[base_oid] if base_oid else None
        if self._issues_only(base_c, repo[theirs]):
            theirs_text = text_at(repo, repo[theirs], self.rel)
            head_text = text_at(repo, repo[head], self.rel)
            ours_text = self._ours(store, head_text)
            if repo.descendant_of(theirs, head):
                if ours_text == head_text:
                    self.step(f"Fast-forwarding to {name} (it changed only issues)")
                    self._apply_index(store, Pending(theirs, head, theirs_text, name))
                    return None
                return self._build(store, name, head_text, ours_text, theirs_text, on=theirs, parents=[theirs],
                                   based_on=head)
            return self._build(store, name, text_at(repo, base_c, self.rel), ours_text, theirs_text, on=head,
                               parents=[head, theirs], based_on=head)
        if self.daemon:
            raise GitError(f"{name} changed files besides the issues; the daemon does not merge your files",
                           "run bd sync (it merges them with git merge)")
        self._renumber(store, text_at(repo, base_c, self.rel), text_at(repo, repo[head], self.rel),
                       text_at(repo, repo[theirs], self.rel), None)
        self.step(f"Merging {name}")
        proc = run_git(repo, "merge", "--no-edit", up.tracking_ref, check=False, bd_hooks=False,
                       config={f"merge.{DRIVER_NAME}.driver": driver.driver_command(),
                               f"merge.{DRIVER_NAME}.name": "bd JSONL merge"})
        if proc.returncode != 0:
            if in_progress(repo):
                un = run_git(repo, "diff", "--name-only", "--diff-filter=U", check=False).stdout.split()
                raise GitError(f"the merge of {name} stopped on conflicts in: {', '.join(un) or '?'}",
                               "resolve them and 'git commit' (or 'git merge --abort'), then run bd sync again")
            raise GitError(f"git merge {name} refused: {(proc.stderr.strip() or proc.stdout.strip())}",
                           "commit or stash your changes, then run bd sync again (bd sync merges the "
                           "issues by itself only when the upstream changed nothing else)")
        self._after_merge(store, None)
        return None

    @staticmethod
    def _merge_message(name: str, res: filemerge.MergeResult, into: str | None = None) -> str:
        msg = f"bd sync: merge {name}" + (f" into {into}" if into else " (issues only)") + "\n"
        mapping = {**res.renumbered_ours, **res.renumbered_theirs}
        if mapping:
            msg += f"\nRenumbered (the IDs were taken for other issues): {_pairs(mapping)}\n"
        return msg

    def _apply_index(self, store: Store, p: Pending) -> None:
        """Move the checked-out branch to a merge of issues only (pushed already, or needing no
        push), with the JSONL. Raises _LocalBusy when the branch moved since the merge was built
        or the user's git is busy (nothing changed then)."""
        self._absorb(store)
        ref, why = head_branch(self.repo)
        if ref is None or ref_target(self.repo, ref) != p.based_on:
            raise _LocalBusy(why or f"{short(ref or 'HEAD')} moved meanwhile")
        try:
            old: bytes | None = self.path.read_bytes()
        except FileNotFoundError:
            old = None
        atomic_write(self.path, p.merged)
        res = advance_branch(self.repo, self.path, p.target, reflog=f"bd sync: merge {p.name}", guard=self.guard)
        if not res.committed:
            if old is None:
                self.path.unlink()
            else:
                atomic_write(self.path, old)  # the JSONL changes only with the branch
            raise _LocalBusy(res.waiting or "the branch could not move")
        if p.made:
            self.report["commits"].append(str(p.target))
        self._renumbered(p.renumbered)
        self._after_merge(store, None)

    def _after_merge(self, store: Store, branch: str | None) -> None:
        self.report["pulled"] = True
        if jsonl.needs_import(store, self.path):
            res = jsonl.import_text(store, None, actor=self.actor,
                                    workspace=True, collisions="auto", path=self.path)
            self._note_import(store, res, "Imported")
        if store.dirty_count() and not self.daemon:
            self._commit(store, None, branch)

    def _issues_only(self, base: pygit2.Object | None, theirs: pygit2.Object) -> bool:
        """Whether the upstream changed nothing but the JSONL since the merge base."""
        if base is None:
            return False
        return all(old == self.rel and new == self.rel for old, new in changed_paths(base, theirs))

    def _dry_run(self, ref: str | None, tracking: str | None, branch: str | None) -> dict[str, Any]:
        repo = self.repo
        store = Store(self.ws.db_path)
        try:
            tip = ref_target(repo, ref) if ref else None
            tip_c = repo[tip] if tip is not None else None
            text = jsonl.render(jsonl.export_lines(store))
            old = blob_at(self.repo, tip_c, self.rel)
            ch = count_changes(old.data if old is not None else b"", text.encode())
            self.report["local_changes"] = ch
            self.step(f"Would commit {ch['changed']} issue change(s)" if ch["changed"] else "Nothing to commit")
            theirs = ref_target(repo, tracking) if tracking else None
            if tracking and theirs is not None and tip is not None:
                ahead, behind = repo.ahead_behind(tip, theirs)
                self.report.update(ahead=ahead, behind=behind)
                self.step(f"Last fetched upstream: {behind} commit(s) to pull, {ahead} to push "
                          "(dry run: nothing fetched)")
                if behind:
                    base_oid = repo.merge_base(tip, theirs)
                    self._renumber(store, text_at(repo, repo[base_oid] if base_oid else None, self.rel),
                                   text, text_at(repo, repo[theirs], self.rel), branch)
        finally:
            store.close()
        return self.report

    # --- sync-branch mode -------------------------------------------------------------------------

    def _run_sync_branch(self) -> dict[str, Any]:
        assert self.sync_branch is not None
        branch = self.sync_branch
        ref = f"refs/heads/{branch}"
        up = upstream(self.repo, ref)
        name = self.sync_remote or (up.remote if up else None) or default_remote(self.repo)
        if name is None and (self.pull or self.push):
            raise GitError("no remote for the sync branch", "set one: bd config set sync.remote origin")
        dest = up.merge_ref if up else ref
        tracking = f"refs/remotes/{name}/{short(dest)}"
        self.report.update(branch=branch, upstream=f"{name}/{short(dest)}" if name else None)
        if self.dry_run:
            return self._dry_run(ref, tracking if self.pull else None, branch)
        def apply_pushed(store: Store, p: Pending) -> bool:
            try:
                self._apply_branch(store, ref, p)
                return True
            except _LocalBusy as e:
                self.step(f"Pushed; {branch} takes the merge in the next round ({e})")
                return False
        return self._rounds(ref, _Target(
            remote=name, dest=dest, tracking=tracking, fetch_spec=f"+{dest}:{tracking}", branch=branch,
            merge=lambda store: self._merge_branch(store, ref, tracking),
            apply=lambda store, p: self._apply_branch(store, ref, p), apply_pushed=apply_pushed,
            rejected=f"the push of {branch} to {name} was rejected: the remote has new commits"))

    def _merge_branch(self, store: Store, ref: str, tracking: str) -> Pending | None:
        repo = self.repo
        theirs = ref_target(repo, tracking)
        if theirs is None:
            return None
        local = ref_target(repo, ref)
        name = tracking.replace("refs/remotes/", "")
        if local is not None and (theirs == local or repo.descendant_of(local, theirs)):
            self.step(f"Already up to date with {name}")
            return None
        theirs_text = text_at(repo, repo[theirs], self.rel)
        local_text = text_at(repo, repo[local], self.rel) if local is not None else ""
        ours_text = self._ours(store, local_text)
        if local is None or repo.descendant_of(theirs, local):
            if ours_text == local_text or local is None:
                self.step(f"Fast-forwarding {short(ref)} to {str(theirs)[:10]}")
                self._apply_branch(store, ref, Pending(theirs, local, theirs_text, name))
                return None
            return self._build(store, name, local_text, ours_text, theirs_text, on=theirs, parents=[theirs],
                               based_on=local, into=short(ref))
        base_oid = repo.merge_base(local, theirs)
        return self._build(store, name, text_at(repo, repo[base_oid] if base_oid else None, self.rel), ours_text,
                           theirs_text, on=local, parents=[local, theirs], based_on=local, into=short(ref))

    def _apply_branch(self, store: Store, ref: str, p: Pending) -> None:
        """Move the sync branch to ``p.target`` (compare-and-swap), then the JSONL and the
        database. Raises _LocalBusy when the branch moved since the merge was built."""
        self._absorb(store)
        self._set_ref(ref, p.based_on, p.target, f"bd sync: merge {p.name}")
        if p.made:
            self.report["commits"].append(str(p.target))
        self._renumbered(p.renumbered)
        atomic_write(self.path, p.merged)
        self._after_merge(store, short(ref))

    def _set_ref(self, ref: str, old: pygit2.Oid | None, new: pygit2.Oid, msg: str) -> None:
        try:
            if old is None:
                self.repo.create_reference(ref, new, force=False, message=msg)
            else:
                cur = self.repo.lookup_reference(ref)
                if cur.target != old:
                    raise pygit2.GitError("moved")
                cur.set_target(new, msg)
        except (pygit2.GitError, pygit2.AlreadyExistsError, ValueError):
            raise _LocalBusy(f"{short(ref)} moved meanwhile") from None


def _pairs(mapping: dict[str, str]) -> str:
    return ", ".join(f"{a} -> {b}" for a, b in mapping.items())


def sync(ws: Workspace, **kw: Any) -> dict[str, Any]:
    """Run ``bd sync`` for ``ws``; see ``Sync``. Raises GitError (GitContention when transient
    failures outlasted the retry policy, GitRefused/GitAuthError for a permanent refusal) and
    other BdErrors."""
    t0 = time.monotonic()
    try:
        report = Sync(ws, **kw).run()
    except pygit2.GitError as e:
        raise GitError(f"git: {e}") from None
    report["seconds"] = round(time.monotonic() - t0, 3)
    return report
