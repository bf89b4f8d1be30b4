"""Kill-point stress test: the demo killed at many moments, resumed, equal to an uninterrupted run.

Each kill point starts the small demo (one spectrum: a 128-row subarray, 16 darks) afresh and
SIGKILLs Snakemake and every job at one moment (tests/kill_harness.py): while a write of one
kind is held before its rename — each half of the demo archive, the science download, the
``science_facts`` checkpoint, the period's dark downloads and list, the reference files, the
basedark, the week's list and weekdark, the recalibration, the figures, the summaries;
``programme`` for a programme's checkpoint — or at a fraction of an uninterrupted run's wall
time. Then the README's recovery (``snakemake --unlock``, the same command once more) must
exit 0, and every result must equal the uninterrupted run's (FITS data unit by unit, other
files byte for byte), with no temporary left and nothing left to do.

Run by ``.ci/run`` as ``pytest -m killpoints -n 2`` (deselected from the default suite: 5 to
12 minutes on 2 cores, 23 points).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from kill_harness import (
    Killed,
    KillPoint,
    differences,
    recover,
    result_digest,
    run,
    run_until_killed,
    snakemake_command,
    temporaries_in,
)
from workflow_helpers import REPO, SMALL_DEMO, copy_workflow, demo_config

pytestmark = pytest.mark.killpoints

CONFIG = "test.yaml"


def _held(name: str, dest: str) -> KillPoint:
    """Kill while a write to ``dest`` (a glob) is held before its rename."""
    directory, _, base = dest.rpartition("/")
    stem, _, ext = base.rpartition(".")
    return KillPoint(name, held=dest, temporaries=f"{directory}/.tmp-{stem}-*.{ext}")


#: in workflow order
HELD_POINTS = [
    _held("archive science half", "resources/demo_archive/science/*_crj.fits"),
    _held("archive darks half", "resources/demo_archive/darks/*_flt.fits"),
    _held("science download", "resources/archive/odemo1010/*_flt.fits"),
    _held("science_facts checkpoint", "results/odemo1010/science.json"),
    _held("reference files", "results/odemo1010/references.json"),
    _held("period dark download", "resources/archive/darks/*_flt.fits"),
    _held("period dark list", "results/periods/*/darks.csv"),
    _held("basedark", "results/periods/*/basedark.fits"),
    _held("week list", "results/odemo1010/week.csv"),
    _held("weekdark", "results/odemo1010/weekdark.fits"),
    _held("recalibration", "results/odemo1010/recal/*_crj.fits"),
    _held("figures", "results/odemo1010/figures/spectrum.png"),
    _held("summary", "results/odemo1010/summary.json"),
    _held("overview", "results/summary.csv"),
]
#: fractions of the uninterrupted run's wall time
TIMED = (0.1, 0.25, 0.4, 0.55, 0.7, 0.85)


def _prepare(workdir: Path, programme: bool = False) -> Path:
    copy_workflow(workdir)
    if programme:
        config = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
        config["archive"]["demo"].update(SMALL_DEMO)
        (workdir / CONFIG).write_text(yaml.safe_dump(config, sort_keys=False))
    else:
        demo_config(workdir, CONFIG)
    return workdir


def _reference(tmp_path_factory, programme: bool) -> tuple[dict[str, str], float]:
    workdir = _prepare(tmp_path_factory.mktemp("uninterrupted"), programme)
    start = time.monotonic()
    proc = run(workdir, snakemake_command(CONFIG))
    wall = time.monotonic() - start
    assert proc.returncode == 0, proc.stderr[-4000:]
    return result_digest(workdir), wall


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The results and wall time of an uninterrupted run of the one-spectrum demo."""
    return _reference(tmp_path_factory, programme=False)


@pytest.fixture(scope="module")
def programme_reference(tmp_path_factory):
    """The same for the programme demo (three targets in two periods, a programme checkpoint)."""
    return _reference(tmp_path_factory, programme=True)


def _kill_recover_compare(
    workdir: Path, point: KillPoint, want: dict[str, str], *, renamed: bool = False
) -> Killed:
    """Kill at ``point``, recover as the README says, compare with ``want``. ``renamed``: the
    held writes are renamed onto their outputs after the kill, as if it came right after
    the rename (the job's output complete, Snakemake's bookkeeping of it not yet done)."""
    command = snakemake_command(CONFIG)
    killed = run_until_killed(workdir, point, command, workdir / "killed.log")
    if point.held:
        assert killed.temporaries, (
            f"no temporary of {point.held} when killed; log:\n"
            + (workdir / "killed.log").read_text()[-4000:]
        )
    if renamed:
        for tmp in killed.temporaries:
            stem, _, rest = tmp.name[len(".tmp-") :].rpartition("-")
            tmp.rename(tmp.with_name(stem + rest[rest.index(".") :]))
    resumed = recover(workdir, command, CONFIG)
    assert resumed.returncode == 0, f"the rerun failed:\n{resumed.stderr[-6000:]}"
    assert not temporaries_in(workdir), temporaries_in(workdir)
    diff = differences(result_digest(workdir), want)
    assert not diff, f"after the kill at {point.name}: {diff[:20]}\n{resumed.stderr[-4000:]}"
    again = run(workdir, snakemake_command(CONFIG, "--dry-run"))
    assert "Nothing to be done" in again.stdout + again.stderr, again.stdout[-3000:]
    return killed


@pytest.mark.parametrize("point", HELD_POINTS, ids=lambda p: p.name.replace(" ", "-"))
def test_killed_while_a_write_is_held(point, reference, tmp_path):
    want, _ = reference
    _kill_recover_compare(_prepare(tmp_path / "w"), point, want)


@pytest.mark.parametrize("fraction", TIMED)
def test_killed_at_a_moment_of_the_run(fraction, reference, tmp_path):
    want, wall = reference
    point = KillPoint(f"{fraction:.0%} of the run", after=fraction * wall)
    # (on a loaded machine a late moment may come after the run ended: then nothing was
    # killed and the rerun has nothing to do, which the comparison checks all the same)
    _kill_recover_compare(_prepare(tmp_path / "w"), point, want)


def test_killed_in_the_programme_checkpoint(programme_reference, tmp_path):
    want, _ = programme_reference
    point = _held("programme checkpoint", "results/programmes/p16196/programme.csv")
    _kill_recover_compare(_prepare(tmp_path / "w", programme=True), point, want)


@pytest.mark.parametrize("half", ["science", "darks"])
def test_killed_right_after_an_archive_half_was_written(half, reference, tmp_path):
    """The half's index (written last) is complete but Snakemake had not recorded the job as
    done: the rerun redoes the half (rerun-incomplete) and must still run everything after
    it. (With the halves as ``ancient`` inputs, Snakemake 9.27 planned the half alone and
    ended "100% done" with nothing else run: the bug behind the issue's reproduction.)"""
    want, _ = reference
    point = _held(f"archive {half} index", f"resources/demo_archive/{half}/index.csv")
    _kill_recover_compare(_prepare(tmp_path / "w"), point, want, renamed=True)
