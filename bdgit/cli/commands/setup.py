"""Commands that need no database: init, quickstart, version, help, completion."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

from ... import BEADS_COMPAT_VERSION, __version__
from ...errors import UsageError
from .. import render as r
from ..decl import Arg, Opt, command
from ..runtime import Globals, emit


@command("init", examples=["bd init", "bd init --prefix api --no-hooks", "bd init -q   # in a script"])
def init(g: Globals,
         prefix: Annotated[str | None, Opt("-p", "--prefix", help="Issue ID prefix (default: directory name).")] = None,
         quiet: Annotated[bool, Opt("-q", "--quiet", help="Print nothing on success.")] = False,
         hooks: Annotated[bool, Opt("--hooks", help="Install bd's git hooks (the default unless --quiet).")] = False,
         no_hooks: Annotated[bool, Opt("--no-hooks", help="Do not install bd's git hooks.")] = False,
         nested: Annotated[bool, Opt("--nested", help="Create it even inside another workspace (bd commands "
                                                      "here then use this one).")] = False) -> int:
    """Create .beads/ with a database here (imports .beads/issues.jsonl if a clone has one)."""
    from ...workspace.initialize import init_workspace
    from .git import init_hooks, print_init_hooks
    res = init_workspace(Path.cwd(), prefix, actor=g.actor, db=g.db, nested=nested)
    hk = init_hooks(res, True if hooks else False if no_hooks else None, quiet)
    if hk is not None:
        res["hooks"] = hk
    if g.json:
        emit(res)
    elif not quiet:
        r.out()
        r.out(f"{r.green('✓')} bd initialized successfully!")
        r.out()
        r.out(f"  Database: {res['database']}")
        r.out(f"  Issue prefix: {res['prefix']}")
        r.out(f"  Issues will be named: {res['prefix']}-1, {res['prefix']}-2, ...")
        if res.get("imported"):
            r.out(f"  Imported {res['imported']} issues from {res['jsonl']}")
        print_init_hooks(hk, Path(res["database"]).parent.parent)
        r.out()
    return 0


QUICKSTART = """
bd - Dependency-Aware Issue Tracker

Issues live with your code, and bd knows what blocks what: 'bd ready' is the work nothing
open is waiting on.

Getting started

  bd init                      set up .beads/ in this project
  bd create "Fix login" -p 1   new issue (priority 0-4, 0 highest)
  bd create "Write tests" --deps blocks:bd-1
  bd ready                     what can be worked on now (nothing open blocks it)
  bd update bd-2 --status in_progress
  bd dep add bd-3 bd-2         bd-3 depends on bd-2 (type blocks)
  bd dep tree bd-3             what bd-3 waits for
  bd blocked                   what waits, and on what
  bd close bd-2 --reason "done"
  bd list --status open --json machine-readable output for agents

Dependency types: blocks (hard), parent-child (a blocked parent blocks its children),
related, discovered-from. Issues live in .beads/ (SQLite) and .beads/issues.jsonl, the file
git carries between clones; a daemon (bd daemon start) serialises many agents at once.
"""


@command("quickstart", examples=["bd quickstart"])
def quickstart(g: Globals) -> int:
    """A short guide to bd."""
    r.out(QUICKSTART.rstrip())
    return 0


@command("version", examples=["bd version", "bd version --json"])
def version(g: Globals) -> int:
    """Print the version (the beads version we are compatible with comes first)."""
    if g.json:
        emit({"version": BEADS_COMPAT_VERSION, "build": "bdgit", "bdgit_version": __version__})
    else:
        # beads-mcp and other clients take the first X.Y.Z: it must be the beads version.
        r.out(f"bd version {BEADS_COMPAT_VERSION} (bdgit {__version__})")
    return 0


def overview() -> str:
    """``bd help``: beads' layout (Usage, Available Commands, Flags), every command with its
    whole one-line description; groups list their subcommands."""
    from ..decl import GLOBAL_FLAGS, GROUPS, load_all
    reg = load_all()
    rows: dict[str, str] = {}
    for path, cmd in reg.items():
        if cmd.hidden:
            continue
        group, _, sub = path.partition(" ")
        if sub:
            subs = sorted(p.partition(" ")[2] for p, c in reg.items() if p.startswith(group + " ") and not c.hidden)
            rows[group] = f"{GROUPS[group].rstrip('.')} ({', '.join(subs)})"
        else:
            rows[path] = (cmd.help.splitlines() or [""])[0]
    w = max(len(k) for k in rows) + 2
    out = ["bd - a git-backed, dependency-aware issue tracker for coding agents", "", "Usage:", "  bd [flags]",
           "  bd [command]", "", "Available Commands:"]
    out += [f"  {k.ljust(w)}{v}" for k, v in sorted(rows.items())]
    fw = max(len(f.decl) for f in GLOBAL_FLAGS) + 10
    out += ["", "Flags (accepted anywhere on the line):"]
    for f in GLOBAL_FLAGS:
        decl = f.decl + ("" if f.kind == "bool" else f" {f.kind}")
        out.append(f"      {decl.ljust(fw)}{f.help}")
    out += [f"  -h, {'--help'.ljust(fw)}help for bd", f"  -V, {'--version'.ljust(fw)}the version", "",
            'Use "bd [command] --help" for more information about a command.']
    return "\n".join(out)


@command("help", fast=False, examples=["bd help", "bd help dep add"])
def help_(g: Globals, command: Annotated[list[str] | None, Arg(help="The command (and subcommand).")] = None) -> int:
    """Show help for bd or a command."""
    if not command:
        r.out(overview())
        return 0
    import click

    from ..app import build_click
    cmd: click.Command = build_click()
    path = ["bd"]
    for name in command or []:
        sub = cmd.get_command(click.Context(cmd), name) if isinstance(cmd, click.Group) else None
        if sub is None:
            raise UsageError(f"no such command: {' '.join(command or [])}", "'bd help' lists the commands")
        cmd, path = sub, path + [name]
    with click.Context(cmd, info_name=" ".join(path)) as ctx:
        r.out(cmd.get_help(ctx))
    return 0


_SHELLS = ("bash", "zsh", "fish")


@command("completion", fast=False, examples=['eval "$(bd completion bash)"   # in ~/.bashrc',
                                             "bd completion fish > ~/.config/fish/completions/bd.fish"])
def completion(g: Globals, shell: Annotated[str, Arg(help="bash, zsh or fish.")]) -> int:
    """Print the shell completion script for bd (generated from the command declarations)."""
    if shell not in _SHELLS:
        raise UsageError(f"unsupported shell {shell!r}: use {', '.join(_SHELLS)}")
    from click.shell_completion import get_completion_class

    from ..app import build_click
    cls = get_completion_class(shell)
    assert cls is not None
    r.out(cls(build_click(), {}, "bd", "_BD_COMPLETE").source())
    return 0
