"""Concurrent direct-mode writers: real processes racing on one workspace."""
from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from testing import run_bd

WORKERS = 4
PER_WORKER = 25

#: One agent process: PER_WORKER ``bd create`` commands through the console script's entry point
#: (``bdgit.cli.main.run``), each one opening the workspace, taking the lock and flushing the JSONL
#: like a fresh ``bd`` process does. One JSON line per command: its exit code, stdout and stderr.
CREATOR = """
import contextlib, io, json, sys
from bdgit.cli.main import run
n = int(sys.argv[1])
for k in range({per}):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run(["create", f"worker {{n}} issue {{k}}", "--json"])
    print(json.dumps([code, out.getvalue(), err.getvalue()]), flush=True)
"""


@pytest.mark.stress
def test_concurrent_creates_give_distinct_ids_and_a_complete_jsonl(beads_repo: Path) -> None:
    procs = [subprocess.Popen([sys.executable, "-c", CREATOR.format(per=PER_WORKER), str(n)], cwd=beads_repo,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for n in range(WORKERS)]
    results = []
    for p in procs:
        out, err = p.communicate()
        assert p.returncode == 0, err
        assert err == ""
        results.extend(json.loads(line) for line in out.splitlines())
    total = WORKERS * PER_WORKER
    assert len(results) == total
    for code, out, err in results:
        assert code == 0, err
        assert err == "", err
    ids = [json.loads(out)["id"] for _, out, _ in results]
    assert len(set(ids)) == total
    assert sorted(ids, key=lambda i: int(i.split("-")[1])) == [f"test-{n}" for n in range(1, total + 1)]
    lines = (beads_repo / ".beads" / "issues.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == total
    assert sorted(json.loads(x)["id"] for x in lines) == sorted(ids)
    titles = {json.loads(x)["title"] for x in lines}
    assert titles == {f"worker {n} issue {k}" for n in range(WORKERS) for k in range(PER_WORKER)}
    p = run_bd("stats", "--json", cwd=beads_repo, check=True)
    assert json.loads(p.stdout)["total_issues"] == total
    p = run_bd("export", cwd=beads_repo, check=True)
    assert p.stdout.splitlines() == lines  # the file is exactly what the database holds


@pytest.mark.stress
def test_concurrent_bd_processes(beads_repo: Path) -> None:
    """The same race with a fresh ``python -m bdgit`` process per command (fewer of them)."""
    def agent(n: int) -> list[subprocess.CompletedProcess[str]]:
        return [run_bd("create", f"agent {n} #{k}", "--json", cwd=beads_repo) for k in range(4)]

    with ThreadPoolExecutor(WORKERS) as pool:
        done = [p for batch in pool.map(agent, range(WORKERS)) for p in batch]
    assert all(p.returncode == 0 and p.stderr == "" for p in done), [p.stderr for p in done]
    ids = sorted(json.loads(p.stdout)["id"] for p in done)
    assert ids == sorted(f"test-{n}" for n in range(1, 17))
    lines = (beads_repo / ".beads" / "issues.jsonl").read_text(encoding="utf-8").splitlines()
    assert sorted(json.loads(x)["id"] for x in lines) == ids


MIXED = """
import sys
from bdgit.cli.main import run
n = int(sys.argv[1])
for k in range({per}):
    target = f"test-{{k % 4 + 1}}"
    ops = [["label", "add", target, f"w{{n}}-{{k}}"], ["comment", "add", target, f"from {{n}}/{{k}}"],
           ["update", target, "--notes", f"last by {{n}}"], ["create", f"extra {{n}}/{{k}}"]]
    code = run(ops[k % 4] + ["--actor", f"agent-{{n}}"])
    if code != 0:
        sys.exit(f"worker {{n}} step {{k}} failed with {{code}}")
"""


@pytest.mark.stress
def test_concurrent_mixed_writes_lose_nothing(beads_repo: Path) -> None:
    for k in range(4):
        run_bd("create", f"shared {k}", check=True, cwd=beads_repo)
    procs = [subprocess.Popen([sys.executable, "-c", MIXED.format(per=PER_WORKER), str(n)], cwd=beads_repo,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for n in range(WORKERS)]
    for p in procs:
        out, err = p.communicate()
        assert p.returncode == 0, err
    p = run_bd("list", "--json", "--status", "all", cwd=beads_repo, check=True)
    issues = {i["id"]: i for i in json.loads(p.stdout)}
    labels = sorted(lb for i in issues.values() for lb in i.get("labels", []))
    want_labels = sorted(f"w{n}-{k}" for n in range(WORKERS) for k in range(PER_WORKER) if k % 4 == 0)
    assert labels == want_labels
    extras = [i for i in issues.values() if i["title"].startswith("extra ")]
    assert len(extras) == sum(1 for _ in range(WORKERS) for k in range(PER_WORKER) if k % 4 == 3)
    n_comments = 0
    for k in range(1, 5):
        n_comments += len(json.loads(run_bd("comments", f"test-{k}", "--json", cwd=beads_repo, check=True).stdout))
    assert n_comments == sum(1 for _ in range(WORKERS) for k in range(PER_WORKER) if k % 4 == 1)
    lines = (beads_repo / ".beads" / "issues.jsonl").read_text(encoding="utf-8")
    assert run_bd("export", cwd=beads_repo, check=True).stdout == lines  # auto-flush kept up under contention
