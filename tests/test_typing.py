"""The package is mypy-clean (configuration in pyproject.toml)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from testing import REPO_ROOT


def test_mypy_reports_no_errors(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "mypy-cache"), "bdgit"],
                          cwd=REPO_ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
