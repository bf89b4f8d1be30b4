"""Benchmark the superdark engines on full-frame darks: wall time and peak memory.

Generates ``N`` full-frame (1024x1024) synthetic long darks (default 56, like an anneal
month) with :mod:`stisdarks.synthetic`, then times in fresh processes (so each peak RSS
is that step's own): the native basedark over all N, the native weekdark over the last
7 on top of it, and — when calstis' ``cs0.e`` is on PATH — refstis + calstis on the same
inputs, printing the ratio.

Usage::

    python bench/bench_superdark.py [--n-darks 56] [--size 1024] [--keep DIR]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path


def _step(
    engine: str, kind: str, inputs: list[str], output: str, basedark: str | None, queue
) -> None:
    import logging

    logging.basicConfig(level=logging.WARNING)
    from stisdarks import engines

    t0 = time.perf_counter()
    if kind == "basedark":
        engines.make_basedark(inputs, output, engine=engine)
    else:
        engines.make_weekdark(inputs, basedark, output, engine=engine)
    queue.put(
        (time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0)
    )


def measure(engine: str, kind: str, inputs, output, basedark=None) -> tuple[float, float]:
    """(wall seconds, peak RSS MB) of one step in a fresh process."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(
        target=_step, args=(engine, kind, list(map(str, inputs)), str(output), basedark, queue)
    )
    proc.start()
    elapsed, rss_mb = queue.get()  # the child's own peak RSS (whole process, imports included)
    proc.join()
    if proc.exitcode != 0:
        raise SystemExit(f"{engine} {kind} failed")
    return elapsed, rss_mb


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-darks", type=int, default=56)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--keep", type=Path, help="work in this directory and keep it")
    args = ap.parse_args(argv)

    from stisdarks.synthetic import generate_archive

    work = args.keep or Path(tempfile.mkdtemp(prefix="stisdarks-bench-"))
    t0 = time.perf_counter()
    root = generate_archive(work / "archive", size=args.size, n_darks=args.n_darks, seed=1)
    print(
        f"generated {args.n_darks} synthetic {args.size}x{args.size} darks in {time.perf_counter() - t0:.1f} s"
    )
    darks = sorted((root / "darks").glob("odark*_flt.fits"))
    os.environ["oref"] = str(root / "oref") + "/"
    rows = []
    base_t, base_rss = measure("native", "basedark", darks, work / "basedark_native.fits")
    rows.append(("native basedark", len(darks), base_t, base_rss))
    wk_t, wk_rss = measure(
        "native",
        "weekdark",
        darks[-7:],
        work / "weekdark_native.fits",
        str(work / "basedark_native.fits"),
    )
    rows.append(("native weekdark", 7, wk_t, wk_rss))
    ref_t = None
    if shutil.which("cs0.e"):
        ref_t, ref_rss = measure("refstis", "basedark", darks, work / "basedark_refstis.fits")
        rows.append(("refstis basedark", len(darks), ref_t, ref_rss))
    print(f"\n{'step':<20}{'darks':>6}{'wall s':>9}{'peak RSS MB':>13}")
    for name, n, t, rss in rows:
        print(f"{name:<20}{n:>6}{t:>9.2f}{rss:>13.0f}")
    if ref_t is None:
        print(
            "refstis + calstis: cs0.e not found on PATH (install hstcal to compare in the same run)"
        )
    else:
        print(f"refstis / native basedark wall-time ratio: {ref_t / base_t:.1f}x")
    if not args.keep:
        shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
