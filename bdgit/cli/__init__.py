"""The ``bd`` command line: main.py (entry, the error boundary), runtime.py (global flags,
backend), decl.py (command declarations), commands/ (what each command does), render.py
(human output).

Importing it in the ``bd`` process takes SIGINT over first (see ``sigint``), so that a Ctrl-C
during the imports that follow prints one line, not a traceback."""
from .sigint import install_early

install_early()
