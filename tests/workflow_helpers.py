"""Run the real Snakemake workflow in a scratch copy (used by the workflow tests)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
WORKFLOW_PARTS = ("Snakefile", "rules", "scripts", "config", "report", "envs", "profiles")

#: a small demo: a 128-row subarray, 16 darks — the same code paths as the full-frame demo
SMALL_DEMO = {"size": 128, "n_darks": 16, "seed": 7}


def copy_workflow(dest: Path) -> Path:
    """Copy the workflow (not the data) into ``dest``, as a user's clone would have it."""
    dest.mkdir(parents=True, exist_ok=True)
    for part in WORKFLOW_PARTS:
        src = REPO / part
        if src.is_dir():
            shutil.copytree(src, dest / part, dirs_exist_ok=True)
        else:
            shutil.copy2(src, dest / part)
    return dest


def demo_config(workdir: Path, name: str = "test.yaml", **overrides) -> Path:
    """Write a small-demo config into ``workdir``; ``overrides`` are deep-merged top-level keys."""
    config = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    config["archive"]["demo"].update(SMALL_DEMO)
    # the one observation of the demo (the programme demo: tests/test_workflow_programme.py)
    config["targets"] = [{"obs_id": "odemo1010"}]
    config["archive"]["demo"]["programme"] = {}
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key].update(value)
        else:
            config[key] = value
    path = workdir / name
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def without_hstcal() -> dict[str, str]:
    """The environment with hstcal's binaries (``cs0.e``) removed from ``PATH``."""
    path = [
        d for d in os.environ.get("PATH", "").split(os.pathsep) if not (Path(d) / "cs0.e").exists()
    ]
    return {**os.environ, "PATH": os.pathsep.join(path)}


def snakemake(
    workdir: Path, *args: str, check: bool = True, timeout: float = 900, hstcal: bool = True
) -> subprocess.CompletedProcess:
    """Run ``python -m snakemake ARGS`` in ``workdir`` (``hstcal=False``: hide ``cs0.e``)."""
    cmd = [sys.executable, "-m", "snakemake", *args]
    env = None if hstcal else without_hstcal()
    proc = subprocess.run(
        cmd, cwd=workdir, capture_output=True, text=True, timeout=timeout, env=env
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} failed with exit {proc.returncode}\n--- stdout\n{proc.stdout[-4000:]}"
            f"\n--- stderr\n{proc.stderr[-8000:]}"
        )
    return proc


def planned_jobs(proc: subprocess.CompletedProcess) -> dict[str, int]:
    """Rule → job count from the 'Job stats' table of a dry run (empty if nothing to do)."""
    text = proc.stdout + proc.stderr
    jobs: dict[str, int] = {}
    block = text.split("Job stats:", 1)
    if len(block) < 2:
        return jobs
    for line in block[1].splitlines()[3:]:
        m = re.match(r"^(\w+)\s+(\d+)$", line.strip())
        if not m:
            break
        if m.group(1) != "total":
            jobs[m.group(1)] = int(m.group(2))
    return jobs
