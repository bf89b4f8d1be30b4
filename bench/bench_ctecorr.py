"""Benchmark the CTI correction of full-frame darks: the native backend against stis_cti.

Generates a full-frame (1024x1024) synthetic archive of ``--n-darks`` long darks
(:func:`stisdarks.synthetic.generate_archive`, not timed): with ``--trailed`` read out
through the detector's charge traps, as real darks come and as the demo archive makes them
by default (``cti_trails``); without, from a detector without CTI, on which stis_cti's
over-subtraction redo runs on most columns (the costliest case). Then, each in a child
process, on the same cores, in the same run:

- per dark: ``stisdarks.cti.correct_darks`` of the first dark, native (its columns on
  ``--cores`` threads) and stis_cti (one core: its C is single-threaded), ``--repeat``
  times each, alternating;
- the month: ``correct_darks`` of all the darks, native (one dark at a time on all cores)
  and, unless ``--no-stis-month``, stis_cti (``--cores`` darks at once in a process pool).

It checks that both backends wrote identical data, and prints wall and CPU seconds (user +
system of the child and its workers) and peak memory (the child's maximum resident set);
the child's time includes its imports and, for native, loading the compiled code from
numba's cache (the first run of a fresh install compiles it: ~10 s once).

Usage::

    python bench/bench_ctecorr.py [--n-darks 8] [--cores 2] [--repeat 2] [--trailed]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_CHILD = """
import json, resource, sys, time
from pathlib import Path
from stisdarks.cti import correct_darks
engine, threads, out, *darks = sys.argv[1:]
t0 = time.perf_counter()
correct_darks([Path(d) for d in darks], Path(out), engine=engine, threads=int(threads))
wall = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"inner_wall": wall, "peak_mb": peak}))
"""


def child(engine: str, threads: int, out: Path, darks: list[Path]) -> dict:
    """Run one correction in a child process; its wall, CPU and peak memory."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, engine, str(threads), str(out), *map(str, darks)],
        capture_output=True,
        text=True,
        check=True,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    inner = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"wall": wall, "cpu": cpu, **inner}


def same_data(a: Path, b: Path) -> bool:
    import numpy as np
    from astropy.io import fits

    for x in sorted(a.glob("*_cte.fits")):
        with fits.open(x) as p, fits.open(b / x.name) as q:
            for u, v in zip(p, q, strict=True):
                if u.data is not None and not np.array_equal(u.data, v.data):
                    return False
    return True


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-darks", type=int, default=8)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--seed", type=int, default=2021)
    ap.add_argument("--trailed", action="store_true", help="trail the darks as a real CCD does")
    ap.add_argument("--no-stis-month", action="store_true", help="skip stis_cti's month")
    args = ap.parse_args(argv)

    from stisdarks.synthetic import generate_archive

    with tempfile.TemporaryDirectory(prefix="bench-cte-") as tmp:
        root = generate_archive(
            Path(tmp) / "a", size=1024, n_darks=args.n_darks, seed=args.seed, parts=("darks",),
            cti_trails=None if args.trailed else False,
        )  # fmt: skip
        darks = sorted((root / "darks").glob("odark*_flt.fits"))
        kind = "trailed by the charge traps" if args.trailed else "from a detector without CTI"
        print(f"{len(darks)} full-frame darks, {kind}; {args.cores} cores")
        rows = []
        for i in range(args.repeat):
            for engine, threads in (("native", args.cores), ("stis_cti", 1)):
                out = Path(tmp) / f"one-{engine}-{i}"
                rows.append((engine, child(engine, threads, out, darks[:1])))
        print("\nper dark (one dark, a child process each)")
        for engine in ("native", "stis_cti"):
            runs = [r for e, r in rows if e == engine]
            print(
                f"  {engine:9s} wall " + ", ".join(f"{r['wall']:.1f}" for r in runs)
                + " s; cpu " + ", ".join(f"{r['cpu']:.1f}" for r in runs)
                + " s; peak " + ", ".join(f"{r['peak_mb']:.0f}" for r in runs) + " MB"
            )  # fmt: skip
        native = sorted(r["wall"] for e, r in rows if e == "native")
        theirs = sorted(r["wall"] for e, r in rows if e == "stis_cti")
        print(
            f"  stis_cti / native (wall, medians): {theirs[len(theirs) // 2] / native[len(native) // 2]:.1f}x"
        )
        ok = same_data(Path(tmp) / "one-native-0", Path(tmp) / "one-stis_cti-0")
        print(f"  identical data: {ok}")

        print(f"\nthe month ({len(darks)} darks)")
        month = child("native", args.cores, Path(tmp) / "month-native", darks)
        print(
            f"  native    wall {month['wall']:.1f} s, cpu {month['cpu']:.1f} s, "
            f"{month['wall'] / len(darks):.2f} s per dark, peak {month['peak_mb']:.0f} MB"
        )
        if not args.no_stis_month:
            theirs = child("stis_cti", args.cores, Path(tmp) / "month-stis_cti", darks)
            print(
                f"  stis_cti  wall {theirs['wall']:.1f} s, cpu {theirs['cpu']:.1f} s, "
                f"{theirs['wall'] / len(darks):.2f} s per dark, peak {theirs['peak_mb']:.0f} MB"
            )
            print(f"  stis_cti / native (wall): {theirs['wall'] / month['wall']:.1f}x")
            ok = same_data(Path(tmp) / "month-native", Path(tmp) / "month-stis_cti")
            print(f"  identical data: {ok}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
