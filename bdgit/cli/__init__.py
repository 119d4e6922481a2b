"""The ``bd`` command line: main.py (entry, the error boundary), runtime.py (global flags,
backend), decl.py (command declarations), commands/ (what each command does), render.py
(human output), sigint.py (Ctrl-C in one line; installed by the package's ``__init__``)."""
