"""Entry point of ``bd``: global flags anywhere, a fast path, and the error boundary.

Every ``bd`` call is a new process, so start-up is a hot path. The fast path parses the
command line with ``spec.json`` (generated from the typer app, checked by a test) and calls
the command body directly, without importing typer or click. Anything it does not fully
understand (help, a parse error, an unknown flag) goes to the typer app, which then prints
the usual messages. Core errors (BdError) are reported here: what happened, what to do next,
and an exit code.
"""
from __future__ import annotations

import os
import sys
from typing import Any

from .commands import Globals

GLOBALS = Globals()

_VALUE_FLAGS = {"--db": "db", "--actor": "actor", "--timeout": "timeout"}
_BOOL_FLAGS = {"--json": "json", "--no-daemon": "no_daemon", "--no-auto-flush": "no_auto_flush",
               "--no-auto-import": "no_auto_import"}


def split_globals(argv: list[str]) -> tuple[Globals, list[str]]:
    """Take the global flags out of ``argv`` wherever they are (until a ``--``).

    Raises ValueError for a value flag with no value.
    """
    g = Globals()
    rest: list[str] = []
    i = 0
    while i < len(argv):
        tok = argv[i]
        if tok == "--":
            rest.extend(argv[i:])
            break
        name, eq, val = tok.partition("=")
        if name in _VALUE_FLAGS:
            if not eq:
                if i + 1 >= len(argv):
                    raise ValueError(f"{name} needs a value")
                val = argv[i + 1]
                i += 1
            setattr(g, _VALUE_FLAGS[name], val)
        elif tok in _BOOL_FLAGS:
            setattr(g, _BOOL_FLAGS[tok], True)
        else:
            rest.append(tok)
        i += 1
    if g.timeout is None and os.environ.get("BD_TIMEOUT"):
        g.timeout = os.environ["BD_TIMEOUT"]  # type: ignore[assignment]
    if g.timeout is not None:
        try:
            g.timeout = float(g.timeout)
        except ValueError:
            raise ValueError(f"--timeout needs a number of seconds, got {g.timeout!r}") from None
        if g.timeout <= 0:
            raise ValueError("--timeout must be positive")
    return g, rest


def main(argv: list[str] | None = None) -> None:
    sys.exit(run(sys.argv[1:] if argv is None else argv))


def run(argv: list[str]) -> int:
    """Run one bd command line; returns the exit code (never raises for expected errors)."""
    global GLOBALS
    from ..errors import BdError
    try:
        GLOBALS, rest = split_globals(list(argv))
    except ValueError as e:
        sys.stderr.write(f"Error: {e}\n")
        return 2
    try:
        code = _fast(rest)
        if code is None:
            code = _slow(rest)
        return code
    except BdError as e:
        _report(e)
        return e.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("Interrupted\n")
        return 130
    except BrokenPipeError:
        # the reader went away (bd list | head): not our error
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 0
    finally:
        b = GLOBALS._backend
        if b is not None:
            b.close()


def _report(e: Any) -> None:
    if GLOBALS.json:
        from ..model import dumps_pretty
        payload = {"error": e.message, "kind": e.kind}
        if e.hint:
            payload["hint"] = e.hint
        results = getattr(e, "results", None)
        if results is not None:
            payload["results"] = results
        sys.stdout.write(dumps_pretty(payload) + "\n")
    sys.stderr.write(f"Error: {e.message}\n")
    if e.hint:
        sys.stderr.write(f"  {e.hint}\n")


def _slow(rest: list[str]) -> int:
    from .app import app
    try:
        app(args=rest, prog_name="bd", standalone_mode=True)
    except SystemExit as e:
        code = e.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0


# --- fast path -----------------------------------------------------------------------------

_SPEC: dict[str, Any] | None = None


def _load_spec() -> dict[str, Any] | None:
    global _SPEC
    if _SPEC is None:
        import json
        path = os.path.join(os.path.dirname(__file__), "spec.json")
        try:
            with open(path, encoding="utf-8") as f:
                _SPEC = json.load(f)
        except (OSError, ValueError):
            _SPEC = {}
    return _SPEC or None


def parse_fast(spec: dict[str, Any], tokens: list[str]) -> tuple[str, dict[str, Any]] | None:
    """(function name, params) when ``tokens`` parse cleanly against ``spec``; else None."""
    if not tokens:
        return None
    cmds = spec["commands"]
    path, i = tokens[0], 1
    if path in spec["groups"]:
        if len(tokens) < 2:
            return None
        path, i = f"{path} {tokens[1]}", 2
    cmd = cmds.get(path)
    if cmd is None or not cmd["fast"]:
        return None
    opts: dict[str, dict[str, Any]] = {}
    for p in cmd["options"]:
        for o in p["opts"]:
            opts[o] = p
    values: dict[str, Any] = {}
    positional: list[str] = []
    toks = tokens[i:]
    j = 0
    while j < len(toks):
        tok = toks[j]
        j += 1
        if tok == "--":
            positional.extend(toks[j:])
            break
        if tok in ("-h", "--help"):
            return None
        if tok.startswith("-") and len(tok) > 1 and not _is_number(tok):
            name, eq, val = tok.partition("=") if tok.startswith("--") else (tok[:2], "", tok[2:])
            p = opts.get(name)
            if p is None:
                return None
            if p["flag"]:
                if eq or val:
                    return None
                values[p["name"]] = True
                continue
            if not eq and not val:
                if j >= len(toks):
                    return None
                val = toks[j]
                j += 1
            conv = _convert(p, val)
            if conv is _BAD:
                return None
            if p["multiple"]:
                values.setdefault(p["name"], []).append(conv)
            else:
                values[p["name"]] = conv
            continue
        positional.append(tok)
    for p in cmd["options"]:
        values.setdefault(p["name"], p["default"])
    args = cmd["args"]
    fixed = [a for a in args if a["nargs"] == 1]
    var = [a for a in args if a["nargs"] != 1]
    if len(var) > 1 or len(positional) < sum(1 for a in fixed if a["required"]):
        return None
    if not var and len(positional) > len(fixed):
        return None
    k = 0
    for a in args:
        if a["nargs"] == 1:
            if k < len(positional):
                values[a["name"]] = positional[k]
                k += 1
            elif a["required"]:
                return None
            else:
                values[a["name"]] = a["default"]
        else:
            n_after = sum(1 for b in args[args.index(a) + 1:] if b["nargs"] == 1)
            take = positional[k:len(positional) - n_after]
            k += len(take)
            if not take and a["required"]:
                return None
            values[a["name"]] = take or None
    if k != len(positional):
        return None
    return cmd["func"], values


_BAD = object()


def _is_number(tok: str) -> bool:
    try:
        float(tok)
        return True
    except ValueError:
        return False


def _convert(p: dict[str, Any], val: str) -> Any:
    t = p["type"]
    try:
        if t == "int":
            return int(val)
        if t == "float":
            return float(val)
    except ValueError:
        return _BAD
    return val


def _fast(rest: list[str]) -> int | None:
    if os.environ.get("BD_NO_FAST_PATH"):
        return None
    spec = _load_spec()
    if spec is None:
        return None
    parsed = parse_fast(spec, rest)
    if parsed is None:
        return None
    func, params = parsed
    from . import commands
    return getattr(commands, func)(GLOBALS, **params)
