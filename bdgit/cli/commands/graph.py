"""Commands on what hangs off an issue: dependencies, labels, comments, notes, the audit trail."""
from __future__ import annotations

from typing import Annotated

from ...errors import UsageError
from .. import render as r
from ..safetext import clean_data
from ..decl import Arg, Opt, command
from ..runtime import Globals, emit, read_text


@command("dep add", examples=["bd dep add proj-3 proj-2            # proj-3 waits for proj-2",
                              "bd dep add proj-5 proj-1 -t parent-child"])
def dep_add(g: Globals, issue_id: Annotated[str, Arg(help="The issue that depends.")],
            depends_on: Annotated[str, Arg(help="The issue it depends on.")],
            dep_type: Annotated[str, Opt("-t", "--type", help="blocks, related, parent-child or "
                                                             "discovered-from.")] = "blocks") -> int:
    """ISSUE depends on DEPENDS_ON."""
    res = g.call("dep_add", {"from_id": issue_id, "to_id": depends_on, "dep_type": dep_type})
    if g.json:
        emit(res)
    else:
        r.out(f"{r.green('✓')} Added dependency: {issue_id} depends on {depends_on} ({dep_type})")
    return 0


@command("dep remove", examples=["bd dep remove proj-3 proj-2"])
def dep_remove(g: Globals, issue_id: Annotated[str, Arg(help="The issue that depends.")],
               depends_on: Annotated[str, Arg(help="The issue it depends on.")],
               dep_type: Annotated[str | None, Opt("-t", "--type", help="Only if of this type.")] = None) -> int:
    """Remove the dependency of ISSUE on DEPENDS_ON."""
    res = g.call("dep_remove", {"from_id": issue_id, "to_id": depends_on, "dep_type": dep_type})
    if g.json:
        emit(res)
    else:
        r.out(f"{r.green('✓')} Removed dependency: {issue_id} no longer depends on {depends_on}")
    return 0


@command("dep tree", examples=["bd dep tree proj-9", "bd dep tree proj-2 --reverse -d 3"])
def dep_tree(g: Globals, issue_id: Annotated[str, Arg(help="The root issue.")],
             max_depth: Annotated[int, Opt("-d", "--max-depth", help="How deep to go.")] = 50,
             reverse: Annotated[bool, Opt("--reverse", help="Show what depends on it instead.")] = False) -> int:
    """Show the dependency tree of an issue."""
    nodes = g.call("dep_tree", {"id": issue_id, "max_depth": max_depth, "reverse": reverse or None})
    if g.json:
        emit(nodes)
    else:
        r.tree(issue_id, nodes)
    return 0


@command("dep cycles", examples=["bd dep cycles --json"])
def dep_cycles(g: Globals) -> int:
    """Find dependency cycles."""
    cs = g.call("dep_cycles")
    if g.json:
        emit(cs)
    else:
        r.cycles(cs)
    return 0


def _label(g: Globals, op: str, args: list[str], verb: str, prep: str) -> int:
    if len(args) < 2:
        raise UsageError(f"usage: bd label {op.split('_')[1]} ID [ID...] LABEL")
    *ids, label = args
    results = [g.call(op, {"id": i, "label": label}) for i in ids]
    if g.json:
        emit(results[0] if len(results) == 1 else results)
    else:
        for res in results:
            r.out(f"{r.green('✓')} {verb} label '{label}' {prep} {res['issue_id']}")
    return 0


@command("label add", examples=["bd label add proj-1 urgent", "bd label add proj-1 proj-2 backend"])
def label_add(g: Globals, args: Annotated[list[str], Arg(help="ID [ID...] LABEL")]) -> int:
    """Add a label to issues."""
    return _label(g, "label_add", args, "Added", "to")


@command("label remove", examples=["bd label remove proj-1 urgent"])
def label_remove(g: Globals, args: Annotated[list[str], Arg(help="ID [ID...] LABEL")]) -> int:
    """Remove a label from issues."""
    return _label(g, "label_remove", args, "Removed", "from")


@command("label list", examples=["bd label list proj-1 --json"])
def label_list(g: Globals, issue_id: Annotated[str, Arg(help="The issue.")]) -> int:
    """List an issue's labels."""
    labels = g.call("label_list", {"id": issue_id})
    if g.json:
        emit(labels)
    elif labels:
        r.out(f"\n🏷  Labels for {issue_id}:")
        for lb in clean_data(labels):
            r.out(f"  - {lb}")
        r.out()
    else:
        r.out(f"{issue_id} has no labels")
    return 0


@command("label list-all", examples=["bd label list-all"])
def label_list_all(g: Globals) -> int:
    """List every label with its issue count."""
    labels = g.call("label_list_all")
    if g.json:
        emit(labels)
    elif labels:
        labels = clean_data(labels)
        w = max(len(x["label"]) for x in labels)
        r.out(f"\n🏷  All labels ({len(labels)}):")
        for x in labels:
            r.out(f"  {x['label'].ljust(w)}  {x['count']}")
        r.out()
    else:
        r.out("No labels.")
    return 0


@command("comment", examples=['bd comment add proj-1 "repro: only with a proxy"', "bd comment list proj-1",
                              "bd comment proj-1 -f notes.txt"])
def comment(g: Globals, args: Annotated[list[str] | None, Arg(help="add ID TEXT | list ID | ID TEXT")] = None,
            file: Annotated[str | None, Opt("-f", "--file", help="Read the comment from a file.")] = None,
            author: Annotated[str | None, Opt("--author", help="Author (default: the actor).")] = None) -> int:
    """Add or list comments: comment add ID TEXT, comment list ID."""
    args = list(args or [])
    if not args:
        raise UsageError("usage: bd comment add ID TEXT | bd comment list ID | bd comment ID TEXT")
    if args[0] == "list":
        if len(args) != 2:
            raise UsageError("usage: bd comment list ID")
        return comments(g, args[1:])
    if args[0] == "add":
        args = args[1:]
    if not args:
        raise UsageError("usage: bd comment add ID TEXT")
    issue_id, words = args[0], args[1:]
    text = read_text(file) if file else " ".join(words)
    if not text.strip():
        raise UsageError("the comment is empty: give TEXT or --file")
    c = g.call("comment_add", {"id": issue_id, "text": text, "author": author})
    if g.json:
        emit(c)
    else:
        r.out(f"{r.green('✓')} Added comment to {issue_id}")
    return 0


@command("comments", examples=["bd comments proj-1 --json", 'bd comments add proj-1 "looks good"'])
def comments(g: Globals, args: Annotated[list[str] | None, Arg(help="ID | add ID TEXT")] = None,
             file: Annotated[str | None, Opt("-f", "--file", help="Read the comment from a file.")] = None,
             author: Annotated[str | None, Opt("--author", help="Author (default: the actor).")] = None) -> int:
    """List an issue's comments (comments add ID TEXT adds one)."""
    args = list(args or [])
    if args and args[0] == "add":
        return comment(g, args, file, author)
    if len(args) != 1:
        raise UsageError("usage: bd comments ID")
    cs = g.call("comment_list", {"id": args[0]})
    if g.json:
        emit(cs)
    elif not cs:
        r.out(f"{args[0]} has no comments")
    else:
        from ...model import short_time
        r.out(f"\nComments on {args[0]} ({len(cs)}):")
        for c in clean_data(cs):
            r.out(f"  [{short_time(c['created_at'])}] {c.get('author') or '?'}: {c['text']}")
        r.out()
    return 0


@command("note", examples=['bd note proj-2 "tried the cache: no change"'])
def note(g: Globals, issue_id: Annotated[str, Arg(help="The issue.")],
         words: Annotated[list[str] | None, Arg(help="The text to append.")] = None) -> int:
    """Append a line to an issue's notes."""
    text = " ".join(words or []).strip()
    if not text:
        raise UsageError("usage: bd note ID TEXT")
    issue = g.call("note", {"id": issue_id, "text": text})
    if g.json:
        emit(issue)
    else:
        r.out(f"{r.green('✓')} Added note to {issue_id}")
    return 0


@command("events", examples=["bd events proj-2", "bd events proj-2 -n 5 --json"])
def events(g: Globals, issue_id: Annotated[str, Arg(help="The issue.")],
           limit: Annotated[int, Opt("-n", "--limit", help="Only the last N.")] = 0) -> int:
    """Show an issue's audit trail: who changed what, when."""
    evs = g.call("events", {"id": issue_id, "limit": limit or None})
    if g.json:
        emit(evs)
    else:
        r.events(evs)
    return 0
