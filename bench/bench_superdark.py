"""Benchmark the superdark engines on full-frame darks: wall time and peak memory.

Generates ``N`` full-frame (1024x1024) synthetic long darks (default 56, like an anneal
month) with :mod:`stisdarks.synthetic`, then runs each step in a fresh Python process,
as a Snakemake job does: the native basedark over all N, the native weekdark over the
last 7 on top of it, and — when calstis' ``cs0.e`` is on PATH — refstis + calstis on the
same inputs. The steps take turns, ``--repeat`` times, and for each it prints the median of

- ``wall s``: the whole process, interpreter start-up and imports included;
- ``work s``: inside the process, from after ``import stisdarks.engines.native`` to the output
  written (what earlier versions of this script printed);
- ``peak RSS MB``: the largest resident set of the process or of any process it waited
  for (``wait4``: calstis for refstis, the worker processes for native), the largest of
  the runs;

and the refstis / native ratio of both times.

Usage::

    python bench/bench_superdark.py [--n-darks 56] [--size 1024] [--repeat 3] [--keep DIR]

With ``--keep DIR`` the data are generated in ``DIR`` (and reused by a later run with the
same ``--n-darks`` and ``--size``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: run in the child: one step, its in-process time written as JSON to argv[1]
_CHILD = """
import json, sys, time
t0 = time.perf_counter()
from stisdarks import engines
import stisdarks.engines.native
t1 = time.perf_counter()
report, engine, kind, output, basedark, *inputs = sys.argv[1:]
if kind == "basedark":
    engines.make_basedark(inputs, output, engine=engine)
else:
    engines.make_weekdark(inputs, basedark, output, engine=engine)
t2 = time.perf_counter()
with open(report, "w") as fh:
    json.dump({"import": t1 - t0, "work": t2 - t1}, fh)
"""


def run_step(engine: str, kind: str, inputs, output: Path, basedark: str = "") -> dict:
    """One step in a fresh process: whole-process wall, in-process work time, peak RSS."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
        report = Path(fh.name)
    argv = [sys.executable, "-c", _CHILD, str(report), engine, kind, str(output), basedark]
    t0 = time.perf_counter()
    proc = subprocess.Popen([*argv, *map(str, inputs)], stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    try:
        if proc.returncode != 0:
            raise SystemExit(f"{engine} {kind} failed (exit status {proc.returncode})")
        inside = json.loads(report.read_text())
    finally:
        report.unlink(missing_ok=True)
    # ru_maxrss is in kB on Linux, in bytes on macOS
    rss_mb = usage.ru_maxrss / (1024.0**2 if sys.platform == "darwin" else 1024.0)
    return {"wall": wall, "work": inside["work"], "rss": rss_mb}


def summarise(runs: list[dict]) -> dict:
    """Medians of wall and work time, and the largest peak RSS, of several runs of a step."""
    return {
        "wall": statistics.median(r["wall"] for r in runs),
        "work": statistics.median(r["work"] for r in runs),
        "rss": max(r["rss"] for r in runs),
    }


def darks_for(work: Path, n_darks: int, size: int) -> Path:
    """The synthetic archive in ``work`` (generated unless one of this size is there)."""
    root = work / "archive"
    stamp = work / "archive.json"
    wanted = {"n_darks": n_darks, "size": size, "seed": 1}
    if stamp.is_file() and json.loads(stamp.read_text()) == wanted:
        print(f"reusing the {n_darks} synthetic {size}x{size} darks in {root}")
        return root
    shutil.rmtree(root, ignore_errors=True)
    t0 = time.perf_counter()
    # in a child: a parent grown by the generation would inflate the steps' peak RSS (a
    # child's maximum resident set counts what it inherits before it starts Python)
    code = "import sys; from stisdarks.synthetic import generate_archive as g; "
    code += "g(sys.argv[1], size=int(sys.argv[2]), n_darks=int(sys.argv[3]), seed=1)"
    subprocess.run([sys.executable, "-c", code, str(root), str(size), str(n_darks)], check=True)
    stamp.write_text(json.dumps(wanted))
    print(f"generated {n_darks} synthetic {size}x{size} darks in {time.perf_counter() - t0:.1f} s")
    return root


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-darks", type=int, default=56)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each step (medians)")
    ap.add_argument("--keep", type=Path, help="work in this directory and keep it")
    args = ap.parse_args(argv)

    work = args.keep or Path(tempfile.mkdtemp(prefix="stisdarks-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    root = darks_for(work, args.n_darks, args.size)
    darks = sorted((root / "darks").glob("odark*_flt.fits"))
    os.environ["oref"] = str(root / "oref") + "/"
    base = work / "basedark_native.fits"
    steps = {
        "native basedark": (len(darks), ("native", "basedark", darks, base)),
        "native weekdark": (
            7,
            ("native", "weekdark", darks[-7:], work / "weekdark.fits", str(base)),
        ),
    }
    if shutil.which("cs0.e"):
        ref = ("refstis", "basedark", darks, work / "basedark_refstis.fits")
        steps["refstis basedark"] = (len(darks), ref)
    # the steps take turns, so a machine that slows down mid-run slows them alike
    runs: dict[str, list[dict]] = {name: [] for name in steps}
    for _ in range(args.repeat):
        for name, (_, step) in steps.items():
            runs[name].append(run_step(*step))
    rows = [(name, n, summarise(runs[name])) for name, (n, _) in steps.items()]
    print(f"\nmedians of {args.repeat} runs; wall = whole process, work = after imports")
    print(f"{'step':<20}{'darks':>6}{'wall s':>9}{'work s':>9}{'peak RSS MB':>13}")
    for name, n, m in rows:
        print(f"{name:<20}{n:>6}{m['wall']:>9.2f}{m['work']:>9.2f}{m['rss']:>13.0f}")
    if len(rows) < 3:
        print(
            "refstis + calstis: cs0.e not found on PATH (install hstcal to compare in the same run)"
        )
    else:
        native, ref = rows[0][2], rows[2][2]
        print(
            f"refstis / native basedark: {ref['wall'] / native['wall']:.1f}x wall, "
            f"{ref['work'] / native['work']:.1f}x work"
        )
    if not args.keep:
        shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
