"""``bd sync``: export, commit, pull (merged per issue), import newer-wins, push.

Works the same with or without a daemon: the database and the JSONL are handled in this
process under the workspace lock ``.beads/bd.lock`` (the daemon's flushes and auto-commits
wait for it; its writes to SQLite go on). Network steps (fetch, push) run outside the lock.

Index mode (the default) merges the upstream into the checked-out branch with ``git merge``,
with our merge driver for the JSONL (``bd merge-driver``: per field, bdgit.replication), so the
JSONL never conflicts; other files merge as git merges them. Sync-branch mode (``sync.branch``)
never touches HEAD, the index or other files: the JSONL is committed to, merged on and pushed
from that branch, all in git objects.

Before merging, local issues whose sequential ID the upstream meanwhile used for another
issue (same ID, different ``created_at``; ours never pushed) are renumbered in the database
(next free number after both sides' highest), references included, and committed. In hash-ID
mode nothing is renumbered.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pygit2

from .. import jsonl
from ..errors import GitError
from ..replication import driver, filemerge
from .commit import commit_jsonl, count_changes
from .repo import (Upstream, as_commit, blob_at, changed_paths, default_remote, head_branch, in_progress,
                   open_repo, ref_target, rel_path, run_git, short, signature, text_at, upstream)
from ..store import Store
from ..store.rename import rename_ids
from ..workspace import Workspace
from ..workspace.files import atomic_write

DRIVER_NAME = driver.DRIVER_NAME
LOCK_TIMEOUT = 60.0


def install_merge_driver(repo: pygit2.Repository, path: Path) -> list[str]:
    """Register the JSONL merge driver in this clone (see replication.driver.install)."""
    top = Path(repo.workdir) if repo.workdir else Path(path).parent.parent
    return driver.install(top, Path(path), tracked=False)


class Sync:
    """One ``bd sync`` run. ``progress`` receives one line per step."""

    def __init__(self, ws: Workspace, *, message: str | None = None, dry_run: bool = False, pull: bool = True,
                 push: bool = True, actor: str = "bd-sync", progress: Callable[[str], None] = lambda s: None) -> None:
        self.ws = ws
        self.message = message
        self.dry_run = dry_run
        self.pull = pull
        self.push = push
        self.actor = actor
        self.progress = progress
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
        self.report: dict[str, Any] = {
            "mode": "sync-branch" if self.sync_branch else "index", "dry_run": dry_run, "commits": [],
            "renumbered": {}, "pulled": False, "pushed": False, "imported": None, "steps": []}

    def step(self, msg: str) -> None:
        self.report["steps"].append(msg)
        self.progress(msg)

    # --- shared pieces ------------------------------------------------------------------------

    def _lock(self) -> Any:
        from ..workspace.safefs import FileLock
        return FileLock(self.ws.lock_path, timeout=LOCK_TIMEOUT)

    def _absorb(self, store: Store) -> None:
        """Import the JSONL first if it changed under the database (a pull by hand, an edit)."""
        if jsonl.needs_import(store, self.path):
            res = jsonl.import_text(store, None, actor=self.actor,
                                    workspace=True, collisions="auto", path=self.path)
            self._note_import(res, "Imported local changes to")

    def _note_import(self, res: jsonl.ImportResult, verb: str) -> None:
        d = res.as_dict()
        prev = self.report["imported"] or {}
        self.report["imported"] = {k: prev.get(k, 0) + d[k] for k in
                                   ("created", "updated", "kept_absent", "kept_newer", "unchanged")}
        if res.renumbered:
            self.report["renumbered"].update(res.renumbered)
        kept = jsonl.kept_summary(len(res.kept_newer), len(res.kept_absent))
        self.step(f"{verb} {self.path.name}: {len(res.created)} created, {len(res.updated)} updated{kept}")

    def _commit(self, store: Store, message: str | None, branch: str | None) -> None:
        jsonl.flush(store, self.path)
        res = commit_jsonl(self.repo, self.path, branch=branch, message=message, title="bd sync",
                           staged="replace", lock_wait=2.0)
        if res.waiting:
            raise GitError(f"cannot commit {self.rel}: {res.waiting}", "try again in a moment")
        if res.committed and res.commit:
            self.report["commits"].append(res.commit)
            n = res.changes.get("changed", 0)
            note = " (replacing your staged version of the JSONL)" if res.replaced_staged else ""
            self.step(f"Committed {n} issue change(s) as {res.commit[:10]} on {short(res.branch or '')}{note}")

    def _renumber(self, store: Store, base_text: str, ours_text: str, theirs_text: str, branch: str | None) -> None:
        """Renumber our never-pushed issues whose IDs the upstream used for other issues."""
        if self.hash_mode:
            return
        base, ours, theirs = (filemerge.parse_side(t, s) for t, s in
                              ((base_text, "base"), (ours_text, "our"), (theirs_text, "their")))
        driver.forget_pushed()  # we just fetched
        pushed = driver.pushed_lookup(self.path)
        mine = sorted(i for i, side in filemerge.collisions(base, ours, theirs, pushed).items() if side == "ours")
        if not mine:
            return
        taken = (set(base.lines) | set(ours.lines) | set(theirs.lines)
                 | {r["id"] for r in store.conn.execute("SELECT id FROM issues")})
        from ..replication.ids import plan_renumber
        plan = plan_renumber(mine, taken)
        if self.dry_run:
            self.report["renumbered"].update(plan)
            self.step("Would renumber " + ", ".join(f"{a} -> {b}" for a, b in plan.items()))
            return
        with store.tx():
            rename_ids(store, plan, self.actor)
        self.report["renumbered"].update(plan)
        self.step("Renumbered " + ", ".join(f"{a} -> {b}" for a, b in plan.items())
                  + " (the upstream has other issues with those IDs)")
        self._commit(store, "bd sync: renumber " + ", ".join(f"{a} -> {b}" for a, b in plan.items())
                     + "\n\nThe upstream created other issues with these IDs first.\n", branch)

    def _merge_texts(self, base: str, ours: str, theirs: str) -> filemerge.MergeResult:
        """The merge driver's merge, in process (our collisions were renumbered already)."""
        return filemerge.merge_texts(base, ours, theirs, pushed=driver.pushed_lookup(self.path),
                                     renumber=not self.hash_mode)

    def _push(self, remote: str, src: str, dest: str) -> bool:
        """Push; True when pushed, False when rejected because the remote moved (pull again)."""
        self.step(f"Pushing {short(src)} to {remote}")
        proc = run_git(self.repo, "push", "--porcelain", remote, f"{src}:{dest}", check=False, bd_hooks=False)
        if proc.returncode == 0:
            self.report["pushed"] = True
            return True
        out = proc.stdout + proc.stderr
        if "[rejected]" in out or "fetch first" in out or "non-fast-forward" in out:
            return False
        from .auto import push_error
        raise GitError(f"git push failed: {push_error(proc.stdout, proc.stderr)}")

    def _export_preview(self, store: Store, base_commit: pygit2.Object | None) -> str:
        text = jsonl.render(jsonl.export_lines(store))
        old = blob_at(self.repo, base_commit, self.rel)
        ch = count_changes(old.data if old is not None else b"", text.encode())
        self.report["local_changes"] = ch
        self.step(f"Would commit {ch['changed']} issue change(s)" if ch["changed"] else "Nothing to commit")
        return text

    # --- run ------------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        if self.sync_branch:
            return self._run_sync_branch()
        return self._run_index()

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

    def _run_index(self) -> dict[str, Any]:
        ref, up = self._preflight()
        self.report.update(branch=short(ref), upstream=f"{up.remote}/{short(up.merge_ref)}" if up else None)
        if self.dry_run:
            return self._dry_run(ref, up.tracking_ref if up and self.pull else None, None)
        for c in install_merge_driver(self.repo, self.path):  # so that a 'git pull' by hand merges issues too
            self.step(f"Installed the JSONL merge driver ({c})")
        for attempt in range(3):
            if self.pull:
                assert up is not None
                self.step(f"Fetching from {up.remote}")
                run_git(self.repo, "fetch", up.remote)
            with self._lock():
                store = Store(self.ws.db_path)
                try:
                    self._absorb(store)
                    self._commit(store, self.message if attempt == 0 else None, None)
                    if self.pull:
                        assert up is not None
                        self._merge_index(store, up)
                finally:
                    store.close()
            if not self.push:
                break
            assert up is not None
            head = ref_target(self.repo, ref)
            theirs = ref_target(self.repo, up.tracking_ref)
            if head is None or head == theirs or (theirs is not None and self.repo.descendant_of(theirs, head)):
                self.step("Nothing to push")
                break
            if self._push(up.remote, ref, up.merge_ref):
                break
            if not self.pull or attempt == 2:
                raise GitError(f"the push to {up.remote} was rejected: the remote has new commits",
                               "run bd sync again (it pulls first)" if self.pull else "run bd sync without --no-pull")
            self.step("The remote moved meanwhile; pulling again")
        return self.report

    def _merge_index(self, store: Store, up: Upstream) -> None:
        repo = self.repo
        theirs = ref_target(repo, up.tracking_ref)
        head = repo.head.target
        if theirs is None:
            self.step(f"{up.remote}/{short(up.merge_ref)} does not exist yet: nothing to pull")
            return
        if theirs == head or repo.descendant_of(head, theirs):
            self.step("Already up to date with " + short(up.tracking_ref.replace("refs/remotes/", "")))
            return
        base_oid = repo.merge_base(head, theirs)
        base_c = repo[base_oid] if base_oid else None
        self._renumber(store, text_at(repo, base_c, self.rel), text_at(repo, repo[head], self.rel),
                       text_at(repo, repo[theirs], self.rel), None)
        name = up.tracking_ref.replace("refs/remotes/", "")
        if self._issues_only(base_c, repo[theirs]):
            self._merge_issues_only(store, up, name)
            return
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
        self._after_merge(store)

    def _after_merge(self, store: Store) -> None:
        self.report["pulled"] = True
        if jsonl.needs_import(store, self.path):
            res = jsonl.import_text(store, None, actor=self.actor,
                                    workspace=True, collisions="auto", path=self.path)
            self._note_import(res, "Imported")
        if store.dirty_count():
            self._commit(store, None, None)

    def _issues_only(self, base: pygit2.Object | None, theirs: pygit2.Object) -> bool:
        """Whether the upstream changed nothing but the JSONL since the merge base."""
        if base is None:
            return False
        return all(old == self.rel and new == self.rel for old, new in changed_paths(base, theirs))

    def _merge_issues_only(self, store: Store, up: Upstream, name: str) -> None:
        """Merge an upstream that changed only the JSONL without git merge: the merged JSONL
        goes into a commit built from HEAD's tree (a fast-forward when we have nothing of our
        own), and only the JSONL's index entry changes, so staged work stays staged."""
        from .commit import advance_branch, replace_path
        repo = self.repo
        head = repo.head.target
        theirs = ref_target(repo, up.tracking_ref)
        assert theirs is not None
        theirs_text = text_at(repo, repo[theirs], self.rel)
        if repo.descendant_of(theirs, head):
            target, merged = theirs, theirs_text
            self.step(f"Fast-forwarding to {name} (it changed only issues)")
        else:
            base_oid = repo.merge_base(head, theirs)
            res = self._merge_texts(text_at(repo, repo[base_oid] if base_oid else None, self.rel),
                                    text_at(repo, repo[head], self.rel), theirs_text)
            merged = res.text
            blob = repo.create_blob(merged.encode())
            head_c = repo[head]
            mode = head_c.tree[self.rel].filemode if blob_at(repo, head_c, self.rel) else pygit2.GIT_FILEMODE_BLOB
            tree = replace_path(repo, head_c.tree, self.rel.split("/"), blob, mode)
            target = repo.create_commit(None, signature(repo, "AUTHOR"), signature(repo, "COMMITTER"),
                                        f"bd sync: merge {name} (issues only)\n", tree, [head, theirs])
            self.report["commits"].append(str(target))
            self.step(f"Merging {name} (it changed only issues): {len(res.both_changed)} issue(s) edited on "
                      "both sides, merged per field")
        atomic_write(self.path, merged)
        res2 = advance_branch(repo, self.path, target, reflog=f"bd sync: merge {name}")
        if not res2.committed:
            raise GitError(f"cannot update {short(res2.branch or 'HEAD')}: {res2.waiting}", "run bd sync again")
        self._after_merge(store)

    def _dry_run(self, ref: str | None, tracking: str | None, branch: str | None) -> dict[str, Any]:
        repo = self.repo
        store = Store(self.ws.db_path)
        try:
            tip = ref_target(repo, ref) if ref else None
            tip_c = repo[tip] if tip is not None else None
            ours_text = self._export_preview(store, tip_c)
            theirs = ref_target(repo, tracking) if tracking else None
            if tracking and theirs is not None and tip is not None:
                ahead, behind = repo.ahead_behind(tip, theirs)
                self.report.update(ahead=ahead, behind=behind)
                self.step(f"Last fetched upstream: {behind} commit(s) to pull, {ahead} to push "
                          "(dry run: nothing fetched)")
                if behind:
                    base_oid = repo.merge_base(tip, theirs)
                    self._renumber(store, text_at(repo, repo[base_oid] if base_oid else None, self.rel),
                                   ours_text, text_at(repo, repo[theirs], self.rel), branch)
        finally:
            store.close()
        return self.report

    # --- sync-branch mode -------------------------------------------------------------------------

    def _run_sync_branch(self) -> dict[str, Any]:
        assert self.sync_branch is not None
        branch = self.sync_branch
        ref = f"refs/heads/{branch}"
        up = upstream(self.repo, ref)
        remote = self.sync_remote or (up.remote if up else None) or default_remote(self.repo)
        if remote is None and (self.pull or self.push):
            raise GitError("no remote for the sync branch", "set one: bd config set sync.remote origin")
        dest = up.merge_ref if up else ref
        tracking = f"refs/remotes/{remote}/{short(dest)}"
        self.report.update(branch=branch, upstream=f"{remote}/{short(dest)}" if remote else None)
        if self.dry_run:
            return self._dry_run(ref, tracking if self.pull else None, branch)
        for attempt in range(3):
            if self.pull:
                assert remote is not None
                self.step(f"Fetching {short(dest)} from {remote}")
                proc = run_git(self.repo, "fetch", remote, f"+{dest}:{tracking}", check=False)
                if proc.returncode != 0:
                    if "couldn't find remote ref" not in proc.stderr:
                        raise GitError(f"git fetch failed: {proc.stderr.strip()}")
                    self.step(f"{remote} has no {short(dest)} yet")
            with self._lock():
                store = Store(self.ws.db_path)
                try:
                    self._absorb(store)
                    self._commit(store, self.message if attempt == 0 else None, branch)
                    if self.pull:
                        self._merge_branch(store, ref, tracking)
                finally:
                    store.close()
            if not self.push:
                break
            assert remote is not None
            tip = ref_target(self.repo, ref)
            theirs = ref_target(self.repo, tracking)
            if tip is None or tip == theirs or (theirs is not None and self.repo.descendant_of(theirs, tip)):
                self.step("Nothing to push")
                break
            if self._push(remote, ref, dest):
                break
            if not self.pull or attempt == 2:
                raise GitError(f"the push of {branch} to {remote} was rejected: the remote has new commits",
                               "run bd sync again")
            self.step("The remote moved meanwhile; pulling again")
        return self.report

    def _merge_branch(self, store: Store, ref: str, tracking: str) -> None:
        repo = self.repo
        theirs = ref_target(repo, tracking)
        if theirs is None:
            return
        local = ref_target(repo, ref)
        if local is not None and (theirs == local or repo.descendant_of(local, theirs)):
            self.step(f"Already up to date with {tracking.replace('refs/remotes/', '')}")
            return
        if local is None or repo.descendant_of(theirs, local):
            self._set_ref(ref, local, theirs, "bd sync: fast-forward")
            merged = text_at(repo, repo[theirs], self.rel)
            self.step(f"Fast-forwarded {short(ref)} to {str(theirs)[:10]}")
        else:
            base_oid = repo.merge_base(local, theirs)
            base_text = text_at(repo, repo[base_oid] if base_oid else None, self.rel)
            self._renumber(store, base_text, text_at(repo, repo[local], self.rel),
                           text_at(repo, repo[theirs], self.rel), short(ref))
            local = ref_target(repo, ref)
            assert local is not None
            res = self._merge_texts(base_text, text_at(repo, repo[local], self.rel),
                                    text_at(repo, repo[theirs], self.rel))
            merged = res.text
            from .commit import replace_path
            blob = repo.create_blob(merged.encode())
            local_c = as_commit(repo[local])
            assert local_c is not None
            tree = replace_path(repo, local_c.tree, self.rel.split("/"), blob, pygit2.GIT_FILEMODE_BLOB)
            name = tracking.replace("refs/remotes/", "")
            oid = repo.create_commit(None, signature(repo, "AUTHOR"), signature(repo, "COMMITTER"),
                                     f"bd sync: merge {name} into {short(ref)}\n", tree, [local, theirs])
            self._set_ref(ref, local, oid, f"bd sync: merge {name}")
            self.report["commits"].append(str(oid))
            self.step(f"Merged {name} into {short(ref)} ({len(res.both_changed)} issue(s) edited on both sides, "
                      "merged per field)")
        self.report["pulled"] = True
        atomic_write(self.path, merged)
        res2 = jsonl.import_text(store, None, actor=self.actor, workspace=True, collisions="auto", path=self.path)
        self._note_import(res2, "Imported")
        if store.dirty_count():
            self._commit(store, None, short(ref))

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
            raise GitError(f"{short(ref)} moved while bd sync was merging", "run bd sync again") from None


def sync(ws: Workspace, **kw: Any) -> dict[str, Any]:
    """Run ``bd sync`` for ``ws``; see ``Sync``. Raises GitError (and other BdErrors)."""
    t0 = time.monotonic()
    try:
        report = Sync(ws, **kw).run()
    except pygit2.GitError as e:
        raise GitError(f"git: {e}") from None
    report["seconds"] = round(time.monotonic() - t0, 3)
    return report
