"""Benchmark the CTI-corrected basedark of a month: this project's workflow against stis_cti.

Generates a full-frame (1024x1024) synthetic archive of ``--n-darks`` long darks
(default 56, an anneal month) with :func:`stisdarks.synthetic.generate_archive` (not
timed), then times, each in a child process:

(a) ours: ``snakemake --cores C results/periods/<key>/cti/basedark.fits`` (after
    ``snakemake --cores C results/odemo1010/period.json``, which names the key) on a copy
    of the workflow with ``cti: {enabled: true}`` and the demo's one full-frame spectrum (odemo1010): the
    science's facts and period, the dark list, the darks copied from the archive, the
    period's ``cte_darks`` job (the CTI backend of ``cti.engine``, native by default: one
    dark at a time on C cores) and ``basedark_cti`` (the basedark from the corrected darks, engine
    ``--engine``, stamped with stis_cti's keywords);
(b) stis_cti's own run on the same darks (those in the workflow's ``darks_used.csv``):
    ``perform_cti_correction(files, pctetab, num_cpu=C)`` (a ``multiprocessing.Pool`` of C
    over the files) then ``generate_basedark`` (refstis + calstis; it reuses the ``_cte``
    files), on copies of the ``_flt`` darks with ``DARKFILE`` set (stis_cti needs it and
    edits its inputs in place), after ``import refstis.basedark, refstis.weekdark`` (the
    submodules stis_cti 1.6.2 uses without importing them).

It prints, for each, the wall time, the CPU seconds (user + system of the child and every
process it waited for: Snakemake's jobs, the Pool's workers, calstis) and the CPU seconds
per dark, then the ratio ours / stis_cti; for (a) also the jobs' own times from Snakemake's
``benchmark:`` files. The demo's darks carry the trails of the CCD's charge traps (the
archive's ``cti_trails``), as real ones do; on a detector without CTI stis_cti's CteCorr
costs 70-107 s of CPU per full-frame dark and the native one ~32 s
(``bench/bench_ctecorr.py`` compares the two alone). Needs stis-cti and hstcal's ``cs0.e``
on PATH. Other CPU-heavy processes (another Snakemake or pytest) skew the figures: the
script names those it sees before it starts.

Usage::

    PATH=/opt/hstcal/bin:$PATH python bench/bench_cti.py [--n-darks 56] [--cores 2] [--keep DIR]
    PATH=/opt/hstcal/bin:$PATH python bench/bench_cti.py --n-darks 4 --cores 2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from bench_workflow import REPO, benchmark_rows, copy_workflow  # the workflow bench's copy and TSVs

OBS = "odemo1010"
#: stis_cti's run, in a child: argv = pctetab dir, num_cpu, basedark, darks...
_STIS_CTI = """
import sys, time, warnings
warnings.filterwarnings("ignore", "(GFIT|NMPFIT) is deprecated", UserWarning)
import refstis.basedark, refstis.weekdark  # stis_cti 1.6.2 uses them after a bare `import refstis`
import stis_cti
module = sys.modules["stis_cti.stis_cti"]  # stis_cti.stis_cti is the function
report, table, num_cpu, basedark, *files = sys.argv[1:]
t0 = time.perf_counter()
module.perform_cti_correction(files, "pctetab$" + table, num_cpu=int(num_cpu))
t1 = time.perf_counter()
module.generate_basedark(files, basedark, "pctetab$" + table, int(num_cpu))
t2 = time.perf_counter()
with open(report, "w") as fh:
    fh.write(f'{{"cte": {t1 - t0}, "basedark": {t2 - t1}}}')
"""


def others_running() -> list[str]:
    """Command lines of other Snakemake or pytest processes on the machine."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        if int(pid) == os.getpid():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if ("snakemake" in cmd or "pytest" in cmd) and "bench_cti" not in cmd:
            found.append(f"{pid}: {cmd.strip()[:100]}")
    return found


def timed(cmd: list[str], cwd: Path, log: Path, env: dict | None = None) -> tuple[float, float]:
    """Run ``cmd``; (wall s, CPU s of it and every process it waited for). Output to ``log``."""
    t0 = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        sys.stderr.write(log.read_text()[-5000:])
        raise SystemExit(f"{cmd[2] if len(cmd) > 2 else cmd[0]} failed; see {log}")
    return wall, usage.ru_utime + usage.ru_stime


def job_times(workdir: Path) -> dict[str, tuple[int, float, float]]:
    """Rule → (jobs, summed wall s, summed CPU s) from Snakemake's benchmark TSVs."""
    rows = benchmark_rows(workdir)
    acc = {
        rule: [(float(r["s"]), float(r["cpu_time"]) if r.get("cpu_time", "") not in ("", "NA") else 0.0)
               for r in runs]
        for rule, runs in rows.items()
    }  # fmt: skip
    return {r: (len(v), sum(s for s, _ in v), sum(c for _, c in v)) for r, v in acc.items()}


def run_ours(work: Path, archive: Path, args: argparse.Namespace) -> dict:
    """(a): the workflow up to the CTI basedark, in a fresh copy of the workflow."""
    wf = work / "workflow"
    shutil.rmtree(wf, ignore_errors=True)
    wf.mkdir()
    copy_workflow(wf)
    config = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    config["targets"] = [{"obs_id": OBS}]
    config["archive"].update(root=str(archive), demo={"generate": False})
    config["cti"] = {"enabled": True}
    config["engine"] = args.engine
    (wf / "bench.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    cmd = [sys.executable, "-m", "snakemake", "--configfile", "bench.yaml"]
    cmd += ["--cores", str(args.cores)]
    # the period's key is known once the science's facts are: first them, then the basedark
    wall1, cpu1 = timed([*cmd, f"results/{OBS}/period.json"], wf, work / "snakemake_facts.log")
    key = json.loads((wf / "results" / OBS / "period.json").read_text())["key"]
    target = f"results/periods/{key}/cti/basedark.fits"
    wall2, cpu2 = timed([*cmd, target], wf, work / "snakemake_basedark.log")
    wall, cpu = wall1 + wall2, cpu1 + cpu2
    used = wf / "results" / "periods" / key / "cti" / "darks_used.csv"
    from stisdarks.selection import read_dark_table

    darks = sorted(d.product.filename for d in read_dark_table(used))
    return {"wall": wall, "cpu": cpu, "darks": darks, "jobs": job_times(wf)}


def run_stis_cti(work: Path, archive: Path, darks: list[str], cores: int) -> dict:
    """(b): stis_cti's CTI correction and basedark of the same darks, on copies."""
    from astropy.io import fits

    from stisdarks.cti import default_pctetab

    there = work / "stis_cti"
    shutil.rmtree(there, ignore_errors=True)
    (there / "darks").mkdir(parents=True)
    (there / "ref").mkdir()
    files = []
    for name in darks:
        copy = there / "darks" / name
        shutil.copyfile(archive / "darks" / copy.name, copy)
        # as the pipeline writes it on real darks; stis_cti inserts PCTETAB after it
        fits.setval(copy, "DARKFILE", value="oref$syn_pipe_drk.fits", ext=0)
        files.append(str(copy))
    table = default_pctetab()
    env = {**os.environ, "oref": f"{archive / 'oref'}/", "pctetab": f"{table.parent}/"}
    report = there / "times.json"
    cmd = [sys.executable, "-c", _STIS_CTI, str(report), table.name, str(cores)]
    cmd += [str(there / "ref" / "basedark_d0_drk.fits"), *files]
    wall, cpu = timed(cmd, there, work / "stis_cti.log", env=env)
    return {"wall": wall, "cpu": cpu, **json.loads(report.read_text())}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-darks", type=int, default=56)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--seed", type=int, default=2021)
    ap.add_argument("--engine", default="auto", help="the workflow's superdark engine")
    ap.add_argument("--keep", type=Path, help="work in this directory and keep it")
    args = ap.parse_args(argv)
    if shutil.which("cs0.e") is None:
        raise SystemExit(
            "cs0.e not on PATH: stis_cti's basedark runs calstis (PATH=/opt/hstcal/bin:$PATH)"
        )

    work = (args.keep or Path(tempfile.mkdtemp(prefix="stisdarks-bench-cti-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    from stisdarks.synthetic import generate_archive

    t0 = time.perf_counter()
    archive = generate_archive(work / "archive", size=1024, n_darks=args.n_darks, seed=args.seed)
    print(
        f"{args.n_darks} synthetic 1024x1024 darks in {archive} ({time.perf_counter() - t0:.0f} s)"
    )
    busy = others_running()
    if busy:
        print("WARNING: other Snakemake/pytest processes are running; the times are not clean:")
        print("\n".join(f"  {line}" for line in busy))
    print(f"(a) ours: snakemake --cores {args.cores} up to the CTI basedark ...", flush=True)
    ours = run_ours(work, archive, args)
    n = len(ours["darks"])
    print(f"    {ours['wall']:.1f} s; {n} darks used. (b) stis_cti on them ...", flush=True)
    theirs = run_stis_cti(work, archive, ours["darks"], args.cores)
    print(f"    {theirs['wall']:.1f} s")

    print(f"\n{n} full-frame darks, {args.cores} cores, {os.cpu_count()} CPUs on this machine")
    print(f"{'run':<34}{'wall s':>9}{'CPU s':>9}{'CPU s/dark':>12}")
    for name, r in (("(a) ours: workflow to basedark_cti", ours), ("(b) stis_cti", theirs)):
        print(f"{name:<34}{r['wall']:>9.1f}{r['cpu']:>9.1f}{r['cpu'] / n:>12.1f}")
    print(
        f"ours / stis_cti: {ours['wall'] / theirs['wall']:.2f}x wall, "
        f"{ours['cpu'] / theirs['cpu']:.2f}x CPU"
    )
    print(
        f"stis_cti's parts: perform_cti_correction {theirs['cte']:.1f} s, "
        f"generate_basedark {theirs['basedark']:.1f} s (wall)"
    )
    print(
        f"\nours, per rule (Snakemake benchmark files):\n{'rule':<22}{'jobs':>5}{'sum wall s':>12}{'sum CPU s':>11}"
    )
    for rule, (jobs, s, c) in sorted(ours["jobs"].items(), key=lambda kv: -kv[1][1]):
        print(f"{rule:<22}{jobs:>5}{s:>12.1f}{c:>11.1f}")
    if not args.keep:
        shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
