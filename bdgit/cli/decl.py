"""How a ``bd`` command is declared: once, as its body's signature.

A command is a function ``body(g, **params) -> exit code`` decorated with ``@command``; each
parameter after ``g`` is annotated ``Annotated[<type>, Opt(...)]`` or ``Annotated[<type>,
Arg(...)]`` and its Python default is the flag's default::

    @command("ready", examples=["bd ready -n 5 --json"])
    def ready(g: Globals, limit: Annotated[int, Opt("-n", "--limit", help="At most this many.")] = 10) -> int:
        \"\"\"Show work that is ready: open, and nothing open blocks it.\"\"\"

Everything else is generated from these declarations: ``spec.json`` (what the fast path
parses with, ``genspec``), the typer app (``app.build``), ``docs/CLI.md`` (``gendocs``) and
shell completion (``bd completion``, from the typer app). Both paths call the body with keyword
arguments, so the two cannot disagree on the order of parameters.

Light on purpose (no typer, no inspect): every ``bd`` process imports the module that holds
its command, and with it this one. The markers are only read when generating.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: the modules that hold command bodies (imported by the generators and the typer app)
COMMAND_MODULES = (
    "bdgit.cli.commands.issues", "bdgit.cli.commands.graph", "bdgit.cli.commands.data",
    "bdgit.cli.commands.daemon", "bdgit.cli.commands.git", "bdgit.cli.commands.setup",
    "bdgit.cli.commands.clients",
    "bdgit.cli.commands.agents",
)

#: command groups (``bd dep add``): name -> help
GROUPS = {
    "dep": "Manage dependencies between issues.",
    "label": "Manage issue labels.",
    "config": "Read and set workspace configuration.",
    "hooks": "Install, check or remove bd's git hooks.",
    "epic": "Epic progress and closing.",
    "template": "Issue templates.",
    "audit": "Record and label agent interactions (.beads/interactions.jsonl).",
}


class Arg:
    """A positional argument. A ``list[str]`` type takes any number of values."""

    __slots__ = ("help", "metavar")

    def __init__(self, help: str = "", *, metavar: str | None = None) -> None:
        self.help = help
        self.metavar = metavar


class Opt:
    """An option: its flag names (``"-p", "--priority"``) and help. A ``bool`` type is a flag;
    a ``list[str]`` type may be repeated."""

    __slots__ = ("decls", "help", "hidden")

    def __init__(self, *decls: str, help: str = "", hidden: bool = False) -> None:
        if not decls or not all(d.startswith("-") for d in decls):
            raise ValueError(f"an option needs flag names starting with '-': {decls!r}")
        self.decls = decls
        self.help = help
        self.hidden = hidden


class Command:
    """One declared command: its path (``"dep add"``), body and documentation."""

    __slots__ = ("path", "func", "help", "examples", "hidden", "fast", "passthrough")

    def __init__(self, path: str, func: Callable[..., int], help: str, examples: tuple[str, ...],
                 hidden: bool, fast: bool, passthrough: bool) -> None:
        self.path = path
        self.func = func
        self.help = help
        self.examples = examples
        self.hidden = hidden
        #: the fast path may run it (False: always through typer, e.g. ``help``)
        self.fast = fast
        #: unknown options are passed to the body as arguments (``hooks run``: git's own)
        self.passthrough = passthrough

    @property
    def ref(self) -> str:
        """``module:function``, as written into spec.json."""
        return f"{self.func.__module__}:{self.func.__name__}"

    def __repr__(self) -> str:
        return f"Command({self.path!r}, {self.ref})"


#: every command, in declaration order (filled as the command modules are imported)
REGISTRY: dict[str, Command] = {}


def command(path: str, *, examples: tuple[str, ...] | list[str] = (), hidden: bool = False,
            fast: bool = True, passthrough: bool = False,
            help: str | None = None) -> Callable[[Callable[..., int]], Callable[..., int]]:
    """Declare ``path`` (``"list"``, ``"dep add"``) with the decorated body. Its help is the
    body's docstring unless ``help`` is given. Raises ValueError for a path declared twice."""
    def deco(fn: Callable[..., int]) -> Callable[..., int]:
        if path in REGISTRY:
            raise ValueError(f"command {path!r} is declared twice")
        text = help if help is not None else _clean_doc(fn.__doc__ or "")
        REGISTRY[path] = Command(path, fn, text, tuple(examples), hidden, fast, passthrough)
        return fn
    return deco


def _clean_doc(doc: str) -> str:
    """A docstring without its indentation (``inspect.cleandoc``, without importing inspect)."""
    lines = doc.strip().splitlines()
    rest = [ln for ln in lines[1:] if ln.strip()]
    indent = min((len(ln) - len(ln.lstrip()) for ln in rest), default=0)
    return "\n".join([lines[0].strip(), *[ln[indent:] for ln in lines[1:]]]) if lines else ""


class GlobalFlag:
    """A flag accepted anywhere on the command line (before or after the command)."""

    __slots__ = ("name", "decl", "kind", "help")

    def __init__(self, name: str, decl: str, kind: str, help: str) -> None:
        self.name = name    # attribute of Globals
        self.decl = decl    # "--json"
        self.kind = kind    # "bool" | "str" | "float"
        self.help = help


GLOBAL_FLAGS: tuple[GlobalFlag, ...] = (
    GlobalFlag("db", "--db", "str", "Database path (default: the nearest .beads/*.db; env BEADS_DB, or "
                                    "BEADS_DIR for the .beads directory)."),
    GlobalFlag("actor", "--actor", "str", "Who is acting, for the audit trail (env BD_ACTOR; default $USER)."),
    GlobalFlag("json", "--json", "bool", "Machine-readable JSON output."),
    GlobalFlag("no_daemon", "--no-daemon", "bool", "Run in this process even if a daemon runs."),
    GlobalFlag("no_auto_flush", "--no-auto-flush", "bool", "Do not update the JSONL after writes."),
    GlobalFlag("no_auto_import", "--no-auto-import", "bool", "Do not import a changed JSONL first."),
    GlobalFlag("timeout", "--timeout", "float", "Daemon request timeout in seconds (env BD_TIMEOUT)."),
    GlobalFlag("debug", "--debug", "bool", "Show the traceback of an unexpected error (env BD_DEBUG=1)."),
    GlobalFlag("sandbox", "--sandbox", "bool", "Sandbox: never start a daemon, never reach a remote (a running "
                                               "daemon is still used)."),
    GlobalFlag("readonly", "--readonly", "bool", "Refuse every command that would change the database."),
)


def load_all() -> dict[str, Command]:
    """Import every command module; returns the commands in their declaration order (module
    order of COMMAND_MODULES, then source order), whatever was imported first."""
    import importlib
    for name in COMMAND_MODULES:
        importlib.import_module(name)

    def order(c: Command) -> tuple[int, int]:
        return COMMAND_MODULES.index(c.func.__module__), c.func.__code__.co_firstlineno
    return {c.path: c for c in sorted(REGISTRY.values(), key=order)}


def params_of(cmd: Command) -> list[tuple[str, Any, Arg | Opt, Any]]:
    """``(name, type, marker, default)`` for each parameter of ``cmd`` after ``g``; the default
    is ``REQUIRED`` when there is none. Raises TypeError for a parameter without a marker."""
    import inspect
    import typing
    hints = typing.get_type_hints(cmd.func, include_extras=True)
    out: list[tuple[str, Any, Arg | Opt, Any]] = []
    for i, (name, p) in enumerate(inspect.signature(cmd.func).parameters.items()):
        if i == 0:
            continue  # g: the invocation's globals
        hint = hints.get(name)
        meta = getattr(hint, "__metadata__", ())
        markers = [m for m in meta if isinstance(m, (Arg, Opt))]
        if len(markers) != 1:
            raise TypeError(f"{cmd.path}: parameter {name!r} needs exactly one Arg(...) or Opt(...) marker")
        default = REQUIRED if p.default is inspect.Parameter.empty else p.default
        out.append((name, hint.__origin__, markers[0], default))  # type: ignore[union-attr]
    return out


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


def base_type(t: Any) -> tuple[str, bool]:
    """``(scalar kind, is_list)`` of a parameter type: kind is str, int, float or bool."""
    import types
    import typing
    args = typing.get_args(t)
    if typing.get_origin(t) in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        if len(inner) != 1:
            raise TypeError(f"unsupported parameter type {t!r}")
        return base_type(inner[0])
    if typing.get_origin(t) in (list, typing.List):  # noqa: UP006
        kind, _ = base_type(args[0])
        return kind, True
    if t in (str, int, float, bool):
        return t.__name__, False
    raise TypeError(f"unsupported parameter type {t!r}")
