"""What a newcomer trying bd meets: clear refusals, clear hints, nothing done silently."""
from __future__ import annotations

from pathlib import Path

import pytest

from bdgit.errors import ConflictError, DaemonError
from bdgit.workspace.initialize import init_workspace


def test_init_inside_a_workspace_refuses_and_says_which(beads_repo: Path) -> None:
    sub = beads_repo / "src" / "pkg"
    sub.mkdir(parents=True)
    with pytest.raises(ConflictError) as e:
        init_workspace(sub, "pkg")
    assert str(beads_repo / ".beads") in e.value.message and "--nested" in (e.value.hint or "")
    assert not (sub / ".beads").exists()
    made = init_workspace(sub, "pkg", nested=True)
    assert Path(made["database"]).parent == sub / ".beads"


def test_home_beads_dir_is_not_a_workspace(tmp_path: Path) -> None:
    home = Path.home()
    (home / ".beads").mkdir()
    (home / ".beads" / "default.db").write_bytes(b"")
    proj = home / "proj"
    proj.mkdir()
    init_workspace(proj, "proj")
    assert (proj / ".beads" / "proj.db").exists()


def test_the_python_client_without_a_daemon_says_how_to_start_one(beads_repo: Path) -> None:
    from bdgit.rpc.client import Client
    with pytest.raises(DaemonError) as e:
        Client(str(beads_repo)).execute("list", {})
    assert "bd daemon start" in str(e.value)


# --- through the CLI -------------------------------------------------------------------------

import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import subprocess  # noqa: E402
from typing import Callable  # noqa: E402

from testing import run_bd  # noqa: E402

Bd = Callable[..., tuple[int, str, str]]


def test_version_flag(bd: Bd) -> None:
    for flag in ("--version", "-V"):
        code, out, _ = bd(flag)
        assert code == 0 and re.match(r"bd version \d+\.\d+\.\d+", out)


def test_help_has_beads_layout_and_whole_descriptions(bd: Bd) -> None:
    from bdgit.cli.decl import load_all
    code, out, _ = bd("help")
    assert code == 0
    assert "Usage:" in out and "Available Commands:" in out and "Flags" in out
    for name in ("create", "list", "show", "ready", "epic", "prime"):
        assert re.search(rf"^  {name}\s", out, re.M), name
    for path, cmd in load_all().items():
        if " " not in path and not cmd.hidden:
            assert cmd.help.splitlines()[0] in out, f"{path}: description cut"
    assert "BEADS_DIR" in out  # --db names both variables
    assert bd("--help")[1] == out and bd()[1] == out


def test_quickstart_heading(bd: Bd) -> None:
    out = bd("quickstart")[1]
    assert "Dependency-Aware" in out and "bd init" in out and "bd create" in out


def test_every_command_help_has_an_example() -> None:
    from bdgit.cli.decl import load_all
    for path, cmd in load_all().items():
        assert cmd.examples, f"bd {path} has no example"
    p = run_bd("create", "--help")
    assert p.returncode == 0 and "Examples:" in p.stdout
    assert "'### Name' sub-sections" in p.stdout  # the -f markdown format is documented


def test_docs_cli_md_is_generated_from_the_declarations() -> None:
    from bdgit.cli.decl import load_all
    from bdgit.cli.gendocs import DOC_PATH, render
    text = DOC_PATH.read_text()
    assert text == render(), "run: python -m bdgit.cli.gendocs"
    for path, cmd in load_all().items():
        if not cmd.hidden:
            assert f"`bd {path}`" in text and cmd.examples[0] in text


def test_daemon_action_help_is_about_the_action(bd: Bd) -> None:
    code, out, _ = bd("daemon", "start", "--help")
    assert code == 0 and out.startswith("Usage: bd daemon start") and "--foreground" in out
    assert bd("daemon", "logs", "--help")[1].startswith("Usage: bd daemon logs")


def test_daemon_logs_without_a_log_says_so(bd: Bd) -> None:
    code, out, err = bd("daemon", "logs")
    assert code == 0 and out == "" and "No daemon log yet" in err


def test_foreground_daemon_logs_to_stderr(beads_repo: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    import sys
    p = subprocess.Popen([sys.executable, "-m", "bdgit", "daemon", "start", "--foreground"], cwd=beads_repo,
                         env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert p.stderr is not None
        line = p.stderr.readline()
        assert "daemon started" in line
    finally:
        p.terminate()
        p.wait(10)


def test_a_background_daemon_logs_each_line_once(beads_repo: Path) -> None:
    from testing import run_bd
    run_bd("daemon", "start", cwd=beads_repo, check=True)
    run_bd("daemon", "stop", cwd=beads_repo, check=True)
    lines = (beads_repo / ".beads" / "daemon.log").read_text().splitlines()
    started = [ln for ln in lines if "daemon started" in ln]
    assert len(started) == 1, lines


def test_invalid_filter_values_are_errors(bd: Bd) -> None:
    bd("create", "one")
    for args, words in ((("--status", "opne"), "open, in_progress"), (("-t", "story"), "bug, feature"),):
        code, _, err = bd("list", *args)
        assert code == 1 and words in err, err
    code, _, err = bd("list", "--parent", "test-999")
    assert code == 1 and "not found" in err and "bd list" in err


def test_no_op_close_reopen_update(bd: Bd) -> None:
    bd("create", "one")
    assert "nothing changed" in bd("reopen", "test-1")[1]
    assert "Closed" in bd("close", "test-1")[1]
    code, out, _ = bd("close", "test-1")
    assert code == 0 and "nothing changed: it was already closed" in out and "Closed test-1" not in out
    assert "nothing changed" in bd("update", "test-1", "-p", "2")[1]
    code, _, err = bd("update", "test-1")
    assert code == 2 and "nothing to update" in err


def test_init_in_a_subdirectory_refuses(beads_repo: Path) -> None:
    sub = beads_repo / "pkg"
    sub.mkdir()
    p = run_bd("init", cwd=sub)
    assert p.returncode == 1 and "inside the workspace" in p.stderr and not (sub / ".beads").exists()
    p = run_bd("init", "--nested", "-q", "--no-hooks", cwd=sub)
    assert p.returncode == 0 and (sub / ".beads").is_dir()


def test_not_found_errors_all_have_the_same_hint(bd: Bd) -> None:
    bd("create", "one")
    for args in (("show", "test-9"), ("update", "test-9", "-p", "1"), ("close", "test-9"),
                 ("dep", "add", "test-9", "test-1"), ("dep", "add", "test-1", "test-9"),
                 ("label", "add", "test-9", "x"), ("comments", "test-9"), ("events", "test-9"),
                 ("dep", "tree", "test-9")):
        code, _, err = bd(*args)
        assert code == 1 and "not found" in err and "check the ID with 'bd list'" in err, (args, err)


def test_two_edited_copies_of_one_line_import_in_either_order_the_same_way(bd: Bd, beads_repo: Path) -> None:
    """Two files that each changed the title of the same line (versions untouched, same
    updated_at): the first one imported is an edit of what is here and wins; the second is then
    older than what is here, and the report says so."""
    bd("create", "one")
    line = json.loads((beads_repo / ".beads" / "issues.jsonl").read_text().splitlines()[0])
    reports = []
    for n, title in enumerate(("aaa same time", "zzz same time")):
        f = beads_repo / f"other{n}.jsonl"
        f.write_text(json.dumps({**line, "title": title}) + "\n")
        code, _, err = bd("import", "-i", str(f))
        assert code == 0, err
        reports.append(err)
    assert "1 updated" in reports[0] and "kept (newer here)" in reports[1], reports
    assert json.loads(bd("show", "test-1", "--json")[1])["title"] == "aaa same time"


def test_readonly_refuses_writes_and_allows_reads(bd: Bd) -> None:
    bd("create", "one")
    code, out, err = bd("--readonly", "create", "two")
    assert code == 1 and "read-only" in err
    assert bd("--readonly", "list", "--json")[0] == 0
    code, out, err = bd("close", "test-1", "--readonly")
    assert code == 1 and "read-only" in err


def test_readonly_through_the_daemon(daemon: dict, bd: Bd) -> None:
    code, out, err = bd("--readonly", "create", "two", "--json")
    assert code == 1 and json.loads(out)["kind"] == "read_only"
    code, out, _ = bd("--readonly", "info", "--json")
    assert code == 0 and json.loads(out)["mode"] == "daemon"


def test_sandbox_never_starts_a_daemon_but_uses_a_running_one(beads_repo: Path) -> None:
    env = {"BEADS_AUTO_START_DAEMON": "true"}
    p = run_bd("--sandbox", "info", "--json", cwd=beads_repo, env=env)
    assert p.returncode == 0 and json.loads(p.stdout)["mode"] == "direct"
    assert not (beads_repo / ".beads" / "bd.sock").exists()
    from bdgit.daemon import lifecycle as d
    from bdgit.workspace import find
    ws = find(cwd=beads_repo)
    d.start(ws, {"flush_interval": 0.1})
    try:
        p = run_bd("--sandbox", "info", "--json", cwd=beads_repo)
        assert json.loads(p.stdout)["mode"] == "daemon"
    finally:
        d.stop(ws, wait=10)


def test_boolean_flags_take_true_or_false(bd: Bd) -> None:
    bd("create", "one")
    assert bd("list", "--tree=false", "--json")[0] == 0
    assert bd("list", "--tree=true")[0] == 0
    assert bd("--json=true", "list")[1].startswith("[")
    code, _, err = bd("list", "--tree=maybe")
    assert code == 2 and "true or false" in err


def test_json_is_one_line_for_programs(bd: Bd) -> None:
    bd("create", "one")
    out = bd("list", "--json")[1]
    assert out.count("\n") == 1 and json.loads(out)[0]["id"] == "test-1"
