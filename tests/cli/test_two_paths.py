"""The fast path and the typer app run the same declaration: for every command, the same
output, exit code and effect (timestamps aside), and the table below names every command."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from testing import bd_runner

from bdgit.cli.decl import load_all

#: an invocation of each command (several for some); {jsonl} is the workspace JSONL's path
INVOCATIONS: dict[str, list[tuple[str, ...]]] = {
    "create": [("create", "Third", "-p", "1", "-l", "a,b", "--deps", "test-1", "--json"), ("create", "Plain")],
    "show": [("show", "test-1"), ("show", "test-1", "test-2", "--json")],
    "list": [("list",), ("list", "--json", "-s", "open", "-n", "1", "--sort", "id")],
    "search": [("search", "one", "--json")],
    "update": [("update", "test-1", "-p", "0", "--json"), ("update", "test-2")],
    "close": [("close", "test-2", "-r", "done", "--json")],
    "reopen": [("reopen", "test-2")],
    "delete": [("delete", "test-2"), ("delete", "test-2", "--force", "--json")],
    "undelete": [("delete", "test-2", "--force"), ("undelete", "test-2", "--json")],
    "ready": [("ready",), ("ready", "--json", "-n", "1"), ("ready", "--claim", "--lease", "1h", "--json")],
    "heartbeat": [("heartbeat",), ("heartbeat", "--json")],
    "watch": [("watch",)],
    "blocked": [("blocked",), ("blocked", "--json")],
    "stats": [("stats",), ("stats", "--json")],
    "dep add": [("dep", "add", "test-1", "test-2")],
    "dep remove": [("dep", "remove", "test-2", "test-1", "--json")],
    "dep tree": [("dep", "tree", "test-2"), ("dep", "tree", "test-1", "--reverse", "--json")],
    "dep cycles": [("dep", "cycles"), ("dep", "cycles", "--json")],
    "label add": [("label", "add", "test-1", "test-2", "x")],
    "label remove": [("label", "remove", "test-1", "x", "--json")],
    "label list": [("label", "list", "test-1")],
    "label list-all": [("label", "list-all", "--json")],
    "comment": [("comment", "add", "test-1", "a", "remark"), ("comment", "list", "test-1", "--json")],
    "comments": [("comments", "test-1")],
    "note": [("note", "test-1", "more", "words", "--json")],
    "events": [("events", "test-1"), ("events", "test-1", "--json", "-n", "1")],
    "export": [("export",), ("export", "-s", "open")],
    "import": [("import", "-i", "{jsonl}", "--json"), ("import", "-i", "{jsonl}", "--dry-run")],
    "rename-prefix": [("rename-prefix", "tst", "--dry-run")],
    "info": [("info", "--json")],
    "config get": [("config", "get", "issue_prefix")],
    "config set": [("config", "set", "some.key", "v")],
    "config list": [("config", "list", "--json")],
    "daemon": [("daemon", "status"), ("daemon", "bogus")],
    "sync": [("sync", "--no-pull", "--no-push", "--dry-run", "--json"),
             ("sync", "--no-pull", "--no-push", "--dry-run", "--retry-timeout", "5", "--json")],
    "merge-driver": [("merge-driver", "{jsonl}", "{jsonl}", "{jsonl}")],
    "hooks install": [("hooks", "install", "--json")],
    "hooks uninstall": [("hooks", "uninstall")],
    "hooks status": [("hooks", "status")],
    "hooks run": [("hooks", "run", "post-checkout", "a", "b", "0")],
    "doctor": [("doctor", "--json")],
    "init": [("init",), ("init", "--json")],
    "quickstart": [("quickstart",)],
    "version": [("version",), ("version", "--json")],
    "help": [("help",), ("help", "dep", "add")],
    "completion": [("completion", "bash")],
    "epic status": [("epic", "status"), ("epic", "status", "--eligible-only", "--json")],
    "epic close-eligible": [("epic", "close-eligible", "--dry-run", "--json")],
    "repair-deps": [("repair-deps",), ("repair-deps", "--fix", "--json")],
    "migrate": [("migrate", "--inspect", "--json")],
    "prime": [("prime",), ("prime", "--mcp", "--stealth")],
    "where": [("where", "--json")],
    "template list": [("template", "list")],
    "template show": [("template", "show", "bug", "--json"), ("template", "show", "nope")],
    "template create": [("template", "create", "perf", "--json")],
    "audit record": [("audit", "record", "--kind", "tool_call", "--tool-name", "t", "--exit-code", "0")],
    "audit label": [("audit", "label", "int-00000000", "--label", "good")],
    "restore": [("restore", "test-1")],
    "migrate-hash-ids": [("migrate-hash-ids", "--dry-run", "--json")],
}

_TS = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)?")
_VOLATILE = re.compile(r"(\"(pid|seconds|uptime_seconds)\": ?)[0-9.]+")
_AUDIT_ID = re.compile(r"int-[0-9a-f]{8}")


#: an issue's versions (clock readings and the clone's node id) differ from run to run
_VERSIONS = re.compile(r',"_v":\{.*?\}(?=\}\n|\}$)', re.S)


def _normal(text: str, root: Path) -> str:
    text = _VERSIONS.sub("", text)
    return _AUDIT_ID.sub("int-ID", _VOLATILE.sub(r"\1N", _TS.sub("TS", text.replace(str(root), "ROOT"))))


def test_every_command_has_an_invocation() -> None:
    assert set(INVOCATIONS) == set(load_all())


def _workspace(tmp_path: Path, beads_repo: Path, name: str) -> Path:
    copy = tmp_path / name
    shutil.copytree(beads_repo, copy, symlinks=True)
    return copy


@pytest.mark.parametrize("path", sorted(INVOCATIONS))
def test_the_two_paths_agree(path: str, bd, beads_repo: Path, tmp_path: Path,  # type: ignore[no-untyped-def]
                             capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    bd("create", "one")
    bd("create", "two", "--deps", "test-1")
    fast_root, slow_root = _workspace(tmp_path, beads_repo, "fast"), _workspace(tmp_path, beads_repo, "slow")
    run = bd_runner(capsys)
    results = {}
    for root, no_fast in ((fast_root, ""), (slow_root, "1")):
        monkeypatch.chdir(root)
        if no_fast:
            monkeypatch.setenv("BD_NO_FAST_PATH", "1")
        jsonl = str(root / ".beads" / "issues.jsonl")
        outs = []
        for args in INVOCATIONS[path]:
            code, out, err = run(*(a.replace("{jsonl}", jsonl) for a in args))
            outs.append((code, _normal(out, root), _normal(err, root)))
        state = _normal((root / ".beads" / "issues.jsonl").read_text(), root)
        results[bool(no_fast)] = (outs, state)
        monkeypatch.delenv("BD_NO_FAST_PATH", raising=False)
    assert results[False] == results[True]


def test_every_command_is_documented_with_an_example() -> None:
    from bdgit.cli.gendocs import DOC_PATH, missing_examples, render
    assert missing_examples() == []
    assert DOC_PATH.read_text() == render(), "run: python -m bdgit.cli.gendocs"
