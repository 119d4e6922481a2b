"""Entry point of ``bd``: global flags anywhere, the fast path, and the one error boundary.

Every ``bd`` call is a new process, so start-up is a hot path. The fast path (``fast``)
parses the command line with ``spec.json`` (generated from the declarations) and calls the
command's body directly, without importing typer or click. Anything it does not fully
understand (help, a parse error, an unknown flag) goes to the typer app, which prints the
usual messages.

The boundary: a core error (BdError) prints ``Error: <message>`` and its hint on stderr and,
under ``--json``, its wire form on stdout; it exits with the error's code. Any other
exception is reported the same way as an internal error (exit 70) with its traceback only
under ``--debug``; a failing disk (OSError) is a storage error naming the file. Ctrl-C prints one
line (exit 130) at any moment (see ``sigint``); a closed pipe is not an error. Messages are
cleaned of terminal control characters (they may quote data). A write that was committed but
could not be exported prints its report after the command's output and exits 4.
"""
from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from .runtime import Globals

if TYPE_CHECKING:
    from ..errors import StorageError


def main(argv: list[str] | None = None) -> None:
    sys.exit(run(sys.argv[1:] if argv is None else argv))


def run(argv: list[str]) -> int:
    """Run one bd command line; returns the exit code (never raises, but SystemExit)."""
    from ..errors import BdError
    from . import sigint
    g = Globals()
    code = sigint.EXIT_INTERRUPTED
    sigint.raising()
    try:
        from .runtime import split_globals
        g, rest = split_globals(list(argv))
        from .fast import load_spec, normalize_flags
        rest = normalize_flags(load_spec() or {}, rest)
        if rest[:1] in (["--version"], ["-V"]):
            rest = ["version", *rest[1:]]
        if rest in ([], ["-h"], ["--help"]):
            rest = ["help"]
        if (len(rest) >= 2 and rest[0] == "daemon" and ("-h" in rest or "--help" in rest)):
            from .commands.daemon import ACTION_HELP, action_help
            if rest[1] in ACTION_HELP:
                sys.stdout.write(action_help(rest[1]) + "\n")
                return 0
        fast = _fast(g, rest)
        if fast is None:
            from .app import run as run_typer
            code = run_typer(rest, g)
        else:
            code = fast
        unexported = g.unexported or getattr(g._backend, "export_error", None)
        if code == 0 and unexported is not None:
            report(unexported, g, wire=False)  # after the command's own output
            code = unexported.exit_code
        return code
    except BdError as e:
        report(e, g)
        code = e.exit_code
        return code
    except KeyboardInterrupt:
        sigint.settle()  # a second Ctrl-C ends it silently
        sys.stderr.write("Interrupted\n")
        return 130
    except BrokenPipeError:
        # the reader went away (bd list | head): not our error
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 0
    except OSError as e:
        if g.debug:
            import traceback
            traceback.print_exc()
        failed = storage_error(e)
        report(failed, g)
        code = failed.exit_code
        return code
    except Exception as e:
        from ..errors import internal
        if g.debug:
            import traceback
            traceback.print_exc()
        err = internal(e)
        report(err, g)
        code = err.exit_code
        return code
    finally:
        try:
            g.close()
        except Exception:  # closing a broken backend must not hide what happened
            pass
        sigint.settle(code)


def report(e: BaseException, g: Globals, *, wire: bool = True) -> None:
    """Print a core error: its wire form on stdout under ``--json`` (unless ``wire`` is False:
    the command already printed its JSON), the message and the hint on stderr always
    (identical whichever transport raised it; control characters escaped)."""
    from ..errors import BatchFailed, BdError, NotExportedError
    from .safetext import clean
    assert isinstance(e, BdError)
    if g.json and wire:
        from ..model import dumps_pretty
        payload = e.to_wire()
        if isinstance(e, BatchFailed):
            payload["results"] = e.results
        sys.stdout.write(dumps_pretty(payload) + "\n")
    label = "Warning" if isinstance(e, NotExportedError) else "Error"
    sys.stderr.write(f"{label}: {clean(e.message)}\n")
    if e.hint:
        sys.stderr.write(f"  {clean(e.hint)}\n")


def storage_error(e: OSError) -> StorageError:
    """An OSError that reached the boundary (a full disk, permissions) as a core error naming
    the file and the reason, with what to do."""
    import errno as en
    where = f"{e.filename}: " if e.filename else ""
    if e.errno == en.ENOSPC:
        hint = "free some disk space, then run the command again"
    elif e.errno in (en.EACCES, en.EPERM, en.EROFS):
        hint = "check the permissions of the file and its directory (or a read-only disk)"
    else:
        hint = "check the disk, then run the command again"
    from ..errors import StorageError
    return StorageError(f"{where}{e.strerror or e}", hint, errno=e.errno)


def _fast(g: Globals, rest: list[str]) -> int | None:
    """Run the command through the fast path, or None when it must go to typer."""
    if os.environ.get("BD_NO_FAST_PATH") or "_BD_COMPLETE" in os.environ:
        return None
    from .fast import load_spec, parse
    spec = load_spec()
    if spec is None:
        return None
    parsed = parse(spec, rest)
    if parsed is None:
        return None
    ref, params = parsed
    module, _, func = ref.partition(":")
    body = getattr(__import__(module, fromlist=[func]), func)  # no importlib: it is not loaded yet
    return body(g, **params)  # type: ignore[no-any-return]
