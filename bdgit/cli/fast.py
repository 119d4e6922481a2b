"""The fast path's parser: a command line against ``spec.json``, without typer or click.

``parse`` returns the body to call and its keyword arguments when the line parses cleanly,
and None for anything it does not fully understand (``--help``, an unknown flag, a value of
the wrong type, a missing argument): typer then parses the line and prints its usual message.
"""
from __future__ import annotations

import os
from typing import Any

_SPEC: dict[str, Any] | None = None
_BAD = object()


def load_spec() -> dict[str, Any] | None:
    """``spec.json`` (cached), or None when it is missing or unreadable."""
    global _SPEC
    if _SPEC is None:
        import json
        try:
            with open(os.path.join(os.path.dirname(__file__), "spec.json"), encoding="utf-8") as f:
                _SPEC = json.load(f)
        except (OSError, ValueError):
            _SPEC = {}
    return _SPEC or None


def parse(spec: dict[str, Any], tokens: list[str]) -> tuple[str, dict[str, Any]] | None:
    """(``module:function``, params) when ``tokens`` parse cleanly against ``spec``; else None."""
    if not tokens:
        return None
    path, i = tokens[0], 1
    if path in spec["groups"]:
        if len(tokens) < 2:
            return None
        path, i = f"{path} {tokens[1]}", 2
    cmd = spec["commands"].get(path)
    if cmd is None or not cmd["fast"]:
        return None
    got = _options(cmd, tokens[i:])
    if got is None:
        return None
    values, positional = got
    if not _bind(cmd["args"], positional, values):
        return None
    return cmd["func"], values


def normalize_flags(spec: dict[str, Any], tokens: list[str]) -> list[str]:
    """Rewrite ``--flag=true|false`` of the command's boolean flags into what both parsers
    take (``--flag`` or nothing), as beads' clients write them (``list --tree=false``).
    Raises UsageError for another value."""
    if not tokens or not spec:
        return tokens
    path, i = tokens[0], 1
    if path in spec["groups"] and len(tokens) > 1:
        path, i = f"{path} {tokens[1]}", 2
    cmd = spec["commands"].get(path)
    if cmd is None:
        return tokens
    flags = {o for p in cmd["options"] if p["flag"] for o in p["opts"] if o.startswith("--")}
    out = tokens[:i]
    for j, tok in enumerate(tokens[i:], i):
        if tok == "--":
            out.extend(tokens[j:])
            break
        name, eq, val = tok.partition("=")
        if eq and name in flags:
            from .runtime import bool_value
            if bool_value(name, val):
                out.append(name)
            continue
        out.append(tok)
    return out


def _options(cmd: dict[str, Any], toks: list[str]) -> tuple[dict[str, Any], list[str]] | None:
    """Option values (defaults filled in) and the positional tokens, or None."""
    opts = {o: p for p in cmd["options"] for o in p["opts"]}
    values: dict[str, Any] = {}
    positional: list[str] = []
    j = 0
    while j < len(toks):
        tok = toks[j]
        j += 1
        if tok == "--":
            positional.extend(toks[j:])
            break
        if tok in ("-h", "--help"):
            return None
        if not tok.startswith("-") or len(tok) == 1 or _is_number(tok):
            positional.append(tok)
            continue
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
        conv = _convert(p["type"], val)
        if conv is _BAD:
            return None
        if p["multiple"]:
            values.setdefault(p["name"], []).append(conv)
        else:
            values[p["name"]] = conv
    for p in cmd["options"]:
        values.setdefault(p["name"], p["default"])
    return values, positional


def _bind(args: list[dict[str, Any]], positional: list[str], values: dict[str, Any]) -> bool:
    """Assign positional tokens to the declared arguments (at most one takes many)."""
    fixed = [a for a in args if a["nargs"] == 1]
    many = [a for a in args if a["nargs"] != 1]
    if len(many) > 1 or len(positional) < sum(1 for a in fixed if a["required"]):
        return False
    if not many and len(positional) > len(fixed):
        return False
    k = 0
    for n, a in enumerate(args):
        if a["nargs"] == 1:
            if k < len(positional):
                values[a["name"]] = positional[k]
                k += 1
            elif a["required"]:
                return False
            else:
                values[a["name"]] = a["default"]
            continue
        after = sum(1 for b in args[n + 1:] if b["nargs"] == 1)
        take = positional[k:len(positional) - after]
        k += len(take)
        if not take and a["required"]:
            return False
        values[a["name"]] = take or None
    return k == len(positional)


def _is_number(tok: str) -> bool:
    try:
        float(tok)
        return True
    except ValueError:
        return False


def _convert(kind: str, val: str) -> Any:
    try:
        if kind == "int":
            return int(val)
        if kind == "float":
            return float(val)
    except ValueError:
        return _BAD
    return val
