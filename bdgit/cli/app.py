"""The typer declarations of every ``bd`` command: names, flags, types and help.

This is the one definition of the CLI's shape. Bodies live in ``commands``; ``main`` strips
the global flags (accepted anywhere on the line) before typer sees the rest, and its fast
path parses with ``spec.json``, generated from this app (``python -m bdgit.cli.genspec``).
"""
from __future__ import annotations

from typing import List, Optional

import typer

from . import commands as c

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  context_settings={"help_option_names": ["-h", "--help"]},
                  help="bd - a git-backed, dependency-aware issue tracker for coding agents.")
dep_app = typer.Typer(no_args_is_help=True, help="Manage dependencies between issues.")
label_app = typer.Typer(no_args_is_help=True, help="Manage issue labels.")
config_app = typer.Typer(no_args_is_help=True, help="Read and set workspace configuration.")
app.add_typer(dep_app, name="dep")
app.add_typer(label_app, name="label")
app.add_typer(config_app, name="config")
hooks_app = typer.Typer(no_args_is_help=True, help="Install, check or remove bd's git hooks.")
app.add_typer(hooks_app, name="hooks")


def G() -> c.Globals:
    from .main import GLOBALS
    return GLOBALS


def done(code: int) -> None:
    if code:
        raise typer.Exit(code)


@app.callback()
def _globals(
    db: Optional[str] = typer.Option(None, "--db", help="Database path (default: nearest .beads/*.db; env BEADS_DB)."),
    actor: Optional[str] = typer.Option(None, "--actor", help="Who is acting, for the audit trail (env BD_ACTOR)."),
    json_: bool = typer.Option(False, "--json", help="Machine-readable JSON output."),
    no_daemon: bool = typer.Option(False, "--no-daemon", help="Run in this process even if a daemon runs."),
    no_auto_flush: bool = typer.Option(False, "--no-auto-flush", help="Do not update the JSONL after writes."),
    no_auto_import: bool = typer.Option(False, "--no-auto-import", help="Do not import a changed JSONL first."),
    timeout: Optional[float] = typer.Option(None, "--timeout", help="Daemon request timeout in seconds (env BD_TIMEOUT)."),
) -> None:
    """Global flags may appear anywhere on the command line."""


@app.command()
def init(prefix: Optional[str] = typer.Option(None, "-p", "--prefix", help="Issue ID prefix (default: directory name)."),
         quiet: bool = typer.Option(False, "-q", "--quiet", help="Print nothing on success."),
         hooks: bool = typer.Option(False, "--hooks", help="Install bd's git hooks (the default unless --quiet)."),
         no_hooks: bool = typer.Option(False, "--no-hooks", help="Do not install bd's git hooks.")) -> None:
    """Create .beads/ with a database here (imports .beads/issues.jsonl if a clone has one)."""
    done(c.init(G(), prefix, quiet, hooks, no_hooks))


@app.command()
def create(
    title: Optional[str] = typer.Argument(None, help="Issue title."),
    file: Optional[str] = typer.Option(None, "-f", "--file", help="Create issues from a markdown file (## Title per issue)."),
    description: Optional[str] = typer.Option(None, "-d", "--description", help="Description ('-' reads stdin)."),
    design: Optional[str] = typer.Option(None, "--design", help="Design notes."),
    acceptance: Optional[str] = typer.Option(None, "--acceptance", "--acceptance-criteria", help="Acceptance criteria."),
    notes: Optional[str] = typer.Option(None, "--notes", help="Notes."),
    priority: Optional[str] = typer.Option(None, "-p", "--priority", help="0-4 or P0-P4 (0 highest; default 2)."),
    issue_type: Optional[str] = typer.Option(None, "-t", "--type", help="bug, feature, task, epic or chore (default task)."),
    assignee: Optional[str] = typer.Option(None, "-a", "--assignee", help="Assignee."),
    labels: Optional[List[str]] = typer.Option(None, "-l", "--labels", "--label", help="Labels (comma-separated or repeated)."),
    issue_id: Optional[str] = typer.Option(None, "--id", help="Explicit ID, e.g. bd-42."),
    external_ref: Optional[str] = typer.Option(None, "--external-ref", help="External reference, e.g. gh-12."),
    deps: Optional[List[str]] = typer.Option(None, "--deps", help="Dependencies: type:id or id (blocks), comma-separated."),
    estimate: Optional[int] = typer.Option(None, "-e", "--estimate", help="Estimated minutes."),
    force: bool = typer.Option(False, "--force", help="Allow an --id with another prefix."),
) -> None:
    """Create an issue."""
    done(c.create(G(), title, file, description, design, acceptance, notes, priority, issue_type, assignee,
                  labels, issue_id, external_ref, deps, estimate, force))


@app.command()
def show(ids: Optional[List[str]] = typer.Argument(None, help="Issue IDs.")) -> None:
    """Show issues in detail, with dependencies, dependents and comments."""
    done(c.show(G(), ids or []))


@app.command("list")
def list_cmd(
    status: Optional[str] = typer.Option(None, "-s", "--status", help="open, in_progress, blocked, closed or all."),
    priority: Optional[str] = typer.Option(None, "-p", "--priority", help="Only this priority."),
    issue_type: Optional[str] = typer.Option(None, "-t", "--type", help="Only this type."),
    assignee: Optional[str] = typer.Option(None, "-a", "--assignee", help="Only this assignee."),
    labels: Optional[List[str]] = typer.Option(None, "-l", "--label", "--labels", help="Must have ALL these labels."),
    labels_any: Optional[List[str]] = typer.Option(None, "--label-any", help="Must have ANY of these labels."),
    title: Optional[str] = typer.Option(None, "--title", help="Title contains this text."),
    search: Optional[str] = typer.Option(None, "--search", "-q", help="Title, description or ID contains this text."),
    limit: int = typer.Option(0, "-n", "--limit", help="At most this many (0 = all)."),
    sort: Optional[str] = typer.Option(None, "--sort", help="priority, created, updated, id, title or status."),
    reverse: bool = typer.Option(False, "--reverse", help="Reverse the order."),
    no_assignee: bool = typer.Option(False, "--no-assignee", help="Only unassigned issues."),
    parent: Optional[str] = typer.Option(None, "--parent", help="Only descendants of this issue (parent-child)."),
) -> None:
    """List issues."""
    done(c.list_(G(), status, priority, issue_type, assignee, labels, labels_any, title, search, limit, sort,
                 reverse, no_assignee, parent))


@app.command()
def search(query: str = typer.Argument(..., help="Text to find in title, description or ID."),
           status: Optional[str] = typer.Option(None, "-s", "--status", help="Only this status."),
           limit: int = typer.Option(0, "-n", "--limit", help="At most this many.")) -> None:
    """Search issues by text (same as list --search)."""
    done(c.search(G(), query, status, limit))


@app.command()
def update(
    ids: Optional[List[str]] = typer.Argument(None, help="Issue IDs."),
    status: Optional[str] = typer.Option(None, "-s", "--status", help="New status."),
    priority: Optional[str] = typer.Option(None, "-p", "--priority", help="New priority."),
    title: Optional[str] = typer.Option(None, "--title", help="New title."),
    assignee: Optional[str] = typer.Option(None, "-a", "--assignee", help="New assignee ('' to clear)."),
    description: Optional[str] = typer.Option(None, "-d", "--description", help="New description."),
    design: Optional[str] = typer.Option(None, "--design", help="New design notes."),
    notes: Optional[str] = typer.Option(None, "--notes", help="New notes."),
    acceptance: Optional[str] = typer.Option(None, "--acceptance", "--acceptance-criteria", help="New acceptance criteria."),
    issue_type: Optional[str] = typer.Option(None, "-t", "--type", help="New type."),
    external_ref: Optional[str] = typer.Option(None, "--external-ref", help="New external reference."),
    estimate: Optional[int] = typer.Option(None, "-e", "--estimate", help="Estimated minutes."),
    claim: bool = typer.Option(False, "--claim", help="Take it: assignee = you, status = in_progress."),
) -> None:
    """Update fields of issues."""
    done(c.update(G(), ids or [], status, priority, title, assignee, description, design, notes, acceptance,
                  issue_type, external_ref, estimate, claim))


@app.command()
def close(ids: Optional[List[str]] = typer.Argument(None, help="Issue IDs."),
          reason: Optional[str] = typer.Option(None, "-r", "--reason", help="Why (default 'Closed').")) -> None:
    """Close issues."""
    done(c.close(G(), ids or [], reason))


@app.command()
def reopen(ids: Optional[List[str]] = typer.Argument(None, help="Issue IDs."),
           reason: Optional[str] = typer.Option(None, "-r", "--reason", help="Why (added as a comment).")) -> None:
    """Reopen issues."""
    done(c.reopen(G(), ids or [], reason))


@app.command()
def delete(ids: Optional[List[str]] = typer.Argument(None, help="Issue IDs."),
           force: bool = typer.Option(False, "-f", "--force", help="Really delete (default: preview only).")) -> None:
    """Delete issues (a preview unless --force); references become [deleted:ID]."""
    done(c.delete(G(), ids or [], force))


@app.command()
def ready(
    limit: int = typer.Option(10, "-n", "--limit", help="At most this many (0 = all)."),
    priority: Optional[str] = typer.Option(None, "-p", "--priority", help="Only this priority."),
    assignee: Optional[str] = typer.Option(None, "-a", "--assignee", help="Only this assignee."),
    issue_type: Optional[str] = typer.Option(None, "-t", "--type", help="Only this type."),
    labels: Optional[List[str]] = typer.Option(None, "-l", "--label", help="Must have ALL these labels."),
    labels_any: Optional[List[str]] = typer.Option(None, "--label-any", help="Must have ANY of these labels."),
    unassigned: bool = typer.Option(False, "--unassigned", help="Only unassigned issues."),
    sort: Optional[str] = typer.Option(None, "--sort", help="priority (default), hybrid or oldest."),
    parent: Optional[str] = typer.Option(None, "--parent", help="Only descendants of this issue."),
) -> None:
    """Show work that is ready: open, and nothing open blocks it."""
    done(c.ready(G(), limit, priority, assignee, issue_type, labels, labels_any, unassigned, sort, parent))


@app.command()
def blocked(parent: Optional[str] = typer.Option(None, "--parent", help="Only descendants of this issue.")) -> None:
    """Show blocked issues and what blocks them."""
    done(c.blocked(G(), parent))


@app.command()
def stats() -> None:
    """Show counts by status, blocked and ready."""
    done(c.stats(G()))


@dep_app.command("add")
def dep_add(issue_id: str = typer.Argument(..., help="The issue that depends."),
            depends_on: str = typer.Argument(..., help="The issue it depends on."),
            dep_type: str = typer.Option("blocks", "-t", "--type",
                                         help="blocks, related, parent-child or discovered-from.")) -> None:
    """ISSUE depends on DEPENDS_ON."""
    done(c.dep_add(G(), issue_id, depends_on, dep_type))


@dep_app.command("remove")
def dep_remove(issue_id: str = typer.Argument(...), depends_on: str = typer.Argument(...),
               dep_type: Optional[str] = typer.Option(None, "-t", "--type", help="Only if of this type.")) -> None:
    """Remove the dependency of ISSUE on DEPENDS_ON."""
    done(c.dep_remove(G(), issue_id, depends_on, dep_type))


@dep_app.command("tree")
def dep_tree(issue_id: str = typer.Argument(...),
             max_depth: int = typer.Option(50, "-d", "--max-depth", help="How deep to go."),
             reverse: bool = typer.Option(False, "--reverse", help="Show what depends on it instead.")) -> None:
    """Show the dependency tree of an issue."""
    done(c.dep_tree(G(), issue_id, max_depth, reverse))


@dep_app.command("cycles")
def dep_cycles() -> None:
    """Find dependency cycles."""
    done(c.dep_cycles(G()))


@label_app.command("add")
def label_add(args: List[str] = typer.Argument(..., help="ID [ID...] LABEL")) -> None:
    """Add a label to issues."""
    done(c.label_add(G(), args))


@label_app.command("remove")
def label_remove(args: List[str] = typer.Argument(..., help="ID [ID...] LABEL")) -> None:
    """Remove a label from issues."""
    done(c.label_remove(G(), args))


@label_app.command("list")
def label_list(issue_id: str = typer.Argument(...)) -> None:
    """List an issue's labels."""
    done(c.label_list(G(), issue_id))


@label_app.command("list-all")
def label_list_all() -> None:
    """List every label with its issue count."""
    done(c.label_list_all(G()))


@app.command()
def comment(args: Optional[List[str]] = typer.Argument(None, help="add ID TEXT | list ID | ID TEXT"),
            file: Optional[str] = typer.Option(None, "-f", "--file", help="Read the comment from a file."),
            author: Optional[str] = typer.Option(None, "--author", help="Author (default: the actor).")) -> None:
    """Add or list comments: comment add ID TEXT, comment list ID."""
    done(c.comment(G(), args or [], file, author))


@app.command()
def comments(args: Optional[List[str]] = typer.Argument(None, help="ID | add ID TEXT"),
             file: Optional[str] = typer.Option(None, "-f", "--file", help="Read the comment from a file."),
             author: Optional[str] = typer.Option(None, "--author", help="Author (default: the actor).")) -> None:
    """List an issue's comments (comments add ID TEXT adds one)."""
    done(c.comments(G(), args or [], file, author))


@app.command()
def note(issue_id: str = typer.Argument(...), words: Optional[List[str]] = typer.Argument(None)) -> None:
    """Append a line to an issue's notes."""
    done(c.note(G(), issue_id, words or []))


@app.command()
def events(issue_id: str = typer.Argument(...),
           limit: int = typer.Option(0, "-n", "--limit", help="Only the last N.")) -> None:
    """Show an issue's audit trail: who changed what, when."""
    done(c.events(G(), issue_id, limit))


@app.command()
def export(fmt: str = typer.Option("jsonl", "-f", "--format", help="jsonl"),
           output: Optional[str] = typer.Option(None, "-o", "--output", help="File (default: stdout)."),
           status: Optional[str] = typer.Option(None, "-s", "--status", help="Only this status.")) -> None:
    """Export issues as JSONL."""
    done(c.export(G(), fmt, output, status))


@app.command("import")
def import_cmd(
    input_path: Optional[str] = typer.Option(None, "-i", "--input", help="JSONL file (default: stdin)."),
    skip_existing: bool = typer.Option(False, "-s", "--skip-existing", help="Only create, never update."),
    strict: bool = typer.Option(False, "--strict", help="Refuse values this version does not know."),
    resolve_collisions: bool = typer.Option(False, "--resolve-collisions",
                                            help="Give colliding incoming issues new IDs."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Report what would change; change nothing."),
) -> None:
    """Import issues from JSONL: all or nothing, newer wins per issue."""
    done(c.import_(G(), input_path, skip_existing, strict, resolve_collisions, dry_run))


@app.command("rename-prefix")
def rename_prefix(new_prefix: str = typer.Argument(...),
                  dry_run: bool = typer.Option(False, "--dry-run", help="Show what would change.")) -> None:
    """Rename every issue to a new ID prefix (references are rewritten)."""
    done(c.rename_prefix(G(), new_prefix, dry_run))


@app.command()
def info() -> None:
    """Show the database, JSONL and mode in use."""
    done(c.info(G()))


@config_app.command("get")
def config_get(key: str = typer.Argument(...)) -> None:
    """Print a configuration value."""
    done(c.config_get(G(), key))


@config_app.command("set")
def config_set(key: str = typer.Argument(...), value: str = typer.Argument(...)) -> None:
    """Set a configuration value."""
    done(c.config_set(G(), key, value))


@config_app.command("list")
def config_list() -> None:
    """List configuration values."""
    done(c.config_list(G()))


@app.command()
def daemon(
    action: Optional[str] = typer.Argument(None, help="start (default), stop, status, restart or logs."),
    foreground: bool = typer.Option(False, "--foreground", help="Run in this process (for service managers)."),
    interval: Optional[float] = typer.Option(None, "--interval", help="Seconds between a write and its JSONL flush (default 1)."),
    idle_timeout: Optional[float] = typer.Option(None, "--idle-timeout", help="Exit after this many idle seconds (0 = never; default 1800)."),
    auto_commit: bool = typer.Option(False, "--auto-commit", help="Commit the JSONL to git in batches."),
    auto_push: bool = typer.Option(False, "--auto-push", help="Push those commits to the upstream."),
    stop: bool = typer.Option(False, "--stop", help="Same as 'bd daemon stop'."),
    status: bool = typer.Option(False, "--status", help="Same as 'bd daemon status'."),
    lines: int = typer.Option(50, "-n", "--lines", help="With logs: how many lines (0 = all)."),
) -> None:
    """Run the per-repository daemon: one writer for many agents, over .beads/bd.sock."""
    done(c.daemon(G(), action, foreground, interval, idle_timeout, auto_commit, auto_push, stop, status, lines))


@app.command()
def sync(message: Optional[str] = typer.Option(None, "-m", "--message",
                                               help="Message of the export commit (default: bd sync: N issues changed)."),
         dry_run: bool = typer.Option(False, "--dry-run", help="Show what would happen; change and fetch nothing."),
         no_push: bool = typer.Option(False, "--no-push", help="Do not push."),
         no_pull: bool = typer.Option(False, "--no-pull", help="Do not fetch or merge the upstream.")) -> None:
    """Sync issues through git: export, commit, pull (merged per issue, newer wins), import, push."""
    from . import sync_cmd
    done(sync_cmd.sync(G(), message, dry_run, no_push, no_pull))


@app.command("merge-driver", hidden=True)
def merge_driver(base: str = typer.Argument(..., help="%O: the merge base's version."),
                 ours: str = typer.Argument(..., help="%A: ours; the result is written here."),
                 theirs: str = typer.Argument(..., help="%B: theirs."),
                 path: Optional[str] = typer.Argument(None, help="%P: the path in the repository.")) -> None:
    """git merge driver for .beads/issues.jsonl: merge per issue, newer wins."""
    from . import sync_cmd
    done(sync_cmd.merge_driver(G(), base, ours, theirs, path))


@app.command()
def quickstart() -> None:
    """A short guide to bd."""
    done(c.quickstart(G()))


@app.command()
def version() -> None:
    """Print the version (the beads version we are compatible with comes first)."""
    done(c.version(G()))


@app.command("help")
def help_cmd(ctx: typer.Context, command: Optional[List[str]] = typer.Argument(None)) -> None:
    """Show help for bd or a command."""
    import click
    root = ctx.find_root().command
    cmd: click.Command = root
    path = ["bd"]
    for name in command or []:
        sub = cmd.get_command(ctx, name) if isinstance(cmd, click.Group) else None
        if sub is None:
            raise typer.BadParameter(f"no such command: {' '.join(command or [])}")
        cmd, path = sub, path + [name]
    with click.Context(cmd, info_name=" ".join(path)) as sub_ctx:
        typer.echo(cmd.get_help(sub_ctx))


@hooks_app.command("install")
def hooks_install() -> None:
    """Install bd's git hooks (respects core.hooksPath; an existing hook is chained, run first)."""
    done(c.hooks_install(G()))


@hooks_app.command("uninstall")
def hooks_uninstall() -> None:
    """Remove bd's git hooks and put back the hooks they chained."""
    done(c.hooks_uninstall(G()))


@hooks_app.command("status")
def hooks_status() -> None:
    """Show which of bd's git hooks are installed, where, and what they chain."""
    done(c.hooks_status(G()))


@hooks_app.command("run", context_settings={"ignore_unknown_options": True})
def hooks_run(hook: str = typer.Argument(..., help="pre-commit, post-merge, post-checkout, post-rewrite or pre-push."),
              args: Optional[List[str]] = typer.Argument(None, help="The arguments git gave the hook.")) -> None:
    """Run bd's part of a git hook (what the installed hooks run; for shared hook scripts)."""
    done(c.hooks_run(G(), hook, args))


@app.command()
def doctor(fix: bool = typer.Option(False, "--fix", help="Repair what is safe to repair.")) -> None:
    """Check the workspace: daemon, git hooks, JSONL sync, .gitignore, merge state; explain fixes."""
    done(c.doctor(G(), fix))
