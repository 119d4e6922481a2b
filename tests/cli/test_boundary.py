"""The error boundary: every error kind the core raises prints and exits the same with and
without the daemon; an unexpected exception is one line, exit 70, valid JSON under --json."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from testing import run_bd

from bdgit import errors
from bdgit.backends.direct import DirectBackend
from bdgit.cli.main import report
from bdgit.cli.runtime import Globals
from bdgit.errors import BdError

#: an operation that raises each kind the operations can raise, in a workspace with test-1 <- test-2
FAILING: dict[str, tuple[str, dict[str, Any]]] = {
    "usage": ("update", {"id": "test-1", "bogus": 1}),
    "validation": ("create", {"title": "x", "priority": 9}),
    "not_found": ("dep_add", {"from_id": "test-1", "to_id": "test-99"}),
    "conflict": ("create", {"title": "x", "id": "test-1"}),
    "cycle": ("dep_add", {"from_id": "test-1", "to_id": "test-2"}),
    "batch_failed": ("batch", {"operations": [{"operation": "create", "args": {"title": "ok"}},
                                              {"operation": "show", "args": {"id": "test-404"}}]}),
    "import_format": ("import", {"text": '{"id": "test-9", "title": "a"}\nnot json\n'}),
    "collision": ("import", {"text": json.dumps({"id": "test-1", "title": "another", "created_at":
                                                 "2020-01-01T00:00:00Z", "updated_at": "2020-01-01T00:00:00Z"})}),
}


def _two(beads_repo: Path) -> None:
    b = DirectBackend(_ws(beads_repo), "tester")
    try:
        b.call("create", {"title": "one"})
        b.call("create", {"title": "two", "dependencies": ["test-1"]})
    finally:
        b.close()


def _ws(root: Path) -> Any:
    from bdgit.workspace import find
    return find(cwd=root)


def _raise(b: Any, op: str, args: dict[str, Any]) -> BdError:
    with pytest.raises(BdError) as e:
        b.call(op, args)
    return e.value


def _rendered(e: BdError, json_out: bool, capsys: pytest.CaptureFixture[str]) -> tuple[str, str]:
    g = Globals()
    g.json = json_out
    capsys.readouterr()
    report(e, g)
    return capsys.readouterr()


def test_every_kind_is_the_same_error_with_and_without_the_daemon(beads_repo: Path, daemon: dict,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from bdgit.backends.daemon import DaemonBackend
    _two(beads_repo)
    direct = DirectBackend(_ws(beads_repo), "tester")
    remote = DaemonBackend.try_connect(_ws(beads_repo), "tester", timeout=20)
    assert remote is not None
    try:
        for kind, (op, args) in FAILING.items():
            a, b = _raise(direct, op, args), _raise(remote, op, args)
            assert a.kind == b.kind == kind, (kind, a, b)
            assert type(a) is type(b) and a.message == b.message and a.hint == b.hint, kind
            assert a.details == b.details, kind
            assert a.exit_code == b.exit_code, kind
            for json_out in (False, True):
                assert _rendered(a, json_out, capsys) == _rendered(b, json_out, capsys), (kind, json_out)
    finally:
        direct.close()
        remote.close()
    assert isinstance(_raise(DirectBackend(_ws(beads_repo), "t"), *FAILING["cycle"]), errors.CycleError)


def test_the_cli_prints_the_same_failure_either_way(beads_repo: Path, daemon: dict) -> None:
    _two(beads_repo)
    cases = [("dep", "add", "test-1", "test-99"), ("dep", "add", "test-1", "test-2"), ("show", "test-404"),
             ("create", "x", "-p", "9"), ("create", "x", "--id", "test-1")]
    for args in cases:
        for extra in ((), ("--json",)):
            via = run_bd(*args, *extra, cwd=beads_repo)
            here = run_bd(*args, *extra, "--no-daemon", cwd=beads_repo)
            assert (via.returncode, via.stdout, via.stderr) == (here.returncode, here.stdout, here.stderr), args
            assert via.returncode == 1 and via.stderr.startswith("Error: ")
    hinted = run_bd("dep", "add", "test-1", "test-99", cwd=beads_repo)
    assert "check the ID with 'bd list'" in hinted.stderr  # the hint crosses the socket


def test_every_error_class_survives_the_wire() -> None:
    samples = [errors.CycleError.of(["a", "b", "a"]), errors.ImportFormatError.at(3, "invalid JSON", "fix it"),
               errors.BatchFailed.of(1, "show", errors.NotFoundError("gone", "look"), [{"success": False}]),
               errors.UsageError("bad", "do x", flag="--y")]
    samples += [cls(f"a {cls.kind}") for cls in errors.KINDS.values()]
    for e in samples:
        back = errors.from_wire({"success": False, **e.to_wire()})
        assert type(back) is type(e) and back.kind == e.kind and back.message == e.message
        assert back.hint == e.hint and back.details == e.details and back.exit_code == e.exit_code
    odd = errors.from_wire({"success": False, "error": "x", "kind": "from_the_future"})
    assert odd.kind == "from_the_future" and type(odd) is BdError


def test_an_unexpected_error_is_one_line_exit_70_and_json(beads_repo: Path) -> None:
    db = beads_repo / ".beads" / "test.db"
    db.write_bytes(b"this is not a database" * 100)  # a damaged file: a clear database error
    p = run_bd("list", "--json", "--no-daemon", cwd=beads_repo)
    assert p.returncode == 1 and json.loads(p.stdout)["kind"] == "database"
    assert "Traceback" not in p.stderr and "bd init" in p.stderr
    # a bug: an operation that blows up inside the core (here: a handler replaced by one that divides by zero)
    code = ("import sys; from bdgit.ops import OPS; from bdgit.ops.registry import Op\n"
            "OPS['stats'] = Op('stats', lambda ctx, a: 1 / 0, False)\n"
            "from bdgit.cli.main import run; sys.exit(run(sys.argv[1:]))")
    import subprocess
    import sys
    os.unlink(db)
    from bdgit.workspace.initialize import init_workspace
    (beads_repo / ".beads" / "issues.jsonl").unlink()
    init_workspace(beads_repo, "test")
    for extra in ((), ("--json",)):
        p = subprocess.run([sys.executable, "-c", code, "stats", "--no-daemon", *extra], cwd=beads_repo,
                           capture_output=True, text=True)
        assert p.returncode == 70, p.stderr
        assert p.stderr.splitlines()[0] == "Error: internal error: ZeroDivisionError: division by zero"
        assert "Traceback" not in p.stderr and "--debug" in p.stderr
        if extra:
            assert json.loads(p.stdout)["kind"] == "internal"
    p = subprocess.run([sys.executable, "-c", code, "stats", "--no-daemon", "--debug"], cwd=beads_repo,
                       capture_output=True, text=True)
    assert p.returncode == 70 and "Traceback" in p.stderr and "ZeroDivisionError" in p.stderr
