"""The typer app, built from the command declarations (``decl``).

For each declared command a thin wrapper gets a signature typer understands (each marker
turned into ``typer.Option``/``typer.Argument`` with the declared names, help and default)
and calls the body with keyword arguments and the invocation's ``Globals`` (click's
``ctx.obj``). Nothing here repeats a command's shape: it is read from the body's signature.
Used only off the fast path (help, errors typer reports, completion): importing typer costs
~50 ms.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Annotated, Any, List, Optional  # noqa: UP035  (typer reads these forms)

import click
import typer

from .decl import GLOBAL_FLAGS, GROUPS, REQUIRED, Arg, Command, Opt, base_type, load_all, params_of

_TYPES = {"str": str, "int": int, "float": float, "bool": bool}


def _typer_param(name: str, t: Any, marker: Arg | Opt, default: Any) -> inspect.Parameter:
    kind, many = base_type(t)
    py: Any = _TYPES[kind]
    if many:
        py = List[py]  # noqa: UP006
    if default is None or many:
        py = Optional[py]  # noqa: UP007
    if isinstance(marker, Arg):
        info: Any = typer.Argument(help=marker.help, metavar=marker.metavar, show_default=False)
    else:
        info = typer.Option(*marker.decls, help=marker.help, hidden=marker.hidden,
                            show_default=default not in (None, False, REQUIRED))
    ann = Annotated[py, info]
    dflt = inspect.Parameter.empty if default is REQUIRED else default
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=dflt, annotation=ann)


def _wrapper(cmd: Command) -> Callable[..., None]:
    body = cmd.func

    def run(ctx: typer.Context, **kw: Any) -> None:
        code = body(ctx.find_root().obj, **kw)
        if code:
            raise typer.Exit(code)

    ctx_param = inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context)
    params = [ctx_param] + [_typer_param(*p) for p in params_of(cmd)]
    run.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in params}
    run.__name__ = body.__name__
    run.__doc__ = _help_text(cmd)
    return run


def _help_text(cmd: Command) -> str:
    text = cmd.help
    if cmd.examples:
        # \b keeps click from rewrapping the examples
        text += "\n\n\b\nExamples:\n" + "\n".join(f"  {e}" for e in cmd.examples)
    return text


def _globals_callback() -> Callable[..., None]:
    def callback(**kw: Any) -> None:
        """Global flags may appear anywhere on the command line."""

    params = []
    for f in GLOBAL_FLAGS:
        py: Any = bool if f.kind == "bool" else Optional[_TYPES[f.kind]]  # noqa: UP007
        params.append(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY,
                                        default=False if f.kind == "bool" else None,
                                        annotation=Annotated[py, typer.Option(f.decl, help=f.help)]))
    callback.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    callback.__annotations__ = {p.name: p.annotation for p in params}
    return callback


def build() -> typer.Typer:
    """The typer app of every declared command."""
    app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                      context_settings={"help_option_names": ["-h", "--help"]},
                      help="bd - a git-backed, dependency-aware issue tracker for coding agents.")
    app.callback()(_globals_callback())
    groups: dict[str, typer.Typer] = {}
    for name, text in GROUPS.items():
        groups[name] = typer.Typer(no_args_is_help=True, help=text)
        app.add_typer(groups[name], name=name)
    for cmd in load_all().values():
        group, _, sub = cmd.path.partition(" ")
        target = groups[group] if sub else app
        settings = {"ignore_unknown_options": True} if cmd.passthrough else None
        target.command(sub or group, hidden=cmd.hidden, context_settings=settings)(_wrapper(cmd))
    return app


def build_click() -> click.Group:
    """The click command behind the typer app (for help and completion scripts)."""
    group = typer.main.get_command(build())
    assert isinstance(group, click.Group)
    return group


def run(args: list[str], g: Any) -> int:
    """Run ``args`` through typer with ``g`` (the Globals) as the context object."""
    try:
        build()(args=args, prog_name="bd", standalone_mode=True, obj=g)
    except SystemExit as e:
        code = e.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0

