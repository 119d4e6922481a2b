"""Generate ``spec.json`` (what the fast path parses with) from the typer app.

Run ``python -m bdgit.cli.genspec`` after changing a command's flags; a test fails while the
committed file is out of date. A command is marked ``fast`` only when ``commands`` has a
function of the same name whose parameters are exactly the command's (so the fast path can
call it with what typer would have passed).
"""
from __future__ import annotations

import inspect
import json
import sys
from pathlib import Path
from typing import Any

SPEC_PATH = Path(__file__).with_name("spec.json")


def build() -> dict[str, Any]:
    import click
    import typer.main

    from . import commands
    from .app import app

    root = typer.main.get_command(app)
    assert isinstance(root, click.Group)
    out: dict[str, Any] = {"groups": [], "commands": {}}

    def func_name(path: str) -> str:
        name = path.replace(" ", "_").replace("-", "_")
        return name if hasattr(commands, name) and name not in ("list", "import") else name + "_"

    def add(path: str, cmd: click.Command) -> None:
        options, args = [], []
        for p in cmd.params:
            if isinstance(p, click.Option):
                tname = ("int" if isinstance(p.type, click.types.IntParamType)
                         else "float" if isinstance(p.type, click.types.FloatParamType) else "str")
                options.append({"name": p.name, "opts": list(p.opts) + list(p.secondary_opts),
                                "flag": bool(p.is_flag), "multiple": bool(p.multiple), "type": tname,
                                "default": None if p.multiple and not p.default else p.default})
            elif isinstance(p, click.Argument):
                args.append({"name": p.name, "nargs": p.nargs, "required": bool(p.required),
                             "default": p.default if p.nargs == 1 else None})
        fname = func_name(path)
        fn = getattr(commands, fname, None)
        names = {p["name"] for p in options} | {a["name"] for a in args}
        fast = fn is not None and set(list(inspect.signature(fn).parameters)[1:]) == names
        out["commands"][path] = {"func": fname, "fast": fast, "options": options, "args": args}

    for name, cmd in sorted(root.commands.items()):
        if isinstance(cmd, click.Group):
            out["groups"].append(name)
            for sub, subcmd in sorted(cmd.commands.items()):
                add(f"{name} {sub}", subcmd)
        else:
            add(name, cmd)
    out["groups"].sort()
    return out


def render() -> str:
    return json.dumps(build(), indent=1, sort_keys=True) + "\n"


if __name__ == "__main__":
    text = render()
    if "--check" in sys.argv:
        sys.exit(0 if SPEC_PATH.exists() and SPEC_PATH.read_text() == text else 1)
    SPEC_PATH.write_text(text)
    print(f"wrote {SPEC_PATH}")
