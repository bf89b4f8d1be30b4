"""Crash safety: SIGKILL the whole workflow mid-write at every stage, recover, compare.

One copy of the small demo is killed again and again, each time at a later stage (a dark
download, the basedark, the week's dark list, the recalibration, the figures), at a
moment when a temporary output certainly exists: the atomic writer's test hook
(``STISDARKS_TEST_PAUSE_BEFORE_RENAME``, see :mod:`stisdarks.atomic`) holds every write
to the stage's outputs before its rename, the test waits until such a temporary appears
and kills Snakemake and every job with SIGKILL. After each kill it runs the README's
recovery commands (``--unlock``, then the same ``snakemake`` command), that run being
killed in turn at the next stage; the last one runs to the end without the hook.

Nothing depends on timing: a held write cannot finish before the kill. The final FITS
data must equal those of an uninterrupted run, no temporary may survive, and the
workflow's own files must be untouched.
"""

from __future__ import annotations

import glob
import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from stisdarks.atomic import PAUSE_HOOK

from workflow_helpers import WORKFLOW_PARTS, copy_workflow, demo_config, snakemake

pytestmark = pytest.mark.slow

OBS = "odemo1010"
FINAL_FITS = [
    "results/{obs}/weekdark.fits",
    *(f"results/{{obs}}/recal/{{obs}}_{k}.fits" for k in ("flt", "crj", "sx1")),
]

#: In workflow order: (stage, the writes held before their rename — a glob relative to
#: the working directory —, the temporaries of those writes, and only of those).
KILL_POINTS = [
    # (the demo archive's own sweep and the shared reference cache's lock: tests/test_atomic.py)
    ("dark download", "resources/archive/darks/*", "resources/archive/darks/.tmp-*"),
    ("basedark", "results/periods/*/basedark.fits", "results/periods/*/.tmp-basedark-*"),
    ("week list", "results/*/week.csv", "results/*/.tmp-week-*"),
    ("recalibration", "results/*/recal/*", "results/*/recal/.tmp-*"),
    ("plotting", "results/*/figures/*", "results/*/figures/.tmp-*"),
]  # fmt: skip


def tree_digest(root: Path) -> dict[str, str]:
    """Hashes of the workflow's own files (everything a user checked out)."""
    out = {}
    for part in WORKFLOW_PARTS:
        for path in sorted((root / part).rglob("*") if (root / part).is_dir() else [root / part]):
            if path.is_file() and "__pycache__" not in path.parts:
                out[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def run_until_killed(
    workdir: Path, held: str, temporaries: str, log: Path, timeout: float = 300
) -> list[Path]:
    """Run the workflow holding the writes ``held``; SIGKILL its process group once one is under way.

    Returns the temporaries ``temporaries`` (globs relative to ``workdir``) left by the kill.
    """
    env = dict(os.environ, **{PAUSE_HOOK: f"{glob.escape(str(workdir.resolve()))}/{held}"})
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "snakemake", "--configfile", "test.yaml", "--cores", "2"],
            cwd=workdir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        try:
            while proc.poll() is None and time.monotonic() < deadline:
                if list(workdir.glob(temporaries)):
                    break
                time.sleep(0.05)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return sorted(workdir.glob(temporaries))


def fits_data(path: Path) -> list[np.ndarray | None]:
    with fits.open(path) as hdul:
        return [None if h.data is None else np.array(h.data) for h in hdul]


def assert_same_fits(got: Path, want: Path, rel: str) -> None:
    a_units, b_units = fits_data(got), fits_data(want)
    assert len(a_units) == len(b_units), rel
    for a, b in zip(a_units, b_units, strict=True):
        if b is None:
            assert a is None
        elif b.dtype.names:  # binary table
            for name in b.dtype.names:
                np.testing.assert_array_equal(a[name], b[name], err_msg=f"{rel}:{name}")
        else:
            np.testing.assert_array_equal(a, b, err_msg=rel)


def test_sigkill_at_every_stage_then_rerun_gives_identical_results(demo_run, tmp_path):
    workdir = copy_workflow(tmp_path / "w")
    demo_config(workdir)
    before = tree_digest(workdir)
    left_behind: list[Path] = []
    for i, (stage, held, temporaries) in enumerate(KILL_POINTS):
        if i:  # README, "When a run is killed": unlock, then the same command again
            snakemake(workdir, "--unlock", "--configfile", "test.yaml")
        log = tmp_path / f"run{i}.log"
        left = run_until_killed(workdir, held, temporaries, log)
        assert left, f"no {stage} temporary when killed; log:\n{log.read_text()[-4000:]}"
        left_behind += left
    snakemake(workdir, "--unlock", "--configfile", "test.yaml")
    snakemake(workdir, "--configfile", "test.yaml", "--cores", "2")

    survivors = [str(p.relative_to(workdir)) for p in left_behind if p.exists()]
    assert not survivors, f"temporaries survived the recovery: {survivors}"
    assert not list(workdir.rglob(".tmp-*")), "a temporary file survived the recovery"
    for pattern in FINAL_FITS:
        rel = pattern.format(obs=OBS)
        assert_same_fits(workdir / rel, demo_run / rel, rel)
    assert tree_digest(workdir) == before, "a file outside results/ and resources/ changed"
