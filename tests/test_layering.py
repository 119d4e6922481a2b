"""The package's shape: no import cycles (counting imports inside functions too), and the
light modules stay light (what every ``bd`` process or hook pays for at start-up)."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from testing import REPO_ROOT

from bdgit.scc import cyclic_components

PKG = REPO_ROOT / "bdgit"


def _module_name(path: Path) -> str:
    rel = path.relative_to(REPO_ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, name: str, modules: set[str]) -> set[str]:
    """Modules of the package that ``path`` imports (anywhere in it, except under TYPE_CHECKING)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_pkg = path.name == "__init__.py"
    here = name if is_pkg else name.rpartition(".")[0]
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.dump(node.test):
            skip.update(id(n) for n in ast.walk(node))
    out: set[str] = set()

    def add(mod: str) -> None:
        while mod and mod not in modules:
            mod = mod.rpartition(".")[0]
        if mod and mod != name:
            out.add(mod)

    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("bdgit"):
                    add(a.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here.split(".")
                base = base[:len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if not mod.startswith("bdgit"):
                continue
            for a in node.names:  # `from . import x` imports the submodule x when there is one
                sub = f"{mod}.{a.name}"
                add(sub if sub in modules else mod)
    return out


def import_graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in PKG.rglob("*.py")}
    mods = set(files)
    return {m: _imports(p, m, mods) for m, p in files.items()}


def test_no_import_cycles() -> None:
    graph = import_graph()
    assert "bdgit.cli.main" in graph and graph["bdgit.cli.main"], "the walker found no imports"
    assert [sorted(c) for c in cyclic_components({m: sorted(d) for m, d in graph.items()})] == []


def _loaded_after(code: str) -> set[str]:
    probe = f"import sys; {code}; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-P", "-c", probe], capture_output=True, text=True, check=True,
                         cwd=REPO_ROOT).stdout.split()
    return set(out)


def test_the_daemon_client_path_stays_light() -> None:
    """The CLI's daemon path (its globals, the backend chooser, the socket client) must not load
    SQLite, pygit2, typer, click, filelock or dataclasses."""
    loaded = _loaded_after("import bdgit.cli.main, bdgit.cli.fast, bdgit.cli.commands.issues, "
                           "bdgit.backends, bdgit.backends.daemon")
    heavy = {"sqlite3", "pygit2", "typer", "click", "filelock", "dataclasses", "bdgit.store"}
    assert not heavy & loaded


def test_the_git_environment_module_stays_light() -> None:
    loaded = _loaded_after("import bdgit.gitsync.env")
    assert "pygit2" not in loaded and "sqlite3" not in loaded
