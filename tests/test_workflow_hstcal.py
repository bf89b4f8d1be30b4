"""The workflow on the real pipeline path: hstcal's calstis and refstis (skipped without ``cs0.e``).

With ``cs0.e`` on ``PATH`` the small demo runs end to end with every forced combination of
engine (native, refstis) and calibrator (native, calstis); ``auto`` is the session's
``demo_run`` itself. Each combination reuses the demo's downloads and redoes only the
superdarks, the recalibration, the figures and the summary.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from astropy.io import fits

from stisdarks.fitsio import ext_data
from stisdarks.science import read_json

from workflow_helpers import demo_config, snakemake

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("cs0.e") is None, reason="hstcal's cs0.e is not on PATH"),
]
OBS = "odemo1010"


def test_auto_uses_refstis_and_calstis(demo_run):
    summary = read_json(demo_run / f"results/{OBS}/summary.json")
    assert summary["engine"].startswith("refstis") and summary["calibrator"].startswith("calstis")
    log = (demo_run / f"logs/{OBS}/recalibrate.log").read_text()
    assert "calstis: " in log and "CALSTIS-0" in log  # the trailer is in the rule log


@pytest.mark.parametrize(
    ("engine", "calibrator"),
    [("native", "native"), ("native", "calstis"), ("refstis", "native"), ("refstis", "calstis")],
)
def test_forced_combinations_run_end_to_end(demo_run, tmp_path, engine, calibrator):
    work = tmp_path / "w"
    shutil.copytree(demo_run, work, symlinks=True)
    shutil.rmtree(work / "results")
    demo_config(work, name="combo.yaml", engine=engine, calibrator=calibrator)
    snakemake(work, "--configfile", "combo.yaml", "--cores", "2")
    summary = read_json(work / f"results/{OBS}/summary.json")
    assert summary["engine"].startswith(engine) and summary["calibrator"].startswith(calibrator)
    region = summary["science_extraction_region"]
    assert region["hot_pixels_recalibrated"] < region["hot_pixels_pipeline"]
    # both calibrators name the weekdark and agree with the other path's products
    other = demo_run / f"results/{OBS}/recal/{OBS}_crj.fits"
    with fits.open(work / f"results/{OBS}/recal/{OBS}_crj.fits") as mine, fits.open(other) as ref:
        assert mine[0].header["DARKFILE"].endswith(f"{OBS}_weekdark.fits")
        if engine == "refstis":  # the same weekdark as the demo run: calibrators agree
            np.testing.assert_allclose(
                ext_data(mine["SCI", 1]), ext_data(ref["SCI", 1]), rtol=1e-5, atol=2e-3
            )
