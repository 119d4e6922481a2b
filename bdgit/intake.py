"""What brings issues in passes the same checks, whatever the door.

``bd create``, ``bd import``, auto-import of a pulled JSONL, the merge driver and requests on the
daemon's socket all call these, so an issue refused by one is refused by all:

- :func:`check_id` / :func:`check_dep_target`: one ID syntax (``<prefix>-<suffix>``, letters,
  digits, ``_ . -``; no ``..``, no ``/``, no control characters), and ``external:<project>:<id>``
  for a dependency on another project;
- :func:`check_text` / :func:`check_strings`: text must be Unicode that can be stored (a lone
  surrogate, from ``\\ud800`` in JSON or undecodable bytes on a command line, is a
  ValidationError, not an internal error);
- :func:`loads`: JSON nested too deeply to parse is a ValueError like any other malformed JSON
  (no RecursionError);
- :func:`read_input`: ``bd import``'s input is a regular file, a pipe or a terminal, read with a
  bound; a device (``/dev/zero``) or a directory is refused before anything is read.
"""
from __future__ import annotations

import json
import os
import stat
from typing import Any

from .errors import UsageError, ValidationError
from .lazyre import Lazy

#: bytes ``bd import`` (and the workspace JSONL) may hold; BD_MAX_INPUT_BYTES overrides
MAX_INPUT = 256 * 1024 * 1024
MAX_ID_LEN = 255
ID_RE = Lazy(r"[A-Za-z][A-Za-z0-9_.-]*-[A-Za-z0-9.]+")
_EXTERNAL_RE = Lazy(r"external:[A-Za-z0-9_.-]+:[A-Za-z0-9_.:-]+")
ID_HINT = "IDs look like <prefix>-<suffix>: letters, digits, '_', '.' and '-' (e.g. bd-42, bd-a3f8.1)"


def max_input() -> int:
    v = os.environ.get("BD_MAX_INPUT_BYTES")
    return int(v) if v and v.isdigit() else MAX_INPUT


def id_problem(value: Any) -> str | None:
    """Why ``value`` is not a valid issue ID, or None when it is one."""
    if not isinstance(value, str):
        return f"must be a string, got {type(value).__name__}"
    if len(value) > MAX_ID_LEN:
        return f"is {len(value)} characters long; at most {MAX_ID_LEN} are allowed"
    if not ID_RE.fullmatch(value) or ".." in value:
        return "is not a valid issue ID"
    return None


def check_id(value: Any, what: str = "id") -> str:
    """``value`` as an issue ID; raises ValidationError naming ``what``."""
    why = id_problem(value)
    if why:
        raise ValidationError(f"invalid {what} {value!r}: {why}", ID_HINT)
    return value  # type: ignore[no-any-return]


def dep_target_problem(value: Any) -> str | None:
    """Why ``value`` cannot be the target of a dependency (an issue ID, or
    ``external:<project>:<id>``), or None."""
    if isinstance(value, str) and value.startswith("external:"):
        if len(value) <= MAX_ID_LEN and _EXTERNAL_RE.fullmatch(value) and ".." not in value:
            return None
        return "is not a valid external reference (external:<project>:<id>)"
    return id_problem(value)


def check_dep_target(value: Any, what: str = "dependency") -> str:
    why = dep_target_problem(value)
    if why:
        raise ValidationError(f"invalid {what} {value!r}: {why}", ID_HINT)
    return value  # type: ignore[no-any-return]


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored as text (a lone surrogate), or None."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        return (f"is not valid Unicode text: a lone surrogate U+{ord(value[e.start]):04X} at character "
                f"{e.start}")
    return None


def check_text(value: str, what: str) -> str:
    why = text_problem(value)
    if why:
        raise ValidationError(f"{what} {why}", "send UTF-8 text (undecodable bytes and lone \\ud800-\\udfff "
                              "escapes cannot be stored)")
    return value


def strings_problem(obj: Any, where: str = "") -> str | None:
    """The first string inside ``obj`` (dicts, lists; keys too) that cannot be stored, as
    ``"<where> <why>"``; None when every one can."""
    stack: list[tuple[Any, str]] = [(obj, where)]
    while stack:
        o, w = stack.pop()
        if isinstance(o, str):
            why = text_problem(o)
            if why:
                return f"{w or 'a value'} {why}"
        elif isinstance(o, dict):
            for k, v in o.items():
                if isinstance(k, str) and text_problem(k):
                    return f"a key in {w or 'the request'} {text_problem(k)}"
                stack.append((v, f"{w}.{k}" if w else str(k)))
        elif isinstance(o, list):
            stack.extend((v, f"{w}[{n}]") for n, v in enumerate(o))
    return None


def check_strings(obj: Any, where: str = "") -> None:
    why = strings_problem(obj, where)
    if why:
        raise ValidationError(why, "send UTF-8 text (undecodable bytes and lone \\ud800-\\udfff escapes "
                              "cannot be stored)")


def loads(text: str | bytes) -> Any:
    """``json.loads``; JSON nested too deeply for the parser raises ValueError too."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def read_input(path: str, limit: int | None = None) -> str:
    """The text of ``bd import``'s input: ``-`` (stdin) or a path the user named.

    Regular files, pipes, FIFOs and terminals are read, at most ``limit`` bytes (default
    :func:`max_input`); devices and directories are refused before anything is read. Raises
    UsageError (not found, not readable, not a file, not UTF-8) or ValidationError (too large)."""
    limit = max_input() if limit is None else limit
    name = "standard input" if path == "-" else path
    if path == "-":
        import sys
        try:
            fd = sys.stdin.fileno()
        except (AttributeError, OSError, ValueError):  # stdin replaced by a text stream (in-process use)
            text = sys.stdin.read(limit + 1)
            if len(text.encode("utf-8", "surrogateescape")) > limit:
                raise ValidationError(f"{name} holds more than {limit} bytes; bd imports at most that",
                                      "split the input, or raise BD_MAX_INPUT_BYTES") from None
            return text
    else:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            raise UsageError(f"file not found: {path}") from None
        except OSError as e:
            raise UsageError(f"cannot read {path}: {e.strerror}") from None
        if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) or stat.S_ISDIR(st.st_mode):
            kind = "a directory" if stat.S_ISDIR(st.st_mode) else "a device"
            raise UsageError(f"{path} is {kind}, not a file of issues", "give a JSONL file, or '-' for standard input")
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOCTTY)
        except OSError as e:
            raise UsageError(f"cannot read {path}: {e.strerror}") from None
    try:
        st = os.fstat(fd)
        if path == "-" and (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)) and not os.isatty(fd):
            raise UsageError("standard input is a device, not a file of issues",
                             "redirect a JSONL file into it, or use -i FILE")
        if stat.S_ISREG(st.st_mode) and st.st_size > limit:
            raise ValidationError(f"{name} is {st.st_size} bytes; bd imports at most {limit}",
                                  "split the file, or raise BD_MAX_INPUT_BYTES")
        chunks: list[bytes] = []
        total = 0
        while True:
            try:
                chunk = os.read(fd, 1 << 20)
            except OSError as e:
                raise UsageError(f"cannot read {name}: {e.strerror}") from None
            if not chunk:
                break
            total += len(chunk)
            if total > limit:
                raise ValidationError(f"{name} holds more than {limit} bytes; bd imports at most that",
                                      "split the input, or raise BD_MAX_INPUT_BYTES")
            chunks.append(chunk)
    finally:
        if path != "-":
            os.close(fd)
    data = b"".join(chunks)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise UsageError(f"{name} is not UTF-8 text (line {line}, byte {e.start})") from None
