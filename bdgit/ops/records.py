"""Files beside the database that are not issues: issue templates (``.beads/templates/``),
the agent audit log (``.beads/interactions.jsonl``), and an issue's text from git history."""
from __future__ import annotations

import json
import os
import re
import secrets
from pathlib import Path
from typing import Any

from ..errors import NotFoundError, ValidationError
from ..model import now
from ..validate import Args, check_label, check_type, parse_priority
from .registry import Ctx, op

# --- templates -------------------------------------------------------------------------------

BUILTIN_TEMPLATES: dict[str, dict[str, Any]] = {
    "epic": {"type": "epic", "priority": 1, "labels": ["epic"],
             "description": "## Goal\n\n[What this epic delivers and why]\n\n## Scope\n\n- [In scope]\n\n"
                            "## Out of scope\n\n- [Not part of it]",
             "design": "## Approach\n\n[How the work splits into child issues]",
             "acceptance_criteria": "- [ ] Every child issue is closed\n- [ ] [Outcome a user can check]"},
    "bug": {"type": "bug", "priority": 1, "labels": ["bug"],
            "description": "## Summary\n\n[What goes wrong]\n\n## Steps to reproduce\n\n1. [Step]\n\n"
                           "## Expected\n\n[What should happen]\n\n## Actual\n\n[What happens]",
            "design": "## Cause\n\n[Why it happens, once known]",
            "acceptance_criteria": "- [ ] The steps above no longer reproduce it\n- [ ] A test covers it"},
    "feature": {"type": "feature", "priority": 2, "labels": ["feature"],
                "description": "## Need\n\n[Who needs what, and why]\n\n## Proposal\n\n[What to build]",
                "design": "## Design\n\n[Interfaces, data, trade-offs]",
                "acceptance_criteria": "- [ ] [Observable behaviour]\n- [ ] Documented"},
}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_FIELDS = ("description", "type", "priority", "labels", "design", "acceptance_criteria")


def _templates_dir(ctx: Ctx) -> Path:
    return ctx.store.beads_dir / "templates"


def _check_name(name: str) -> str:
    if not _NAME.match(name or ""):
        raise ValidationError(f"invalid template name {name!r}: letters, digits, '.', '_' and '-' only")
    return name


def parse_template(text: str, where: str) -> dict[str, Any]:
    """The YAML subset templates use: ``key: value``, ``key: |-`` block text, ``[a, b]`` or
    ``- item`` lists, ``#`` comments. Raises ValidationError naming ``where`` and the line."""
    out: dict[str, Any] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        raw = lines[i]
        i += 1
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        m = re.match(r"^([A-Za-z_]+):\s*(.*)$", raw)
        if not m or raw[0].isspace():
            raise ValidationError(f"{where}:{i}: expected 'key: value', got {raw.strip()!r}")
        key, val = m.group(1), m.group(2).strip()
        if val in ("|", "|-", ">", ">-"):
            block = []
            while i < len(lines) and (not lines[i].strip() or lines[i][:1].isspace()):
                block.append(lines[i])
                i += 1
            indent = min((len(b) - len(b.lstrip()) for b in block if b.strip()), default=0)
            body = "\n".join(b[indent:] for b in block).rstrip("\n")
            out[key] = body if val.startswith("|") else " ".join(body.split())
        elif val.startswith("[") and val.endswith("]"):
            out[key] = [x.strip().strip("'\"") for x in val[1:-1].split(",") if x.strip()]
        elif val == "":
            items = []
            while i < len(lines) and lines[i].strip().startswith("- "):
                items.append(lines[i].strip()[2:].strip().strip("'\""))
                i += 1
            out[key] = items
        else:
            out[key] = val[1:-1].replace("''", "'") if len(val) > 1 and val[0] == val[-1] == "'" else \
                val[1:-1] if len(val) > 1 and val[0] == val[-1] == '"' else val
    return out


def _normalize(name: str, t: dict[str, Any], where: str, builtin: bool) -> dict[str, Any]:
    try:
        labels = t.get("labels") or []
        if isinstance(labels, str):
            labels = [x.strip() for x in labels.split(",") if x.strip()]
        return {"name": name, "builtin": builtin, "type": check_type(str(t.get("type") or "task")),
                "priority": parse_priority(t.get("priority", 2)), "labels": sorted({check_label(x) for x in labels}),
                "description": str(t.get("description") or ""), "design": str(t.get("design") or ""),
                "acceptance_criteria": str(t.get("acceptance_criteria") or "")}
    except ValidationError as e:
        raise ValidationError(f"{where}: {e.message}", "fix the template file") from e


def list_templates(ctx: Ctx) -> list[dict[str, Any]]:
    """Built-ins, then custom ones; a custom template of the same name replaces the built-in."""
    found = {n: _normalize(n, t, f"built-in template {n}", True) for n, t in BUILTIN_TEMPLATES.items()}
    d = _templates_dir(ctx)
    if d.is_dir() and not d.is_symlink():
        for p in sorted(d.glob("*.yaml")) + sorted(d.glob("*.yml")):
            if p.is_symlink() or not p.is_file():
                continue
            found[p.stem] = _normalize(p.stem, parse_template(p.read_text(encoding="utf-8"), str(p)), str(p), False)
    return sorted(found.values(), key=lambda t: (not t["builtin"], t["name"]))


def get_template(ctx: Ctx, name: str) -> dict[str, Any]:
    for t in list_templates(ctx):
        if t["name"] == name:
            return t
    names = ", ".join(t["name"] for t in list_templates(ctx))
    raise NotFoundError(f"template {name!r} not found", f"available: {names} (bd template list)")


@op("template_list", write=False)
def template_list(ctx: Ctx, a: Args) -> list[dict[str, Any]]:
    return list_templates(ctx)


@op("template_show", write=False)
def template_show(ctx: Ctx, a: Args) -> dict[str, Any]:
    return get_template(ctx, a.req("name"))


def _yaml_block(key: str, text: str) -> str:
    return f"{key}: |-\n" + "".join(f"    {line}\n" if line else "\n" for line in text.splitlines())


@op("template_create", write=False)
def template_create(ctx: Ctx, a: Args) -> dict[str, Any]:
    """Write ``.beads/templates/NAME.yaml`` (atomically; refuses to replace one)."""
    name = _check_name(a.req("name"))
    d = _templates_dir(ctx)
    if d.is_symlink():
        raise ValidationError(f"{d} is a symlink; bd does not follow symlinks in .beads/")
    d.mkdir(mode=0o700, exist_ok=True)
    path = d / f"{name}.yaml"
    if path.exists() or path.is_symlink():
        raise ValidationError(f"template {path} already exists", "edit it, or pick another name")
    body = (f"name: {name}\n" + _yaml_block("description", "[Describe the issue]\n\n## Additional context\n\n"
                                             "[Add relevant details]")
            + "type: task\npriority: 2\nlabels: []\n" + _yaml_block("design", "[Design notes]")
            + _yaml_block("acceptance_criteria", "- [ ] Acceptance criterion 1\n- [ ] Acceptance criterion 2"))
    tmp = d / f".{name}.yaml.{os.getpid()}.tmp"
    try:
        with open(tmp, "x", encoding="utf-8") as f:
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
        os.link(tmp, path)  # fails if someone created it meanwhile: never replace
    finally:
        tmp.unlink(missing_ok=True)
    return {"name": name, "path": str(path)}


def template_args(ctx: Ctx, name: str, given: dict[str, Any]) -> dict[str, Any]:
    """``create`` args with the template's values where ``given`` has none (labels add up)."""
    t = get_template(ctx, name)
    out = dict(given)
    if not given.get("issue_type") and not given.get("type"):
        out["issue_type"] = t["type"]
    if given.get("priority") is None:
        out["priority"] = t["priority"]
    for f in ("description", "design", "acceptance_criteria"):
        if not given.get(f):
            out[f] = t[f]
    labels = given.get("labels") or []
    out["labels"] = sorted(set(t["labels"]) | set(labels if isinstance(labels, list) else [labels]))
    return out


# --- audit log -------------------------------------------------------------------------------

_AUDIT_FIELDS = ("model", "prompt", "response", "error", "tool_name", "issue_id", "parent_id", "label", "reason")


def _append_audit(ctx: Ctx, entry: dict[str, Any]) -> dict[str, Any]:
    path = ctx.store.beads_dir / "interactions.jsonl"
    if path.is_symlink():
        raise ValidationError(f"{path} is a symlink; bd does not follow symlinks in .beads/")
    line = (json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
    # one write(2) of one line with O_APPEND: concurrent appenders never interleave lines
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)
    return entry


@op("audit_record", write=False)
def audit_record(ctx: Ctx, a: Args) -> dict[str, Any]:
    """Append an entry (``kind`` required: llm_call, tool_call, ...) and return it with its id."""
    kind = str(a.req("kind")).strip()
    entry: dict[str, Any] = {"id": "int-" + secrets.token_hex(4), "kind": kind, "created_at": now(),
                             "actor": ctx.actor}
    for f in _AUDIT_FIELDS:
        v = a.text(f)
        if v:
            entry[f] = v
    code = a.integer("exit_code")
    if code is not None and code >= 0:
        entry["exit_code"] = code
    if isinstance(a.raw.get("extra"), dict):
        entry["extra"] = a.raw["extra"]
    if entry.get("issue_id") and ctx.store.get_issue(entry["issue_id"]) is None:
        raise NotFoundError(f"issue {entry['issue_id']} not found", "check the ID with 'bd list' (IDs are case-sensitive)")
    return _append_audit(ctx, entry)


@op("audit_label", write=False)
def audit_label(ctx: Ctx, a: Args) -> dict[str, Any]:
    """Label an earlier entry (``good``/``bad``/...) by appending a ``label`` entry naming it."""
    parent = str(a.req("id")).strip()
    label = str(a.req("label")).strip()
    path = ctx.store.beads_dir / "interactions.jsonl"
    known = False
    if path.is_file() and not path.is_symlink():
        with open(path, encoding="utf-8") as f:
            known = any(f'"id":"{parent}"' in line for line in f)
    if not known:
        raise NotFoundError(f"audit entry {parent} not found in {path.name}", "entry ids look like int-1a2b3c4d")
    entry: dict[str, Any] = {"id": "int-" + secrets.token_hex(4), "kind": "label", "created_at": now(), "actor": ctx.actor,
             "parent_id": parent, "label": label}
    if a.text("reason"):
        entry["reason"] = a.text("reason")
    return _append_audit(ctx, entry)


# --- restore: an issue's text from git history -----------------------------------------------

@op("restore", write=False)
def restore(ctx: Ctx, a: Args) -> dict[str, Any]:
    """The newest committed version of an issue's JSONL line, searched back through the history
    of ``.beads/issues.jsonl`` (every commit reachable from HEAD), with the commit it came from.
    Useful when text was shortened or an issue deleted here. Changes nothing."""
    issue_id = str(a.req("id")).strip()
    import pygit2
    beads = ctx.store.beads_dir
    try:
        repo = pygit2.Repository(pygit2.discover_repository(str(beads)))
    except (pygit2.GitError, TypeError) as e:
        raise NotFoundError("no git repository holds this workspace", "restore reads .beads/issues.jsonl "
                            "from git history; commit it first") from e
    rel = os.path.relpath(beads / "issues.jsonl", repo.workdir).replace(os.sep, "/")
    needle = f'"id":"{issue_id}"'.encode()
    needle2 = f'"id": "{issue_id}"'.encode()
    if repo.head_is_unborn:
        raise NotFoundError(f"{issue_id} is in no commit of {rel}", "the repository has no commits yet")
    seen_blobs: set[Any] = set()
    for commit in repo.walk(repo.head.target, pygit2.enums.SortMode.TIME):
        try:
            entry = commit.tree[rel]
        except KeyError:
            continue
        if entry.id in seen_blobs:
            continue
        seen_blobs.add(entry.id)
        blob = repo[entry.id]
        data = blob.data if isinstance(blob, pygit2.Blob) else b""
        for line in data.splitlines():
            if needle in line or needle2 in line:
                obj = json.loads(line)
                if obj.get("id") == issue_id:
                    obj["restored_from"] = {"commit": str(commit.id), "committed_at": commit.commit_time,
                                            "summary": commit.message.splitlines()[0] if commit.message else ""}
                    return obj
    raise NotFoundError(f"{issue_id} is in no commit of {rel}", "only committed versions can be restored")
