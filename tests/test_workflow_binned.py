"""The workflow on a binned 2x1, gain-4 observation (``config/demo_binned.yaml``, made small).

The darks stay unbinned at gain 1, as STScI's dark monitor takes them; the basedark and
weekdark are the usual unbinned ones and are binned to the science at recalibration. The
native run needs nothing but Python; with hstcal's ``cs0.e`` on ``PATH`` the same products
are made again by calstis, and the native ``_crj``/``_flt`` must equal calstis' to float
rounding.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from astropy.io import fits

from stisdarks.fitsio import ext_data
from stisdarks.science import read_json

from workflow_helpers import REPO, copy_workflow, snakemake

OBS = "odemo2010"
pytestmark = pytest.mark.slow


def _config(workdir: Path, name: str, **overrides) -> Path:
    config = yaml.safe_load((REPO / "config" / "demo_binned.yaml").read_text())
    config["archive"]["demo"].update(n_darks=6, seed=5)
    config["darks"]["week_days"] = 10  # 6 darks a month: a few in the (clipped) week
    config.update(overrides)
    path = workdir / name
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def binned_run(tmp_path_factory) -> Path:
    """The binned demo run natively (hstcal hidden), to completion."""
    work = copy_workflow(tmp_path_factory.mktemp("binned"))
    _config(work, "binned.yaml", engine="native", calibrator="native")
    snakemake(work, "--configfile", "binned.yaml", "--cores", "2", hstcal=False)
    return work


def test_binned_gain4_science_gets_the_unbinned_gain1_darks(binned_run):
    facts = read_json(binned_run / f"results/{OBS}/science.json")
    assert (facts["binaxis1"], facts["binaxis2"], facts["ccdgain"]) == (2, 1, 4)
    period = read_json(binned_run / f"results/{OBS}/period.json")
    assert period["key"].endswith(
        "_gain1_ampD_bin1x1"
    )  # shared with any other target of the period
    darks = (binned_run / f"results/periods/{period['key']}/darks.csv").read_text()
    assert (
        "odark000q" in darks and "odgn4" not in darks
    )  # the gain-4 distractors are not dark-monitor darks
    with fits.open(binned_run / f"results/{OBS}/weekdark.fits") as week:
        assert week["SCI"].data.shape == (1024, 1024)
        assert week["SCI"].header.get("LTM1_1", 1.0) == 1.0


def test_binned_recalibration_is_in_the_science_pixels(binned_run):
    recal = binned_run / f"results/{OBS}/recal/{OBS}_crj.fits"
    pipeline = binned_run / f"resources/archive/{OBS}/{OBS}_crj.fits"
    with fits.open(recal) as new, fits.open(pipeline) as old:
        assert new["SCI"].data.shape == old["SCI"].data.shape == (1024, 511)
        assert new[0].header["ATODGAIN"] == 4.0
        assert new[0].header["DARKFILE"].endswith(f"{OBS}_weekdark.fits")
    summary = read_json(binned_run / f"results/{OBS}/summary.json")
    region = summary["science_extraction_region"]
    assert region["hot_pixels_recalibrated"] < region["hot_pixels_pipeline"]
    log = (binned_run / f"logs/{OBS}/dark_figures.log").read_text()
    assert "ERROR" not in log
    assert (
        binned_run / f"results/{OBS}/figures/weekdark_over_pipeline.png"
    ).stat().st_size > 10_000


@pytest.mark.skipif(shutil.which("cs0.e") is None, reason="hstcal's cs0.e is not on PATH")
def test_calstis_makes_the_same_binned_products(binned_run, tmp_path):
    """calstis on the binned raw with the unbinned weekdark = the native dark swap, to float rounding."""
    work = tmp_path / "w"
    shutil.copytree(binned_run, work, symlinks=True)
    shutil.rmtree(work / "results" / OBS / "recal")
    _config(work, "calstis.yaml", engine="native", calibrator="calstis")
    snakemake(work, "--configfile", "calstis.yaml", "--cores", "2")
    assert read_json(work / f"results/{OBS}/summary.json")["calibrator"].startswith("calstis")
    pipeline = binned_run / f"resources/archive/{OBS}"
    for kind, nimsets in (("crj", 1), ("flt", 2)):
        with (
            fits.open(binned_run / f"results/{OBS}/recal/{OBS}_{kind}.fits") as native,
            fits.open(work / f"results/{OBS}/recal/{OBS}_{kind}.fits") as calstis,
            fits.open(pipeline / f"{OBS}_{kind}.fits") as pipe,
        ):
            for k in range(1, nimsets + 1):
                a, b = ext_data(native["SCI", k]), ext_data(calstis["SCI", k])
                scale = np.abs(ext_data(pipe["SCI", k])) + np.abs(b)
                assert np.all(np.abs(a - b) <= 4e-7 * scale + 1e-5)
                np.testing.assert_allclose(
                    ext_data(native["ERR", k]), ext_data(calstis["ERR", k]), rtol=2e-6, atol=1e-6
                )
                np.testing.assert_array_equal(ext_data(native["DQ", k]), ext_data(calstis["DQ", k]))
