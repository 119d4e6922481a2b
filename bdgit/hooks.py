"""bd's git hooks: the scripts, and installing, chaining, uninstalling and checking them.

The scripts are tiny POSIX sh wrappers (rendered here; ``hooks/`` in the source tree holds
the same scripts as shipped, regenerated with ``python -m bdgit.hooks --write hooks``). Each:

1. runs the hook that was there before bd (kept as ``<hook>.bd-chained``) first, with its
   own ``$0``, arguments and stdin; a failing pre-commit/pre-push of theirs still blocks;
2. does nothing, silently, unless the work tree's top (where git runs hooks) has a
   ``.beads/`` directory with a database;
3. decides in shell whether there is anything to do (pre-commit: ``cmp`` of ``bd.state``
   with the copy the hook saved when it last staged; post-*: ``git diff --quiet`` of
   ``.beads`` between the two commits), so a hook with nothing to do never starts Python;
4. otherwise runs ``bdgit.hookrun`` with the interpreter bd was installed with.

Installing respects ``core.hooksPath`` and worktrees (``git rev-parse --git-path hooks``),
marks our scripts with a ``bd-hooks-marker`` line, moves a foreign hook aside to
``<hook>.bd-chained`` (never overwrites anything), and leaves hook files tracked by git
alone (a shared ``.githooks/`` or husky v4-8 ``.husky/``): for those it explains the one
line to add. Uninstalling removes only our scripts and renames the chained ones back.
See docs/HOOKS.md.
"""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import __version__
from .errors import GitError

HOOK_NAMES = ("pre-commit", "post-merge", "post-checkout", "post-rewrite", "pre-push")
CHAIN_SUFFIX = ".bd-chained"
MARKER = "# bd-hooks-marker: bdgit "
STAMP_NAME = "bd.hookstate"
SHIPPED_DIR = Path(__file__).resolve().parent.parent / "hooks"

_DESCRIPTIONS = {
    "pre-commit": "flush pending issue changes to .beads/issues.jsonl and stage that file (only it)",
    "post-merge": "import .beads/issues.jsonl when the merge changed it",
    "post-checkout": "import .beads/issues.jsonl when a branch checkout changed it",
    "post-rewrite": "import .beads/issues.jsonl when a rebase changed it",
    "pre-push": "refuse to push a HEAD whose .beads/issues.jsonl lacks issue changes",
}

_HEAD = """\
#!/bin/sh
# bd (beads) git hook: @HOOK@ - @DESC@.
# Installed by `bd hooks install`; `bd hooks uninstall` removes it and puts back the hook that
# was here before (kept beside it as @HOOK@.bd-chained, and run first). See docs/HOOKS.md.
# Set BD_SKIP_HOOKS=1 to skip bd's part (the chained hook still runs).
@MARKER@@VERSION@
BD_PYTHON='@PYTHON@'

# The hook that was here before bd runs first, as if it were still installed: same arguments
# and stdin, and for shell scripts the same "$0" (they are sourced by their own shell, so
# husky and other scripts that look at "$0" keep working). Anything else is executed.
bd_chain() {
	bd_c=$0.bd-chained
	[ -x "$bd_c" ] || return 0
	[ "$BD_HOOK_CHAINING" = "$bd_c" ] && return 0
	bd_l=
	IFS= read -r bd_l 2>/dev/null <"$bd_c"
	bd_i=
	bd_f=
	case $bd_l in
	'#!'*)
		bd_l=${bd_l#??}
		bd_l=${bd_l#"${bd_l%%[! ]*}"}
		case $bd_l in
		*/env\\ sh | */env\\ bash | */env\\ dash) bd_i=${bd_l##* } ;;
		*/sh | */bash | */dash) bd_i=$bd_l ;;
		*/sh\\ -* | */bash\\ -* | */dash\\ -*)
			bd_i=${bd_l%% *}
			bd_f=${bd_l#* }
			;;
		esac
		;;
	esac
	if [ -n "$bd_i" ]; then
		BD_HOOK_CHAINING=$bd_c "$bd_i" $bd_f -c '. "$BD_HOOK_CHAINING"' "$0" "$@"
	else
		BD_HOOK_CHAINING=$bd_c "$bd_c" "$@"
	fi
}

# A bd repository: .beads/ with a database at the top of the work tree (git runs hooks
# there). Anywhere else every bd hook is a silent no-op.
bd_here() {
	[ -z "$BD_SKIP_HOOKS" ] && [ -d .beads ] || return 1
	for bd_db in .beads/*.db; do
		[ -f "$bd_db" ] && return 0
	done
	return 1
}

# bd's Python side, with the interpreter bd was installed with (else `bd` on PATH).
bd_run() {
	if [ -n "$BD_PYTHON" ] && [ -x "$BD_PYTHON" ]; then
		"$BD_PYTHON" -P -m bdgit.hookrun "$@"
	elif command -v bd >/dev/null 2>&1; then
		bd hooks run "$@"
	else
		echo "bd: the $1 hook cannot find bd (not at '$BD_PYTHON', not on PATH); skipped" >&2
	fi
}

"""

_BODIES = {
    "pre-commit": """\
# A failing pre-commit of theirs blocks the commit, as it did before bd.
bd_chain "$@" || exit
bd_here || exit 0
# Nothing written since this hook last flushed and staged the JSONL (bd.state is byte for
# byte the copy it kept), and not concluding a merge: done, without starting Python.
if [ ! -f "${GIT_DIR:-.git}/MERGE_HEAD" ] && cmp -s .beads/bd.state .beads/bd.hookstate 2>/dev/null; then
	exit 0
fi
bd_run pre-commit "$@"
bd_rc=$?
# 3: bd refuses (the JSONL holds git conflict markers; it said so). Its own failures do not block.
[ $bd_rc -eq 3 ] && exit 1
[ $bd_rc -eq 0 ] || echo "bd: pre-commit: bd failed (exit $bd_rc); the commit goes ahead" >&2
exit 0
""",
    "post-merge": """\
bd_chain "$@"
bd_rc=$?
if bd_here; then
	unset GIT_INDEX_FILE
	# $1 = 1: a squash merge (HEAD did not move). Else only when the merge changed .beads.
	if [ "$1" = 1 ] || ! git diff --quiet ORIG_HEAD HEAD -- .beads 2>/dev/null; then
		bd_run post-merge "$@" </dev/null || echo "bd: post-merge: bd failed (exit $?)" >&2
	fi
fi
exit $bd_rc
""",
    "post-checkout": """\
bd_chain "$@"
bd_rc=$?
# Branch checkouts only ($3 = 1), and only when .beads differs between the two commits.
if [ "$3" = 1 ] && [ "$1" != "$2" ] && bd_here; then
	unset GIT_INDEX_FILE
	if ! git diff --quiet "$1" "$2" -- .beads 2>/dev/null; then
		bd_run post-checkout "$@" </dev/null || echo "bd: post-checkout: bd failed (exit $?)" >&2
	fi
fi
exit $bd_rc
""",
    "post-rewrite": """\
bd_chain "$@"
bd_rc=$?
# After a rebase that changed .beads (an amend leaves the work tree as it was).
if [ "$1" = rebase ] && bd_here; then
	unset GIT_INDEX_FILE
	if ! git diff --quiet ORIG_HEAD HEAD -- .beads 2>/dev/null; then
		bd_run post-rewrite "$@" </dev/null || echo "bd: post-rewrite: bd failed (exit $?)" >&2
	fi
fi
exit $bd_rc
""",
    "pre-push": """\
# Both hooks read the refs being pushed on stdin: keep a copy for the second one.
if [ -x "$0.bd-chained" ]; then
	bd_in=$(cat)
	if [ -n "$bd_in" ]; then printf '%s\\n' "$bd_in"; fi | bd_chain "$@" || exit
	bd_here || exit 0
	if [ -n "$bd_in" ]; then printf '%s\\n' "$bd_in"; fi | bd_run pre-push "$@"
else
	bd_here || exit 0
	bd_run pre-push "$@"
fi
bd_rc=$?
# 3: bd refuses the push (it said why). Any other failure of bd's own does not block.
[ $bd_rc -eq 3 ] && exit 1
[ $bd_rc -eq 0 ] || echo "bd: pre-push: bd failed (exit $bd_rc); not blocking the push" >&2
exit 0
""",
}


def script(name: str, python: str | None = None) -> str:
    """The hook script ``name``; ``python`` is the interpreter it runs bd with ('' = bd on PATH)."""
    if name not in _BODIES:
        raise ValueError(f"unknown hook {name!r}")
    py = sys.executable if python is None else python
    head = (_HEAD.replace("@HOOK@", name).replace("@DESC@", _DESCRIPTIONS[name])
            .replace("@MARKER@", MARKER).replace("@VERSION@", __version__)
            .replace("@PYTHON@", py.replace("'", "'\\''")))
    return head + _BODIES[name]


# --- the repository ------------------------------------------------------------------------

_REPO_ENV = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_PREFIX", "GIT_COMMON_DIR",
             "GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_QUARANTINE_PATH",
             "GIT_IMPLICIT_WORK_TREE", "GIT_INTERNAL_SUPER_PREFIX", "GIT_SHALLOW_FILE",
             "GIT_GRAFT_FILE", "GIT_NO_REPLACE_OBJECTS", "GIT_REPLACE_REF_BASE")


def git_env(keep_index: bool = False, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for git commands bd runs: git's per-repository variables removed
    (``GIT_INDEX_FILE`` kept only when ``keep_index``), except that ``GIT_DIR`` and
    ``GIT_WORK_TREE``, when set, are kept as absolute paths (they name this repository)."""
    src = dict(os.environ if base is None else base)
    env = {k: v for k, v in src.items() if k not in _REPO_ENV}
    for k in ("GIT_DIR", "GIT_WORK_TREE") + (("GIT_INDEX_FILE",) if keep_index else ()):
        if src.get(k):
            env[k] = os.path.abspath(src[k])
    return env


def git(args: list[str], cwd: Path | str, *, keep_index: bool = False,
        input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=str(cwd), env=git_env(keep_index), text=True,
                          capture_output=True, input=input)


@dataclass(frozen=True)
class Repo:
    top: Path
    hooks_dir: Path
    git_dir: Path
    common_dir: Path
    hooks_path: str | None  # core.hooksPath, when set

    @property
    def hooks_in_tree(self) -> bool:
        """The hooks directory is inside the work tree, not in the git directory
        (core.hooksPath=.githooks, husky's .husky/_)."""
        def under(d: Path) -> bool:
            return self.hooks_dir == d or d in self.hooks_dir.parents
        return under(self.top) and not under(self.common_dir) and not under(self.git_dir)

    @property
    def husky(self) -> bool:
        return ".husky" in self.hooks_dir.parts

    @property
    def shared_outside(self) -> bool:
        """core.hooksPath points outside this repository (every repository using it shares it)."""
        return self.hooks_path is not None and not self.hooks_in_tree and \
            self.common_dir not in self.hooks_dir.parents


def find_repo(cwd: str | os.PathLike[str] | None = None) -> Repo:
    """The git work tree around ``cwd``. Raises GitError outside one (or in a bare repository)."""
    here = Path(cwd or os.getcwd())
    p = git(["rev-parse", "--show-toplevel", "--git-path", "hooks", "--git-dir", "--git-common-dir"], here)
    if p.returncode != 0:
        raise GitError(f"not in a git work tree: {p.stderr.strip() or here}",
                       "run this inside a git repository ('git init' makes one)")
    top, hooks, gdir, common = p.stdout.splitlines()[:4]
    hp = git(["config", "--get", "core.hooksPath"], here)
    return Repo(Path(top).resolve(), (here / hooks).resolve(), (here / gdir).resolve(),
                (here / common).resolve(), hp.stdout.strip() or None if hp.returncode == 0 else None)


# --- what is there -------------------------------------------------------------------------

def _read(path: Path) -> str | None:
    try:
        with open(path, "rb") as f:
            return f.read(1 << 20).decode("utf-8", errors="replace")
    except OSError:
        return None


def is_ours(path: Path) -> bool:
    """Our script (never a symlink: we only ever write regular files)."""
    if path.is_symlink() or not path.is_file():
        return False
    text = _read(path)
    return text is not None and MARKER in text


def our_version(path: Path) -> str | None:
    text = _read(path) or ""
    for line in text.splitlines()[:12]:
        if line.startswith(MARKER):
            return line[len(MARKER):].strip()
    return None


def kind_of(path: Path) -> str:
    """What a (foreign) hook is: pre-commit (the framework), husky, lefthook, bd, script, binary."""
    if is_ours(path):
        return "bd"
    text = _read(path) or ""
    if "File generated by pre-commit: https://pre-commit.com" in text:
        return "pre-commit"
    if ".husky" in path.parts or "husky" in text:
        return "husky"
    if "lefthook" in text:
        return "lefthook"
    if text.startswith("#!"):
        return "script"
    return "binary" if text else "empty"


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.is_symlink() or b.is_symlink():
            return a.is_symlink() and b.is_symlink() and os.readlink(a) == os.readlink(b)
        return a.read_bytes() == b.read_bytes()
    except OSError:
        return False


def _tracked(repo: Repo, path: Path) -> bool:
    if not repo.hooks_in_tree:
        return False
    rel = os.path.relpath(path, repo.top)
    p = git(["ls-files", "--", rel], repo.top)
    return p.returncode == 0 and bool(p.stdout.strip())


def _shared_line(name: str) -> str:
    return f'command -v bd >/dev/null 2>&1 && bd hooks run {name} "$@"'


def hook_status(repo: Repo, name: str, python: str | None = None) -> dict[str, Any]:
    path = repo.hooks_dir / name
    chained = repo.hooks_dir / (name + CHAIN_SUFFIX)
    legacy = repo.hooks_dir / (name + ".legacy")
    out: dict[str, Any] = {"hook": name, "path": str(path)}
    if chained.exists() or chained.is_symlink():
        out["chained"] = kind_of(chained)
        out["chained_path"] = str(chained)
    if is_ours(path):
        out["version"] = our_version(path)
        current = _read(path) == script(name, python)
        out["state"] = "installed" if current else "outdated"
        if not current:
            out["message"] = (f"installed by bdgit {out['version']}" if out["version"] != __version__
                              else "installed for another Python interpreter or edited by hand")
        return out
    if not (path.exists() or path.is_symlink()):
        out["state"] = "missing"
        return out
    out["existing"] = kind_of(path)
    text = _read(path) or ""
    if f"bd hooks run {name}" in text:
        out["state"] = "shared"
        out["message"] = "your hook runs 'bd hooks run' itself"
    elif is_ours(legacy):
        out["state"] = "installed"
        out["version"] = our_version(legacy)
        out["message"] = f"run by the pre-commit framework as {legacy.name}"
    elif _tracked(repo, path):
        out["state"] = "tracked"
        out["message"] = (f"{path.name} is tracked by git (shared with your team); bd leaves it alone. "
                          f"To run bd's hook from it, add this line to it: {_shared_line(name)}")
    else:
        out["state"] = "foreign"
        out["message"] = f"a {out['existing']} hook is installed; 'bd hooks install' chains it (runs it first)"
    return out


def status(repo: Repo, names: tuple[str, ...] = HOOK_NAMES, python: str | None = None) -> dict[str, Any]:
    hooks = [hook_status(repo, n, python) for n in names]
    ok = all(h["state"] in ("installed", "shared") for h in hooks)
    out: dict[str, Any] = {"hooks_dir": str(repo.hooks_dir), "core_hooks_path": repo.hooks_path,
                           "husky": repo.husky, "installed": ok, "hooks": hooks,
                           "beads": (repo.top / ".beads").is_dir()}
    if repo.shared_outside:
        out["shared_hooks_dir"] = True
    return out


# --- install / uninstall --------------------------------------------------------------------

def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.bd-tmp.{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(tmp, 0o755)
    os.replace(tmp, path)


def install(repo: Repo, names: tuple[str, ...] = HOOK_NAMES, python: str | None = None) -> dict[str, Any]:
    """Install (or update) our hooks, chaining whatever was there. Never deletes anything that
    is not ours or an identical copy of what is kept; returns what happened per hook."""
    repo.hooks_dir.mkdir(parents=True, exist_ok=True)
    res: dict[str, Any] = {"hooks_dir": str(repo.hooks_dir), "installed": [], "updated": [], "unchanged": [],
                           "chained": {}, "skipped": {}, "errors": {}, "warnings": []}
    if repo.shared_outside:
        res["warnings"].append(f"core.hooksPath is {repo.hooks_path}: these hooks run in every repository "
                               "that uses it (they do nothing where there is no .beads/)")
    if repo.husky:
        res["warnings"].append("husky regenerates its hooks directory on install: run 'bd hooks install' "
                               "(or 'bd doctor --fix') again after it does")
    for name in names:
        path = repo.hooks_dir / name
        chained = repo.hooks_dir / (name + CHAIN_SUFFIX)
        legacy = repo.hooks_dir / (name + ".legacy")
        text = script(name, python)
        try:
            if is_ours(legacy):  # `pre-commit install` moved an older copy of ours there
                legacy.unlink()
            if is_ours(path):
                if _read(path) == text:
                    res["unchanged"].append(name)
                else:
                    _write(path, text)
                    res["updated"].append(name)
                if chained.exists() or chained.is_symlink():
                    res["chained"][name] = kind_of(chained)
                continue
            if path.exists() or path.is_symlink():
                if f"bd hooks run {name}" in (_read(path) or ""):
                    res["skipped"][name] = "your hook already runs 'bd hooks run'"
                    continue
                if _tracked(repo, path):
                    res["skipped"][name] = (f"{path} is tracked by git; bd does not rewrite shared hooks. "
                                            f"Add this line to it instead: {_shared_line(name)}")
                    continue
                if chained.exists() or chained.is_symlink():
                    if not _same_file(path, chained):
                        res["errors"][name] = (f"both {path.name} and {chained.name} exist and differ; "
                                               f"move one of them away, then run 'bd hooks install' again")
                        continue
                    path.unlink()  # an identical copy of the hook we already chain
                else:
                    os.rename(path, chained)
                res["chained"][name] = kind_of(chained)
            elif chained.exists() or chained.is_symlink():
                res["chained"][name] = kind_of(chained)
            _write(path, text)
            res["installed"].append(name)
        except OSError as e:
            res["errors"][name] = f"{type(e).__name__}: {e}"
    res["ok"] = not res["errors"]
    return res


def uninstall(repo: Repo, names: tuple[str, ...] = HOOK_NAMES) -> dict[str, Any]:
    """Remove our hooks and put back the ones we chained, exactly as they were."""
    res: dict[str, Any] = {"hooks_dir": str(repo.hooks_dir), "removed": [], "restored": {},
                           "warnings": [], "errors": {}}
    for name in names:
        path = repo.hooks_dir / name
        chained = repo.hooks_dir / (name + CHAIN_SUFFIX)
        legacy = repo.hooks_dir / (name + ".legacy")
        has_chained = chained.exists() or chained.is_symlink()
        try:
            if is_ours(legacy):
                legacy.unlink()
                res["removed"].append(legacy.name)
            if is_ours(path):
                path.unlink()
                res["removed"].append(name)
            elif has_chained and (path.exists() or path.is_symlink()):
                if _same_file(path, chained):
                    chained.unlink()
                else:
                    res["warnings"].append(f"{path.name} is not bd's and {chained.name} differs from it; "
                                           f"left both as they are")
                continue
            if has_chained:
                os.rename(chained, path)
                res["restored"][name] = kind_of(path)
        except OSError as e:
            res["errors"][name] = f"{type(e).__name__}: {e}"
    res["ok"] = not res["errors"]
    return res


# --- the shipped copies -----------------------------------------------------------------------

def write_shipped(directory: Path = SHIPPED_DIR) -> list[Path]:
    """Write the scripts as shipped (BD_PYTHON empty: they run `bd` from PATH) to ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    out = []
    for name in HOOK_NAMES:
        p = directory / name
        _write(p, script(name, ""))
        out.append(p)
    return out


def shipped_up_to_date(directory: Path = SHIPPED_DIR) -> bool:
    return all(_read(directory / n) == script(n, "") for n in HOOK_NAMES)


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "--check":
        sys.exit(0 if shipped_up_to_date(Path(sys.argv[2]) if len(sys.argv) > 2 else SHIPPED_DIR) else 1)
    target = Path(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[1] == "--write" else SHIPPED_DIR
    for p in write_shipped(target):
        print(f"wrote {p}")
