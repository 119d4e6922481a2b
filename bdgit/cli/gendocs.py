"""Generate ``docs/CLI.md`` (every command: what it does, its arguments and flags, examples)
from the command declarations.

Run ``python -m bdgit.cli.gendocs`` after changing a command; a test fails while the committed
file is out of date, and a command without an example cannot be declared into it.
"""
from __future__ import annotations

import sys
from pathlib import Path

from .decl import GLOBAL_FLAGS, GROUPS, REQUIRED, Arg, Command, base_type, load_all, params_of

DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "CLI.md"

_INTRO = """\
# bd command reference

Generated from the command declarations (`python -m bdgit.cli.genspec` and `python -m
bdgit.cli.gendocs` after changing a command; tests check both). `bd help` lists the commands and
`bd COMMAND --help` shows one.

Every command gives the same results through a running daemon and in direct mode. With
`--json` the output is one JSON document: indented on a terminal, one line when a program reads
it (set `BD_JSON_INDENT=1` to indent anyway). Errors print `Error: what happened` and a hint on
stderr (and, with `--json`, `{"error", "kind", "hint"?, "details"?}` on stdout); the exit code is
1, or 2 for a usage error.

## Global flags

Accepted anywhere on the line (`bd --json ready` and `bd ready --json` alike); a boolean flag
also takes `--flag=true|false`.

| flag | meaning |
|---|---|
"""

_SANDBOX = """
`--sandbox` (beads' flag, which beads-ui passes on every call): bd never starts a daemon and never
talks to a git remote. A daemon that already runs is still used: it is the workspace's one
writer, a sandboxed write through it is as safe as any other, and file watchers see it at once.
What that daemon does with git (auto-commit, auto-push) is its own configuration, set when it was
started. `--readonly`: every command that would change the database fails with a `read_only`
error before anything is written (reads, `prime`, `where` and `doctor` checks without a fix work).
"""


def _flag_doc(cmd: Command) -> list[str]:
    rows = []
    for name, t, marker, default in params_of(cmd):
        kind, many = base_type(t)
        if isinstance(marker, Arg):
            rows.append(f"| `{name.upper()}{'...' if many else ''}` | {marker.help}"
                        f"{'' if default is not REQUIRED else ' (required)'} |")
            continue
        if marker.hidden:
            continue
        decls = ", ".join(f"`{d}`" for d in marker.decls)
        value = "" if kind == "bool" else f" {kind.upper()}"
        extra = " (repeatable)" if many else ""
        if default not in (None, False, REQUIRED) and not many:
            extra += f" (default {default})"
        rows.append(f"| {decls}{value} | {marker.help}{extra} |")
    return rows


def render() -> str:
    """The text of docs/CLI.md. Raises ValueError for a visible command without an example."""
    reg = load_all()
    out = [_INTRO.rstrip("\n")]
    for f in GLOBAL_FLAGS:
        out.append(f"| `{f.decl}`{'' if f.kind == 'bool' else ' ' + f.kind.upper()} | {f.help} |")
    out.append(_SANDBOX)
    out.append("## Commands\n")
    groups_done: set[str] = set()
    for path in sorted(reg):
        cmd = reg[path]
        if cmd.hidden:
            continue
        if not cmd.examples:
            raise ValueError(f"bd {path} has no example: give @command(..., examples=[...])")
        group, _, sub = path.partition(" ")
        if sub and group not in groups_done:
            groups_done.add(group)
            out.append(f"### bd {group}\n\n{GROUPS[group]}\n")
        level = "####" if sub else "###"
        out.append(f"{level} bd {path}\n")
        out.append(cmd.help.strip() + "\n")
        rows = _flag_doc(cmd)
        if rows:
            out.append("| argument / flag | meaning |\n|---|---|")
            out.extend(rows)
            out.append("")
        out.append("```sh\n" + "\n".join(cmd.examples) + "\n```\n")
    return "\n".join(out).rstrip("\n") + "\n"


if __name__ == "__main__":
    text = render()
    if "--check" in sys.argv:
        sys.exit(0 if DOC_PATH.exists() and DOC_PATH.read_text() == text else 1)
    DOC_PATH.write_text(text)
    print(f"wrote {DOC_PATH}")
