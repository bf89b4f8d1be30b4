"""The bad-input catalogue, run through Snakemake: one clear line each, valid files kept."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from workflow_helpers import demo_config, snakemake

pytestmark = pytest.mark.slow
OBS = "odemo1010"


def digests(root: Path, pattern: str) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.glob(pattern)
    }


@pytest.fixture
def work(demo_run, tmp_path):
    work = tmp_path / "w"
    shutil.copytree(demo_run, work, symlinks=True)
    return work


def fails_with(work: Path, config: str, message: str, *, hstcal: bool = True) -> None:
    proc = snakemake(work, "--configfile", config, "--cores", "2", check=False, hstcal=hstcal)
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if line.startswith("stisdarks: error:")]
    assert len(errors) == 1, proc.stderr[-3000:]
    assert message in errors[0], errors[0]
    assert "Traceback" not in proc.stderr


KEPT = ["resources/archive/**/*.fits", "results/periods/*/basedark.fits"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"targets": [{"obs_id": "odemo9999"}]}, "odemo9999 is not in the local archive"),
        ({"darks": {"min_week_darks": 20}}, "widen week_days or lower min_week_darks"),
        ({"period": {"start": "2021-04-10 00:00:00", "end": "2021-04-20 00:00:00"}},
         "does not contain the observation"),
    ],
    ids=["unknown-obs-id", "too-few-week-darks", "period-without-the-observation"],
)  # fmt: skip
def test_bad_configuration(work, overrides, message):
    before = {p: digests(work, p) for p in KEPT}
    demo_config(work, name="bad.yaml", **overrides)
    fails_with(work, "bad.yaml", message)
    assert {p: digests(work, p) for p in KEPT} == before, "a valid file was lost or changed"


def test_truncated_download_is_named(work):
    dark = next((work / "resources/archive/darks").glob("odark003q_flt.fits"))
    basedark = next((work / "results/periods").glob("*/basedark.fits"))
    reference = basedark.read_bytes()
    dark.write_bytes(dark.read_bytes()[:5000])
    others = digests(work, "resources/archive/odemo1010/*.fits")
    fails_with(work, "test.yaml", "odark003q_flt.fits is truncated")
    assert digests(work, "resources/archive/odemo1010/*.fits") == others
    dark.unlink()  # as the message says: delete it and rerun (asking for the basedark by name)
    snakemake(work, str(basedark.relative_to(work)), "--cores", "2", "--configfile", "test.yaml")
    assert dark.stat().st_size % 2880 == 0 and basedark.read_bytes() == reference


def test_calstis_forced_without_hstcal(work):
    demo_config(work, name="calstis.yaml", calibrator="calstis")
    fails_with(work, "calstis.yaml", "cs0.e not found on PATH", hstcal=False)
