"""bd's git hooks: the scripts, and installing, chaining, uninstalling and checking them.

The scripts are tiny POSIX sh wrappers (rendered here; ``hooks/`` in the source tree holds
the same scripts as shipped, regenerated with ``python -m bdgit.githooks.scripts --write hooks``). Each:

1. runs the hook that was there before bd (kept as ``<hook>.bd-chained``) first, with its
   own ``$0``, arguments and stdin; a failing pre-commit/pre-push of theirs still blocks;
2. does nothing, silently, unless the work tree's top (where git runs hooks) has a
   ``.beads/`` directory with a database;
3. decides in shell whether there is anything to do (pre-commit: ``cmp`` of ``bd.state``
   with the copy the hook saved when it last staged; post-*: ``git diff --quiet`` of
   ``.beads`` between the two commits), so a hook with nothing to do never starts Python;
4. otherwise runs ``bdgit.githooks.run`` with the interpreter bd was installed with.

Installing respects ``core.hooksPath`` and worktrees (``git rev-parse --git-path hooks``),
marks our scripts with a ``bd-hooks-marker`` line, moves a foreign hook aside to
``<hook>.bd-chained`` (never overwrites anything), and leaves hook files tracked by git
alone (a shared ``.githooks/`` or husky v4-8 ``.husky/``): for those it explains the one
line to add. Uninstalling removes only our scripts and renames the chained ones back.
See docs/HOOKS.md.
"""
from __future__ import annotations

import sys
from pathlib import Path

from .. import __version__
from ..workspace.files import atomic_write

HOOK_NAMES = ("pre-commit", "post-merge", "post-checkout", "post-rewrite", "pre-push")
CHAIN_SUFFIX = ".bd-chained"
MARKER = "# bd-hooks-marker: bdgit "
STAMP_NAME = "bd.hookstate"
SHIPPED_DIR = Path(__file__).resolve().parent.parent.parent / "hooks"

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
		"$BD_PYTHON" -P -m bdgit.githooks.run "$@"
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
# byte the copy it kept), and not concluding a merge: done, without starting Python. (Only
# regular files are compared: a FIFO or a link planted there goes to bd, which refuses it.)
if [ ! -f "${GIT_DIR:-.git}/MERGE_HEAD" ] && [ -f .beads/bd.state ] && [ ! -L .beads/bd.state ] \
	&& [ -f .beads/bd.hookstate ] && [ ! -L .beads/bd.hookstate ] \
	&& cmp -s .beads/bd.state .beads/bd.hookstate 2>/dev/null; then
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


def write_script(path: Path, text: str) -> None:
    """Write an executable hook script atomically (never a half-written hook)."""
    atomic_write(path, text, mode=0o755, exact_mode=True)


def read_hook(path: Path) -> str | None:
    """A hook file's text (the first MiB), or None when it cannot be read."""
    try:
        with open(path, "rb") as f:
            return f.read(1 << 20).decode("utf-8", errors="replace")
    except OSError:
        return None


# --- the shipped copies -----------------------------------------------------------------------

def write_shipped(directory: Path = SHIPPED_DIR) -> list[Path]:
    """Write the scripts as shipped (BD_PYTHON empty: they run `bd` from PATH) to ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    out = []
    for name in HOOK_NAMES:
        p = directory / name
        write_script(p, script(name, ""))
        out.append(p)
    return out


def shipped_up_to_date(directory: Path = SHIPPED_DIR) -> bool:
    return all(read_hook(directory / n) == script(n, "") for n in HOOK_NAMES)


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "--check":
        sys.exit(0 if shipped_up_to_date(Path(sys.argv[2]) if len(sys.argv) > 2 else SHIPPED_DIR) else 1)
    target = Path(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[1] == "--write" else SHIPPED_DIR
    for p in write_shipped(target):
        print(f"wrote {p}")
