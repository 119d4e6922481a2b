"""Long imports/exports draw a progress bar on a terminal, never in --json or pipes."""
from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path


def _jsonl(n: int) -> str:
    ts = "2026-01-01T00:00:00.000001Z"
    return "".join(json.dumps({"id": f"test-{i}", "title": f"issue {i}", "description": "", "status": "open",
                               "priority": 2, "issue_type": "task", "created_at": ts, "updated_at": ts}) + "\n"
                   for i in range(1, n + 1))


def _run_on_tty(args: list[str], cwd: Path) -> tuple[int, str]:
    """Run bd with stderr on a pseudo-terminal; returns (exit code, what the terminal got)."""
    master, slave = pty.openpty()
    p = subprocess.Popen([sys.executable, "-m", "bdgit", *args], cwd=cwd, stdout=subprocess.DEVNULL,
                         stderr=slave, stdin=subprocess.DEVNULL)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:  # EIO once the child closed its end
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return p.wait(60), b"".join(chunks).decode(errors="replace")


def test_import_draws_a_bar_on_a_terminal(beads_repo: Path):
    src = beads_repo / "many.jsonl"
    src.write_text(_jsonl(600))
    code, tty = _run_on_tty(["--no-daemon", "import", "-i", str(src)], beads_repo)
    assert code == 0
    assert "Importing [" in tty and "600/600" in tty
    assert "Import complete: 600 created" in tty


def test_no_bar_with_json_or_in_a_pipe(beads_repo: Path):
    src = beads_repo / "many.jsonl"
    src.write_text(_jsonl(600))
    code, tty = _run_on_tty(["--no-daemon", "import", "-i", str(src), "--json"], beads_repo)
    assert code == 0 and "Importing [" not in tty
    p = subprocess.run([sys.executable, "-m", "bdgit", "export", "-o", str(beads_repo / "out.jsonl")],
                       cwd=beads_repo, capture_output=True, text=True, check=True)
    assert "Exporting [" not in p.stderr and "Exported 600 issues" in p.stderr


def test_export_to_a_file_draws_a_bar_on_a_terminal(beads_repo: Path):
    src = beads_repo / "many.jsonl"
    src.write_text(_jsonl(300))
    subprocess.run([sys.executable, "-m", "bdgit", "import", "-i", str(src)], cwd=beads_repo, check=True,
                   capture_output=True)
    code, tty = _run_on_tty(["--no-daemon", "export", "-o", str(beads_repo / "out.jsonl")], beads_repo)
    assert code == 0 and "Exporting [" in tty and "300/300" in tty
