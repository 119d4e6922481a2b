"""Generate ``docs/CLI.md`` (the command reference) from the command declarations.

Run ``python -m bdgit.cli.gendocs`` after changing a command; a test fails while the
committed file is out of date, and while a command has no example.
"""
from __future__ import annotations

import sys
from pathlib import Path

from .decl import GLOBAL_FLAGS, GROUPS, REQUIRED, Arg, Command, base_type, load_all, params_of

DOC_PATH = Path(__file__).resolve().parent.parent.parent / "docs" / "CLI.md"

_INTRO = """\
# bd command reference

Generated from the command declarations (`python -m bdgit.cli.gendocs`); `bd help COMMAND`
and `bd COMMAND --help` print the same text. Every command takes `--json` for machine-readable
output (beads' shapes), and the global flags below anywhere on the line; a boolean flag also
takes `--flag=true|false`.

With `--json` the output is one JSON document: indented on a terminal, one line when a program
reads it (`BD_JSON_INDENT=1` indents anyway).

`--sandbox` (beads' flag, which beads-ui passes on every call): bd never starts a daemon and never
talks to a git remote (`bd sync` only exports and commits). A daemon that already runs is still
used: it is the workspace's one writer, a sandboxed write through it is as safe as any other, and
file watchers see it at once; what that daemon does with git is the configuration it was started
with. `--readonly`: every command that would change the database fails with a `read_only` error
before anything is written.
"""


def _usage(cmd: Command) -> str:
    parts = [f"bd {cmd.path}"]
    for name, t, marker, default in params_of(cmd):
        if not isinstance(marker, Arg):
            continue
        _, many = base_type(t)
        word = (marker.metavar or name).upper() + ("..." if many else "")
        parts.append(word if default is REQUIRED else f"[{word}]")
    if any(not isinstance(m, Arg) for _, _, m, _ in params_of(cmd)):
        parts.append("[OPTIONS]")
    return " ".join(parts)


def _section(cmd: Command) -> list[str]:
    out = [f"### `bd {cmd.path}`", "", cmd.help, "", "```", _usage(cmd), "```", ""]
    rows = []
    for name, t, marker, default in params_of(cmd):
        kind, many = base_type(t)
        if isinstance(marker, Arg):
            flag = f"`{(marker.metavar or name).upper()}`"
        else:
            if marker.hidden:
                continue
            flag = ", ".join(f"`{d}`" for d in marker.decls) + ("" if kind == "bool" else f" {kind.upper()}")
            if many:
                flag += " (repeatable)"
        dflt = "" if default in (None, False, REQUIRED) or many else f" (default: `{default}`)"
        rows.append(f"| {flag} | {marker.help.replace('|', '/')}{dflt} |")
    if rows:
        out += ["| argument / option | meaning |", "|---|---|", *rows, ""]
    out += ["Examples:", "", "```sh", *cmd.examples, "```", ""]
    return out


def render() -> str:
    cmds = load_all()
    lines = [_INTRO, "## Global flags", "", "| flag | meaning |", "|---|---|"]
    lines += [f"| `{f.decl}`{'' if f.kind == 'bool' else ' ' + f.kind.upper()} | {f.help} |" for f in GLOBAL_FLAGS]
    lines += ["", "## Commands", ""]
    plain = [c for c in cmds.values() if " " not in c.path and not c.hidden]
    for cmd in plain:
        lines += _section(cmd)
    for group, text in GROUPS.items():
        lines += [f"## `bd {group}`: {text}", ""]
        for cmd in cmds.values():
            if cmd.path.startswith(group + " ") and not cmd.hidden:
                lines += _section(cmd)
    hidden = [c for c in cmds.values() if c.hidden]
    if hidden:
        lines += ["## Commands git runs", ""]
        for cmd in hidden:
            lines += _section(cmd)
    return "\n".join(lines).rstrip() + "\n"


def missing_examples() -> list[str]:
    return [c.path for c in load_all().values() if not c.examples]


if __name__ == "__main__":
    text = render()
    if "--check" in sys.argv:
        sys.exit(0 if DOC_PATH.exists() and DOC_PATH.read_text() == text else 1)
    DOC_PATH.write_text(text)
    print(f"wrote {DOC_PATH}")
