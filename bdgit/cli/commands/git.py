"""Git commands: sync, the merge driver, hooks, doctor (and bd init's hook step)."""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

from ...errors import BdError, UsageError
from .. import render as r
from ..decl import Arg, Opt, command
from ..runtime import Globals, emit


def _rel(p: str | Path, top: Path) -> str:
    try:
        rel = os.path.relpath(p, top)
    except ValueError:
        return str(p)
    return str(p) if rel.startswith("..") else rel


_KINDS = {"pre-commit": "pre-commit framework", "husky": "husky", "lefthook": "lefthook", "script": "script",
          "binary": "program", "empty": "empty file", "bd": "bd"}


def _print_install(res: dict[str, Any], top: Path) -> None:
    where = _rel(res["hooks_dir"], top)
    done = res["installed"] + res["updated"]
    if done:
        r.out(f"{r.green('✓')} bd git hooks installed in {where}: {', '.join(done)}")
    if res["unchanged"]:
        r.out(f"{r.green('✓')} already installed in {where}: {', '.join(res['unchanged'])}")
    for name, kind in res["chained"].items():
        r.out(f"  {name}: your {_KINDS.get(kind, kind)} hook runs first (kept as {name}.bd-chained)")
    for name, why in res["skipped"].items():
        r.out(f"  {r.yellow('!')} {name} skipped: {why}")
    for name, why in res["errors"].items():
        r.err(f"{r.red('✗')} {name}: {why}")
    for w in res["warnings"]:
        r.out(f"  {r.yellow('!')} {w}")


@command("sync", examples=["bd sync", "bd sync --dry-run", 'bd sync -m "triage" --no-push',
                           "bd sync --json --retry-timeout 300   # a CI job among many clones"])


def sync(g: Globals,
         message: Annotated[str | None, Opt("-m", "--message", help="Message of the export commit "
                                                                  "(default: bd sync: N issues changed).")] = None,
         dry_run: Annotated[bool, Opt("--dry-run", help="Show what would happen; change and fetch nothing.")] = False,
         no_push: Annotated[bool, Opt("--no-push", help="Do not push.")] = False,
         no_pull: Annotated[bool, Opt("--no-pull", help="Do not fetch or merge the upstream.")] = False,
         status: Annotated[bool, Opt("--status", help="Show what a sync would do (a dry run that fetches "
                                                      "nothing).")] = False,
         retry_timeout: Annotated[float | None, Opt("--retry-timeout", help="Seconds to keep retrying transient "
                                                                           "push and fetch failures (default: "
                                                                           "sync.retry_timeout, 120; 0: never "
                                                                           "retry).")] = None) -> int:
    """Sync issues through git: export, commit, pull (merged per issue), import, push."""
    if status:
        dry_run, no_pull, no_push = True, True, True
    if retry_timeout is not None and retry_timeout < 0:
        raise UsageError(f"--retry-timeout must be 0 or more seconds, not {retry_timeout:g}")
    if g.sandbox and not (no_pull and no_push):
        no_pull = no_push = True
        r.err(f"{r.yellow('!')} --sandbox: exporting and committing only (no fetch, no push)")
    from ...gitsync.sync import sync as run_sync
    from ...workspace import actor, find
    ws = find(g.db)
    progress = (lambda s: None) if g.json else (lambda s: r.out(f"→ {s}"))
    report = run_sync(ws, message=message, dry_run=dry_run, pull=not no_pull, push=not no_push,
                      actor=actor(g.actor), progress=progress, retry_timeout=retry_timeout)
    if g.json:
        emit(report)
        return 0
    if report["renumbered"]:
        verb = "Would renumber" if dry_run else "Renumbered"
        pairs = ", ".join(f"{a} -> {b}" for a, b in report["renumbered"].items())
        r.out(f"{r.yellow('!')} {verb} (the IDs were taken for other issues): {pairs}")
        if report.get("hint"):
            r.out(f"  {r.dim(report['hint'])}")
    if dry_run:
        r.out(f"{r.green('✓')} Dry run complete: nothing was changed")
        return 0
    n = report["retries"]["count"]
    why = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in sorted(report["retries"]["by_kind"].items()))
    r.out(f"{r.green('✓')} Sync complete" + (f" after {n} retr{'y' if n == 1 else 'ies'} ({why})" if n else ""))
    return 0


@command("merge-driver", hidden=True, examples=["git config merge.beads.driver 'bd merge-driver %O %A %B %P'"])


def merge_driver(g: Globals, base: Annotated[str, Arg(help="%O: the merge base's version.")],
                 ours: Annotated[str, Arg(help="%A: ours; the result is written here.")],
                 theirs: Annotated[str, Arg(help="%B: theirs.")],
                 path: Annotated[str | None, Arg(help="%P: the path in the repository.")] = None) -> int:
    """git merge driver for .beads/issues.jsonl: merge per field (needs no database)."""
    from ...replication.driver import merge_files
    name = path or ours
    try:
        res = merge_files(base, ours, theirs, path)
    except BdError as e:
        sys.stderr.write(f"bd merge-driver: cannot merge {name}: {e}; leaving the conflict to git\n")
        return 1
    for side, mapping in (("local", res.renumbered_ours), ("incoming", res.renumbered_theirs)):
        if mapping:
            pairs = ", ".join(f"{a} -> {b}" for a, b in mapping.items())
            sys.stderr.write(f"bd merge-driver: {name}: renumbered {side} issue(s) that collided: {pairs}\n")
    return 0


@command("hooks install", examples=["bd hooks install"])


def hooks_install(g: Globals) -> int:
    """Install bd's git hooks (respects core.hooksPath; an existing hook is chained, run first)."""
    from ...githooks import install as h
    repo = h.find_repo()
    res = h.install(repo)
    if g.json:
        emit(res)
    else:
        _print_install(res, repo.top)
        if not (repo.top / ".beads").is_dir():
            r.out(f"  {r.dim('(no .beads/ here yet: the hooks do nothing until bd init)')}")
    return 0 if res["ok"] else 1


@command("hooks uninstall", examples=["bd hooks uninstall"])


def hooks_uninstall(g: Globals) -> int:
    """Remove bd's git hooks and put back the hooks they chained."""
    from ...githooks import install as h
    repo = h.find_repo()
    res = h.uninstall(repo)
    if g.json:
        emit(res)
        return 0 if res["ok"] else 1
    where = _rel(res["hooks_dir"], repo.top)
    removed = [n for n in res["removed"] if n in h.HOOK_NAMES]
    if removed:
        r.out(f"{r.green('✓')} removed bd's hooks from {where}: {', '.join(removed)}")
    else:
        r.out(f"No bd hooks in {where}")
    for name, kind in res["restored"].items():
        r.out(f"  restored your {_KINDS.get(kind, kind)} {name} hook")
    for w in res["warnings"]:
        r.out(f"  {r.yellow('!')} {w}")
    for name, why in res["errors"].items():
        r.err(f"{r.red('✗')} {name}: {why}")
    return 0 if res["ok"] else 1


_STATE_MARK = {"installed": "✓", "shared": "✓", "outdated": "!", "tracked": "!", "foreign": "✗", "missing": "✗"}


@command("hooks status", examples=["bd hooks status --json"])


def hooks_status(g: Globals) -> int:
    """Show which of bd's git hooks are installed, where, and what they chain."""
    from ...githooks import install as h
    repo = h.find_repo()
    st = h.status(repo)
    if g.json:
        emit(st)
        return 0
    where = _rel(st["hooks_dir"], repo.top)
    extra = f" (core.hooksPath = {st['core_hooks_path']})" if st["core_hooks_path"] else ""
    r.out(f"Git hooks in {where}{extra}:")
    for x in st["hooks"]:
        mark = _STATE_MARK.get(x["state"], "?")
        colour = r.green if mark == "✓" else r.yellow if mark == "!" else r.red
        line = f"  {colour(mark)} {x['hook']:<14} {x['state']}"
        if x.get("version") and x["state"] in ("installed", "outdated"):
            line += f" (bdgit {x['version']})"
        if x.get("chained"):
            line += f"; runs your {_KINDS.get(x['chained'], x['chained'])} hook first"
        r.out(line)
        if x.get("message") and x["state"] != "installed":
            r.out(f"      {x['message']}")
        elif x.get("message"):
            r.out(f"      {r.dim(x['message'])}")
    if not st["installed"]:
        r.out("Run 'bd hooks install' to install the missing ones (existing hooks are chained, not replaced).")
    if not st["beads"]:
        r.out(r.dim("No .beads/ at the top of this work tree: bd's hooks do nothing here."))
    return 0


@command("hooks run", passthrough=True, examples=['bd hooks run pre-commit "$@"   # from a shared hook script'])


def hooks_run(g: Globals, hook: Annotated[str, Arg(help="pre-commit, post-merge, post-checkout, post-rewrite or "
                                                        "pre-push.")],
              args: Annotated[list[str] | None, Arg(help="The arguments git gave the hook.")] = None) -> int:
    """Run bd's part of a git hook (what the installed hooks run; for shared hook scripts)."""
    from ...githooks.run import run
    return run(hook, list(args or []))


def init_hooks(res: dict[str, Any], hooks: bool | None, quiet: bool) -> dict[str, Any] | None:
    """bd init's hook step: install when asked (--hooks), or by default when not --quiet and
    ``.beads/`` is at the top of a git work tree. Returns what happened (None: not attempted)."""
    want = hooks if hooks is not None else not quiet
    if not want:
        return None
    from ...githooks import install as h
    from ...errors import GitError
    root = Path(res["database"]).parent.parent
    try:
        repo = h.find_repo(root)
    except GitError:
        return {"installed": [], "reason": "not a git repository"} if hooks else None
    if repo.top != root.resolve():
        return {"installed": [], "reason": f".beads/ is not at the top of the work tree ({repo.top}); "
                                          "bd's hooks only act on the top's .beads/"}
    inst = h.install(repo)
    return {"hooks_dir": inst["hooks_dir"], "installed": inst["installed"] + inst["updated"] + inst["unchanged"],
            "chained": inst["chained"], "skipped": inst["skipped"], "errors": inst["errors"],
            "warnings": inst["warnings"]}


def print_init_hooks(hk: dict[str, Any] | None, root: Path) -> None:
    if not hk:
        return
    if hk.get("installed"):
        r.out(f"  Git hooks: installed in {_rel(hk['hooks_dir'], root)} "
              f"({', '.join(hk['installed'])}); 'bd hooks uninstall' removes them")
        for name, kind in hk.get("chained", {}).items():
            r.out(f"    {name}: your {_KINDS.get(kind, kind)} hook still runs, first")
    elif hk.get("reason"):
        r.out(f"  Git hooks: not installed ({hk['reason']})")
    for name, why in {**hk.get("skipped", {}), **hk.get("errors", {})}.items():
        r.out(f"    {r.yellow('!')} {name}: {why}")


_DOC_MARK = {"ok": ("✓", r.green), "warn": ("!", r.yellow), "error": ("✗", r.red)}


def _confirm(g: Globals, what: str, yes: bool) -> bool:
    """Ask before changing issues, unless --yes; without a terminal to ask on, refuse."""
    if yes:
        return True
    if not sys.stdin.isatty():
        raise UsageError(f"{what} changes issues: add --yes to confirm (there is no terminal to ask on)")
    sys.stderr.write(f"{what}? [y/N] ")
    sys.stderr.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def _doctor_check(g: Globals, check: str, *, fix: bool, clean: bool, yes: bool) -> int:
    if check == "pollution":
        if fix:
            raise UsageError("--fix belongs to --check=validate; --check=pollution cleans with --clean")
        if clean:
            found = g.call("pollution")
            if found["polluted_count"] and not _confirm(g, f"Delete {found['polluted_count']} test issues", yes):
                r.out("Nothing deleted.")
                return 0
        data = g.call("pollution", {"clean": clean or None})
        if g.json:
            emit(data)
            return 0
        if not data["issues"]:
            r.out(f"{r.green('✓')} No test pollution detected")
            return 0
        r.out(f"Found {data['polluted_count']} likely test issues ({data['high_confidence']} high confidence):")
        for p in data["issues"]:
            r.out(f"  {p['id']}: {p['title']!r} (score {p['score']:.2f})")
            for why in p["reasons"]:
                r.out(f"    - {why}")
        if clean:
            r.out(f"{r.green('✓')} Deleted {data['deleted']} issues (their lines stay in git history: bd restore ID)")
        else:
            r.out("Review them; 'bd doctor --check=pollution --clean' deletes them.")
        return 0
    if check == "validate":
        if clean:
            raise UsageError("--clean belongs to --check=pollution")
        if fix and not _confirm(g, "Repair what can be repaired (orphaned dependencies)", yes):
            fix = False
        data = g.call("validate", {"fix": fix or None})
        if g.json:
            # the report is the answer (overall_ok says how it went): a client reads it on exit 0
            emit(data)
            return 0
        r.out("Data integrity")
        for c in data["checks"]:
            mark = {"ok": r.green("✓"), "warning": r.yellow("!"), "error": r.red("✗")}[c["status"]]
            r.out(f"  {mark} {c['name']}: {c['message']}")
            if c.get("detail"):
                r.out(f"      {c['detail']}")
            if c["status"] != "ok" and c.get("fix"):
                r.out(f"      fix: {c['fix']}")
        for done in data.get("fixed", []):
            r.out(f"{r.green('✓')} {done}")
        return 0 if data["overall_ok"] else 1
    raise UsageError(f"unknown check {check!r}: expected validate or pollution")


@command("doctor", examples=["bd doctor", "bd doctor --fix", "bd doctor --json",
                             "bd doctor --check=validate --fix --yes", "bd doctor --check=pollution --json"])


def doctor(g: Globals, fix: Annotated[bool, Opt("--fix", help="Repair what is safe to repair.")] = False,
           check: Annotated[str | None, Opt("--check", help="One check suite instead: 'validate' (duplicates, "
                                                            "orphaned dependencies, test pollution, conflict "
                                                            "markers) or 'pollution' (likely test issues).")] = None,
           clean: Annotated[bool, Opt("--clean", help="With --check=pollution: delete the issues found.")] = False,
           yes: Annotated[bool, Opt("-y", "--yes", help="Do not ask before --fix or --clean changes issues.")] = False,
           ) -> int:
    """Check the workspace: daemon, git hooks, JSONL sync, .gitignore, merge state; explain fixes."""
    if check is not None:
        return _doctor_check(g, check, fix=fix, clean=clean, yes=yes)
    if clean:
        raise UsageError("--clean belongs to --check=pollution")
    from ... import doctor as d
    res = d.run(db=g.db, fix=fix)
    if g.json:
        emit(res)
        return 0 if res["ok"] else 1
    r.out(f"bd doctor: {res['workspace'] or os.getcwd()}")
    width = max(len(c["name"]) for c in res["checks"])
    for c in res["checks"]:
        mark, colour = _DOC_MARK[c["status"]]
        r.out(f"  {colour(mark)} {c['name']:<{width}}  {c['message']}")
        pad = " " * (width + 6)
        if c.get("fixed"):
            r.out(f"{pad}fixed: {c.get('details', {}).get('fix_result')}")
        elif c["status"] != "ok" and c.get("fix"):
            r.out(f"{pad}fix: {c['fix']}")
        if c.get("details", {}).get("fix_error"):
            r.out(f"{pad}{r.red('could not fix')}: {c['details']['fix_error']}")
    fixable = [c["name"] for c in res["checks"] if c["status"] != "ok" and c.get("fixable") and not c.get("fixed")]
    if fixable and not fix:
        r.out(f"Run 'bd doctor --fix' to repair: {', '.join(fixable)}")
    return 0 if res["ok"] else 1
