"""Argument checking shared by every operation: types, ranges and known values.

Each helper raises UsageError (wrong type or shape) or ValidationError (a bad value), with a
message that names the argument, so the daemon and the CLI report the same thing.
"""
from __future__ import annotations

import re
from typing import Any

from .errors import UsageError, ValidationError
from .intake import strings_problem
from .lazyre import Lazy
from .model import DEP_TYPES, ISSUE_TYPES, MAX_TITLE_BYTES, STATUSES

_PRIORITY_RE = Lazy(r"^[pP]?([0-4])$")
PREFIX_RE = Lazy(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")


class Args:
    """Typed access to an operation's ``args`` object; ``op`` names it in messages."""

    def __init__(self, op: str, args: Any) -> None:
        if args is None:
            args = {}
        if not isinstance(args, dict):
            raise UsageError(f"invalid {op} args: expected an object, got {type(args).__name__}")
        why = strings_problem(args)  # e.g. a lone surrogate: SQLite could not store it
        if why:
            raise ValidationError(f"invalid {op} args: {why}",
                                  "send UTF-8 text (undecodable bytes and lone \\ud800-\\udfff escapes cannot be stored)")
        self.op = op
        self.raw = args

    def _bad(self, key: str, want: str) -> UsageError:
        return UsageError(f"invalid {self.op} args: {key} must be {want}, got {self.raw.get(key)!r}")

    def has(self, key: str) -> bool:
        return self.raw.get(key) is not None

    def text(self, key: str, default: str | None = None, *, required: bool = False) -> str | None:
        v = self.raw.get(key)
        if v is None:
            if required:
                raise UsageError(f"invalid {self.op} args: {key} is required")
            return default
        if not isinstance(v, str):
            raise self._bad(key, "a string")
        return v

    def req(self, key: str) -> str:
        v = self.text(key, required=True)
        assert v is not None
        if not v.strip():
            raise UsageError(f"invalid {self.op} args: {key} must not be empty")
        return v

    def integer(self, key: str, default: int | None = None) -> int | None:
        v = self.raw.get(key)
        if v is None or v == "":
            return default
        if isinstance(v, bool):
            raise self._bad(key, "an integer")
        if isinstance(v, int):
            return v
        if isinstance(v, float) and v.is_integer():
            return int(v)
        if isinstance(v, str) and re.fullmatch(r"-?\d+", v.strip()):
            return int(v)
        raise self._bad(key, "an integer")

    def flag(self, key: str, default: bool = False) -> bool:
        v = self.raw.get(key)
        if v is None:
            return default
        if isinstance(v, bool):
            return v
        if isinstance(v, str) and v.lower() in ("true", "1", "yes", "false", "0", "no"):
            return v.lower() in ("true", "1", "yes")
        raise self._bad(key, "a boolean")

    def strlist(self, key: str) -> list[str]:
        """A list of strings; a single comma-separated string is accepted too."""
        v = self.raw.get(key)
        if v is None or v == "":
            return []
        if isinstance(v, str):
            return [p.strip() for p in v.split(",") if p.strip()]
        if isinstance(v, list) and all(isinstance(x, str) for x in v):
            return [x.strip() for x in v if x.strip()]
        raise self._bad(key, "a list of strings")

    def priority(self, key: str = "priority", default: int | None = None) -> int | None:
        v = self.raw.get(key)
        if v is None or v == "":
            return default
        return parse_priority(v)


def parse_priority(v: Any) -> int:
    if isinstance(v, bool):
        raise ValidationError(f"invalid priority {v!r}: use 0-4 (0 is highest) or P0-P4")
    if isinstance(v, int) and 0 <= v <= 4:
        return v
    if isinstance(v, str):
        m = _PRIORITY_RE.match(v.strip())
        if m:
            return int(m.group(1))
    raise ValidationError(f"invalid priority {v!r}: use 0-4 (0 is highest) or P0-P4")


def check_title(title: str) -> str:
    t = title.strip()
    if not t:
        raise ValidationError("title is required", "give the issue a short title")
    if len(t.encode()) > MAX_TITLE_BYTES:
        raise ValidationError(f"title is {len(t.encode())} bytes; at most {MAX_TITLE_BYTES} are allowed",
                              "put the detail in --description")
    return t


def check_status(status: str) -> str:
    if status not in STATUSES:
        raise ValidationError(f"invalid status {status!r}: expected one of {', '.join(STATUSES)}")
    return status


def check_type(issue_type: str) -> str:
    if issue_type not in ISSUE_TYPES:
        raise ValidationError(f"invalid issue type {issue_type!r}: expected one of {', '.join(ISSUE_TYPES)}")
    return issue_type


def check_dep_type(dep_type: str) -> str:
    if dep_type not in DEP_TYPES:
        raise ValidationError(f"invalid dependency type {dep_type!r}: expected one of {', '.join(DEP_TYPES)}")
    return dep_type


def check_label(label: str) -> str:
    lb = label.strip()
    if not lb:
        raise ValidationError("label must not be empty")
    if any(c in lb for c in "\n\r\t,"):
        raise ValidationError(f"invalid label {label!r}: no commas, tabs or newlines")
    return lb


def check_prefix(prefix: str) -> str:
    p = prefix.strip().rstrip("-")
    if not p or len(p) > 20 or not PREFIX_RE.match(p):
        raise ValidationError(
            f"invalid prefix {prefix!r}: use 1-20 lowercase letters, digits and inner hyphens, "
            "starting with a letter")
    return p
