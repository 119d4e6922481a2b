"""Generate ``spec.json`` (what the fast path parses with) from the command declarations.

Run ``python -m bdgit.cli.genspec`` after changing a command's parameters; a test fails while
the committed file is out of date. Each command names its body as ``module:function``.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from .decl import GROUPS, REQUIRED, Arg, load_all, params_of, base_type

SPEC_PATH = Path(__file__).with_name("spec.json")


def build() -> dict[str, Any]:
    out: dict[str, Any] = {"groups": sorted(GROUPS), "commands": {}}
    for path, cmd in sorted(load_all().items()):
        options, args = [], []
        for name, t, marker, default in params_of(cmd):
            kind, many = base_type(t)
            if isinstance(marker, Arg):
                args.append({"name": name, "nargs": -1 if many else 1, "required": default is REQUIRED,
                             "default": None if default is REQUIRED or many else default})
            else:
                options.append({"name": name, "opts": list(marker.decls), "flag": kind == "bool",
                                "multiple": many, "type": kind,
                                "default": None if many or default is REQUIRED else default})
        out["commands"][path] = {"func": cmd.ref, "fast": cmd.fast and not cmd.passthrough,
                                 "options": options, "args": args}
    return out


def render() -> str:
    return json.dumps(build(), indent=1, sort_keys=True) + "\n"


if __name__ == "__main__":
    text = render()
    if "--check" in sys.argv:
        sys.exit(0 if SPEC_PATH.exists() and SPEC_PATH.read_text() == text else 1)
    SPEC_PATH.write_text(text)
    print(f"wrote {SPEC_PATH}")
