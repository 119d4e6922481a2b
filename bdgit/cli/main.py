"""Entry point of ``bd``: global flags anywhere, the fast path, and the one error boundary.

Every ``bd`` call is a new process, so start-up is a hot path. The fast path (``fast``)
parses the command line with ``spec.json`` (generated from the declarations) and calls the
command's body directly, without importing typer or click. Anything it does not fully
understand (help, a parse error, an unknown flag) goes to the typer app, which prints the
usual messages.

The boundary: a core error (BdError) prints ``Error: <message>`` and its hint on stderr and,
under ``--json``, its wire form on stdout; it exits with the error's code. Any other
exception is reported the same way as an internal error (exit 70) with its traceback only
under ``--debug``. Ctrl-C prints one line (exit 130); a closed pipe is not an error.
"""
from __future__ import annotations

import os
import sys

from .runtime import Globals


def main(argv: list[str] | None = None) -> None:
    sys.exit(run(sys.argv[1:] if argv is None else argv))


def run(argv: list[str]) -> int:
    """Run one bd command line; returns the exit code (never raises, but SystemExit)."""
    from ..errors import BdError
    g = Globals()
    try:
        from .runtime import split_globals
        g, rest = split_globals(list(argv))
        code = _fast(g, rest)
        if code is None:
            from .app import run as run_typer
            code = run_typer(rest, g)
        return code
    except BdError as e:
        report(e, g)
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
    except Exception as e:
        from ..errors import internal
        if g.debug:
            import traceback
            traceback.print_exc()
        err = internal(e)
        report(err, g)
        return err.exit_code
    finally:
        try:
            g.close()
        except Exception:  # closing a broken backend must not hide what happened
            pass


def report(e: BaseException, g: Globals) -> None:
    """Print a core error: its wire form on stdout under ``--json``, the message and the hint
    on stderr always (identical whichever transport raised it)."""
    from ..errors import BatchFailed, BdError
    assert isinstance(e, BdError)
    if g.json:
        from ..model import dumps_pretty
        payload = e.to_wire()
        if isinstance(e, BatchFailed):
            payload["results"] = e.results
        sys.stdout.write(dumps_pretty(payload) + "\n")
    sys.stderr.write(f"Error: {e.message}\n")
    if e.hint:
        sys.stderr.write(f"  {e.hint}\n")


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
