"""Ctrl-C prints one line, whenever it comes.

A ``bd`` process spends its first tens of milliseconds importing. Python's own SIGINT handler
would raise KeyboardInterrupt inside whichever import is running and print a long traceback.
So the CLI takes SIGINT over as early as it can (:func:`install_early`): until a command body
runs, Ctrl-C writes ``Interrupted`` and exits 130 at once (nothing has been written yet). While a
command runs (:func:`raising`), Ctrl-C raises KeyboardInterrupt so that transactions roll back
and temp files go; the CLI's boundary reports it in one line. After that (:func:`settle`), a
further Ctrl-C ends the process without another word.

Only the ``bd`` process itself is affected: nothing is installed when bd's CLI is imported as a
library (another program's SIGINT handling stays its own) or outside the main thread.
"""
from __future__ import annotations

import _signal
import os
import sys
from typing import Any

EXIT_INTERRUPTED = 130
_ours = False
_exit_code = EXIT_INTERRUPTED


def _exit_now(signum: int, frame: Any) -> None:
    try:
        os.write(2, b"Interrupted\n")
    except OSError:
        pass
    os._exit(EXIT_INTERRUPTED)


def _exit_quietly(signum: int, frame: Any) -> None:
    os._exit(_exit_code)


def _is_bd_process() -> bool:
    """The console script ``bd``, ``python -m bdgit...`` (argv[0] is "-m" while the package
    imports), or bdgit's own ``__main__.py``; never another program that imports bdgit."""
    argv0 = sys.argv[0] if sys.argv and sys.argv[0] else ""
    if argv0 == "-m" or os.path.basename(argv0) == "bd":
        return True
    return os.path.basename(argv0) == "__main__.py" and os.path.basename(os.path.dirname(argv0)) == "bdgit"


def _set(handler: Any) -> bool:
    try:
        _signal.signal(_signal.SIGINT, handler)
    except (ValueError, OSError):  # not the main thread
        return False
    return True


def install_early() -> None:
    """In the ``bd`` process, before its heavy imports: Ctrl-C exits at once with one line.
    Leaves SIGINT alone when someone else set it up (an ignored SIGINT stays ignored)."""
    global _ours
    if _ours or not _is_bd_process():
        return
    if _signal.getsignal(_signal.SIGINT) is not _signal.default_int_handler:
        return
    _ours = _set(_exit_now)
    if _ours:
        # A parent that held SIGINT back while the interpreter started (blocked across exec)
        # gets it handled now, by the handler above, in one line.
        try:
            _signal.pthread_sigmask(_signal.SIG_UNBLOCK, [_signal.SIGINT])
        except (AttributeError, OSError, ValueError):
            pass


def raising() -> None:
    """A command body is about to run: Ctrl-C raises KeyboardInterrupt again."""
    if _ours:
        _set(_signal.default_int_handler)


def settle(code: int = EXIT_INTERRUPTED) -> None:
    """The command ended (or was interrupted and reported): a later Ctrl-C exits with ``code``,
    silently, after what was printed is flushed."""
    global _exit_code
    if not _ours:
        return
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    _exit_code = code
    _set(_exit_quietly)
