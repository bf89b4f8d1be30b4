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

import hashlib
from pathlib import Path

import pytest

from kill_harness import (
    KillPoint,
    differences,
    recover,
    result_digest,
    run_until_killed,
    snakemake_command,
    temporaries_in,
)
from workflow_helpers import WORKFLOW_PARTS, copy_workflow, demo_config, snakemake

pytestmark = pytest.mark.slow

#: In workflow order: the writes held before their rename (a glob relative to the working
#: directory) and the temporaries of those writes, and only of those.
KILL_POINTS = [
    # (the demo archive's own sweep and the shared reference cache's lock: tests/test_atomic.py)
    KillPoint("dark download", "resources/archive/darks/*", "resources/archive/darks/.tmp-*"),
    KillPoint("basedark", "results/periods/*/basedark.fits", "results/periods/*/.tmp-basedark-*"),
    KillPoint("week list", "results/*/week.csv", "results/*/.tmp-week-*"),
    KillPoint("recalibration", "results/*/recal/*", "results/*/recal/.tmp-*"),
    KillPoint("plotting", "results/*/figures/*", "results/*/figures/.tmp-*"),
]  # fmt: skip


def tree_digest(root: Path) -> dict[str, str]:
    """Hashes of the workflow's own files (everything a user checked out)."""
    out = {}
    for part in WORKFLOW_PARTS:
        for path in sorted((root / part).rglob("*") if (root / part).is_dir() else [root / part]):
            if path.is_file() and "__pycache__" not in path.parts:
                out[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def test_sigkill_at_every_stage_then_rerun_gives_identical_results(demo_run, tmp_path):
    workdir = copy_workflow(tmp_path / "w")
    demo_config(workdir)
    before = tree_digest(workdir)
    command = snakemake_command("test.yaml")
    left_behind: list[Path] = []
    for i, point in enumerate(KILL_POINTS):
        if i:  # README, "When a run is killed": unlock, then the same command again
            snakemake(workdir, "--unlock", "--configfile", "test.yaml")
        log = tmp_path / f"run{i}.log"
        killed = run_until_killed(workdir, point, command, log)
        assert killed.temporaries, (
            f"no {point.name} temporary when killed; log:\n{log.read_text()[-4000:]}"
        )
        left_behind += killed.temporaries
    resumed = recover(workdir, command, "test.yaml")
    assert resumed.returncode == 0, resumed.stderr[-4000:]

    survivors = [str(p.relative_to(workdir)) for p in left_behind if p.exists()]
    assert not survivors, f"temporaries survived the recovery: {survivors}"
    assert not temporaries_in(workdir), "a temporary file survived the recovery"
    assert not differences(result_digest(workdir), result_digest(demo_run))
    assert tree_digest(workdir) == before, "a file outside results/ and resources/ changed"
