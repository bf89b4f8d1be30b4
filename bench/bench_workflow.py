"""Benchmark the whole demo workflow: wall time per stage, peak memory, no-op rerun.

Runs the workflow on a synthetic archive (default: full frame 1024x1024, 56 darks, as
a real anneal month) in a scratch copy of the workflow, reads the per-job
``benchmark:`` files Snakemake writes, and prints, per rule, the number of jobs, the
summed and the longest wall time and the peak RSS. Then reruns ``snakemake`` and
times the no-op.

Usage::

    python bench/bench_workflow.py [--size 1024] [--n-darks 56] [--cores 2] [--keep DIR]
"""

from __future__ import annotations

import argparse
import csv
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
WORKFLOW_PARTS = ("Snakefile", "rules", "scripts", "config", "report", "envs", "profiles")


def copy_workflow(dest: Path) -> None:
    for part in WORKFLOW_PARTS:
        src = REPO / part
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, dest / part)


def run(cmd: list[str], cwd: Path) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-5000:])
        raise SystemExit(f"snakemake failed (exit {proc.returncode})")
    return elapsed


def stage_table(workdir: Path) -> list[tuple[str, int, float, float, float]]:
    """(rule, jobs, summed s, max s, peak RSS MB) from the benchmark TSVs."""
    acc: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for tsv in (workdir / "benchmarks").rglob("*.tsv"):
        rule = tsv.stem if tsv.parent.name not in ("darks",) else "download_dark"
        with open(tsv) as fh:
            for row in csv.DictReader(fh, delimiter="\t"):
                rss = (
                    float(row["max_rss"])
                    if row.get("max_rss") not in (None, "", "NA", "-")
                    else float("nan")
                )
                acc[rule].append((float(row["s"]), rss))
    return sorted(
        (
            (rule, len(v), sum(s for s, _ in v), max(s for s, _ in v), max(r for _, r in v))
            for rule, v in acc.items()
        ),
        key=lambda r: -r[2],
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--n-darks", type=int, default=56)
    ap.add_argument("--seed", type=int, default=2021)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--keep", type=Path, help="run in this directory and keep it")
    args = ap.parse_args(argv)

    workdir = args.keep or Path(tempfile.mkdtemp(prefix="stisdarks-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    copy_workflow(workdir)
    config = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    config["archive"]["demo"].update(size=args.size, n_darks=args.n_darks, seed=args.seed)
    (workdir / "bench.yaml").write_text(yaml.safe_dump(config))
    snakemake = [
        sys.executable,
        "-m",
        "snakemake",
        "--configfile",
        "bench.yaml",
        "--cores",
        str(args.cores),
    ]

    print(
        f"workflow benchmark: {args.size}x{args.size}, {args.n_darks} darks, {args.cores} cores, in {workdir}"
    )
    total = run(snakemake, workdir)
    noop = run(snakemake, workdir)
    print(f"\n{'rule':<22}{'jobs':>5}{'sum s':>9}{'max s':>9}{'peak RSS MB':>13}")
    for rule, jobs, ssum, smax, rss in stage_table(workdir):
        print(f"{rule:<22}{jobs:>5}{ssum:>9.1f}{smax:>9.1f}{rss:>13.0f}")
    print(f"\nwhole workflow: {total:.1f} s wall on {args.cores} cores")
    print(f"no-op rerun:    {noop:.2f} s")
    if not args.keep:
        shutil.rmtree(workdir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
