"""The ``bd`` command line: main.py (entry, global flags, fast path), app.py (typer
declarations), commands.py (what each command does), render.py (human output)."""
