"""Crash safety: SIGKILL the whole workflow mid-stage, recover as the README says, compare.

Each case starts the small demo in a fresh copy, waits until a given stage is running
(its log file appears), kills Snakemake and every job with SIGKILL, then runs the
README's recovery commands (``--unlock``, then the same ``snakemake`` command). The
final FITS data must equal those of an uninterrupted run, and the workflow's own files
must be untouched.
"""

from __future__ import annotations

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

from workflow_helpers import WORKFLOW_PARTS, copy_workflow, demo_config, snakemake

pytestmark = pytest.mark.slow

OBS = "odemo1010"
FINAL_FITS = [
    "results/{obs}/weekdark.fits",
    *(f"results/{{obs}}/recal/{{obs}}_{k}.fits" for k in ("flt", "crj", "sx1")),
]


def tree_digest(root: Path) -> dict[str, str]:
    """Hashes of the workflow's own files (everything a user checked out)."""
    out = {}
    for part in WORKFLOW_PARTS:
        for path in sorted((root / part).rglob("*") if (root / part).is_dir() else [root / part]):
            if path.is_file() and "__pycache__" not in path.parts:
                out[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def kill_when(workdir: Path, pattern: str, timeout: float = 300) -> bool:
    """Start the workflow and SIGKILL its whole process group once ``pattern`` (a glob) exists."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "snakemake", "--configfile", "test.yaml", "--cores", "2"],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if list(workdir.glob(pattern)):
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                return True
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return False


def fits_data(path: Path) -> list[np.ndarray | None]:
    with fits.open(path) as hdul:
        return [None if h.data is None else np.array(h.data) for h in hdul]


@pytest.fixture(scope="module")
def reference(demo_run) -> Path:
    return demo_run


@pytest.mark.parametrize(
    "stage",
    ["logs/darks/*.log", "logs/periods/*/basedark.log", "logs/*/figure_*.log"],
    ids=["download", "basedark", "plotting"],
)
def test_sigkill_then_rerun_gives_identical_results(reference, tmp_path, stage):
    workdir = copy_workflow(tmp_path / "w")
    demo_config(workdir)
    before = tree_digest(workdir)
    assert kill_when(workdir, stage), f"the workflow finished before reaching {stage}"
    # README, "When a run is killed": unlock, then the same command again.
    snakemake(workdir, "--unlock", "--configfile", "test.yaml")
    snakemake(workdir, "--configfile", "test.yaml", "--cores", "2")
    for pattern in FINAL_FITS:
        rel = pattern.format(obs=OBS)
        got, want = fits_data(workdir / rel), fits_data(reference / rel)
        assert len(got) == len(want), rel
        for a, b in zip(got, want, strict=True):
            if b is None:
                assert a is None
            elif b.dtype.names:  # binary table
                for name in b.dtype.names:
                    np.testing.assert_array_equal(a[name], b[name], err_msg=f"{rel}:{name}")
            else:
                np.testing.assert_array_equal(a, b, err_msg=rel)
    assert tree_digest(workdir) == before, "a file outside results/ and resources/ changed"
    assert not list(workdir.rglob(".tmp-*")), "a temporary file survived the recovery"
