"""What each workflow job imports, and what that costs (``python -X importtime`` per job).

Runs the small demo workflow (a 128-row archive, 16 darks) in a scratch copy with
``PYTHONPROFILEIMPORTTIME=1`` and one core, so each job's import report follows the
``rule NAME:`` line Snakemake prints for it, and prints per rule the summed top-level
import time and which of the heavy packages (scipy, matplotlib, astroquery, crds) the
job imported. A job should import only what it uses.

Usage::

    python bench/bench_imports.py [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import yaml
from bench_workflow import REPO, copy_workflow  # the same scratch copy as the workflow bench

HEAVY = ("scipy", "matplotlib", "astroquery", "crds")
_LINE = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|( *)(\S+)")
_RULE = re.compile(r"^(?:local)?(?:rule|checkpoint) (\w+):")


def per_rule(stderr: str) -> dict[str, dict]:
    """Rule → {"ms": top-level import time, "heavy": heavy packages imported}, from the log."""
    out: dict[str, dict] = defaultdict(lambda: {"ms": 0.0, "heavy": set(), "jobs": 0})
    rule = None
    for line in stderr.splitlines():
        m = _RULE.match(line.strip())
        if m:
            rule = m.group(1)
            out[rule]["jobs"] += 1
            continue
        m = _LINE.match(line)
        if m and rule is not None:
            cumulative, indent, name = int(m.group(2)), len(m.group(3)), m.group(4)
            if indent == 1:  # a top-level import of the job's process
                out[rule]["ms"] += cumulative / 1000.0
            top = name.split(".")[0]
            if top in HEAVY:
                out[rule]["heavy"].add(top)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep", type=Path, help="run in this directory and keep it")
    args = ap.parse_args(argv)
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="stisdarks-imports-"))
    workdir.mkdir(parents=True, exist_ok=True)
    copy_workflow(workdir)
    config = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    config["archive"]["demo"].update(size=128, n_darks=16, seed=7)
    (workdir / "bench.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1"}
    cmd = [sys.executable, "-m", "snakemake", "--configfile", "bench.yaml", "--cores", "1"]
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"snakemake failed (exit {proc.returncode})")
    rules = per_rule(proc.stderr)
    print(f"{'rule':<20}{'jobs':>5}{'imports s':>11}  heavy packages imported")
    for rule, info in sorted(rules.items(), key=lambda kv: -kv[1]["ms"]):
        if rule == "all":
            continue
        heavy = ", ".join(sorted(info["heavy"])) or "-"
        print(
            f"{rule:<20}{info['jobs']:>5}{info['ms'] / 1000 / max(info['jobs'], 1):>11.2f}  {heavy}"
        )
    if not args.keep:
        shutil.rmtree(workdir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
