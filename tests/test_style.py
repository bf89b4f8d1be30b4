"""The code style CI enforces: ruff lint, ruff format and snakefmt, on the whole project."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PYTHON_PARTS = ["src", "tests", "scripts", "bench"]


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed; install the test extra: pip install -e '.[test]'")
    return found


@pytest.mark.parametrize(
    "args",
    [
        ["ruff", "check", *PYTHON_PARTS],
        ["ruff", "format", "--check", *PYTHON_PARTS],
        ["snakefmt", "--check", "Snakefile", "rules"],
    ],
    ids=["ruff-check", "ruff-format", "snakefmt"],
)
def test_style(args):
    proc = subprocess.run([_tool(args[0]), *args[1:]], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
