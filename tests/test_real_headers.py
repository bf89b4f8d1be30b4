"""Real STScI science headers through everything that reads them.

- ``o56502010``: a binned 2x1 G430M CR-split spectrum from 1999 (side-1 electronics,
  OCCDHTAV = -1, unequal exposure times 900 s + 1685 s, ATODGAIN/READNSE = 0 in the
  ``_raw``), with its pipeline ``_sx1`` (``../shared/reference``, present beside the
  clone in CI; skipped otherwise);
- ``o4sp040b0``: astropy's test copy of a gain-4 CR-SPLIT = 4 G750M raw from 1998.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.io.fits.tests import __file__ as _fits_tests

from stisdarks.binning import fit_reference
from stisdarks.darkswap import dark_scale_factor
from stisdarks.errors import StisDarksError
from stisdarks.periods import find_period, week_window
from stisdarks.science import raw_facts, science_facts
from stisdarks.selection import DARK_MODE, mode_of, period_key
from stisdarks.synthetic.geometry import Geometry

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"
BINNED_RAW, BINNED_SX1 = REFERENCE / "o56502010_raw.fits", REFERENCE / "o56502010_sx1.fits"
GAIN4_RAW = Path(_fits_tests).parent / "data" / "o4sp040b0_raw.fits"
needs_reference = pytest.mark.skipif(
    not BINNED_RAW.is_file(),
    reason="STScI's reference files (../shared/reference) are not beside this clone",
)


@needs_reference
def test_binned_observation_facts_come_from_the_calibrated_product():
    facts = science_facts(BINNED_RAW, BINNED_SX1)
    assert (facts["binaxis1"], facts["binaxis2"], facts["ccdgain"], facts["ccdamp"]) == (
        2,
        1,
        1,
        "D",
    )
    assert facts["crsplit"] == 2 and facts["nimsets"] == 2 and facts["texptime"] == 2585.0
    # the _raw says ATODGAIN = 0; calstis wrote the CCDTAB's values into the _sx1
    assert fits.getval(BINNED_RAW, "ATODGAIN") == 0
    assert facts["atodgain"] == 1.0 and facts["readnse"] == pytest.approx(3.735, abs=1e-3)
    assert facts["darkfile"] == "oref$k1a1902to_drk.fits"
    assert facts["start_iso"].startswith("1999-10-02 07:57")


@needs_reference
def test_binned_observation_is_served_by_the_dark_monitor_darks():
    facts = science_facts(BINNED_RAW, BINNED_SX1)
    assert mode_of(facts) == DARK_MODE
    period = find_period(
        facts["start_mjd"], override={"start": "1999-09-20 00:00:00", "end": "1999-10-20 00:00:00"}
    )
    assert period_key(period, facts).endswith("_gain1_ampD_bin1x1")
    lo, hi = week_window(facts["start_mjd"], period, 3.0)
    assert lo == pytest.approx(facts["start_mjd"] - 3) and hi == pytest.approx(
        facts["start_mjd"] + 3
    )


@needs_reference
def test_binned_observation_gets_the_dark_as_calstis_applies_it():
    """Its image sets take an unbinned full-frame dark summed in column pairs, scale factor 1 (side 1)."""
    with fits.open(BINNED_RAW) as raw:
        sci_headers = [raw["SCI", k].header for k in (1, 2)]
    assert [h["EXPTIME"] for h in sci_headers] == [900.0, 1685.0]
    for h in sci_headers:  # OCCDHTAV = -1 before side 2: no temperature scaling
        assert dark_scale_factor(h["OCCDHTAV"], h["EXPSTART"], fits.Header()) == 1.0
    sx1_header = fits.getheader(BINNED_SX1, 1)
    dark = np.arange(1024 * 1024, dtype=np.float32).reshape(1024, 1024) % 7
    triple = (dark, np.ones_like(dark), np.zeros(dark.shape, np.int16))
    ref_hdr = fits.Header(Geometry().image_cards())
    binned = fit_reference(triple, ref_hdr, sx1_header, (1024, 511), average=False)
    np.testing.assert_array_equal(binned[0], dark[:, 1:1023:2] + dark[:, 2:1023:2])
    np.testing.assert_array_equal(binned[1], np.float32(np.sqrt(2)))


def test_gain4_raw_parses_and_is_served_by_gain1_darks():
    facts = raw_facts(GAIN4_RAW)
    assert (facts["ccdgain"], facts["ccdamp"], facts["binaxis1"], facts["binaxis2"]) == (
        4,
        "D",
        1,
        1,
    )
    assert facts["crsplit"] == 4 and facts["nimsets"] == 2 and facts["texptime"] == 120.0
    assert facts["start_iso"].startswith("1998-04-20 18:38")
    assert mode_of(facts) == DARK_MODE


def test_another_amplifier_cannot_be_served():
    facts = {**raw_facts(GAIN4_RAW), "ccdamp": "A"}
    with pytest.raises(
        StisDarksError, match="amplifier A; STScI's dark-monitor darks are read through amplifier D"
    ):
        mode_of(facts)
    with pytest.raises(StisDarksError, match="BINAXIS1=3"):
        mode_of({**facts, "ccdamp": "D", "binaxis1": 3})
