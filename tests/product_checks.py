"""Comparisons of calibrated STIS products shared by the tests (not a test module)."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pytest
from astropy.io import fits

from stisdarks.fitsio import ext_data

#: what calstis writes in each image set's header that the synthetic products must match
IMAGE_SET_KEYS = ("EXPTIME", "OCCDHTAV", "LTV1", "LTV2", "LTM1_1", "LTM2_2", "MEANBLEV", "MEANDARK")


def assert_calstis_products(
    mine: os.PathLike, ref: os.PathLike, nimsets: int, keys: Sequence[str] = IMAGE_SET_KEYS
) -> None:
    """``mine`` is what calstis made (``ref``): SCI and DQ identical, ERR within float32
    rounding of the noise model (rtol 1e-6), the image sets' ``keys`` equal."""
    with fits.open(mine) as a, fits.open(ref) as b:
        for k in range(1, nimsets + 1):
            np.testing.assert_array_equal(ext_data(a["SCI", k]), ext_data(b["SCI", k]))
            np.testing.assert_array_equal(ext_data(a["DQ", k]), ext_data(b["DQ", k]))
            np.testing.assert_allclose(ext_data(a["ERR", k]), ext_data(b["ERR", k]), rtol=1e-6)
            for key in keys:
                assert a["SCI", k].header[key] == pytest.approx(
                    b["SCI", k].header[key], rel=1e-6
                ), key


def assert_recalibrations_agree(
    native: os.PathLike, calstis: os.PathLike, pipeline: os.PathLike, nimsets: int
) -> int:
    """The native recalibration equals calstis' within float32 rounding: SCI within 4e-7 of
    the terms' scale (+1e-5), ERR rtol 2e-6, DQ identical, MEANDARK equal. Returns the
    number of pixels the new dark changed by more than 20 (so a caller can check that the
    comparison had something to compare)."""
    changed = 0
    with fits.open(native) as a, fits.open(calstis) as b, fits.open(pipeline) as p:
        for k in range(1, nimsets + 1):
            sa, sb, sp = (ext_data(h["SCI", k]) for h in (a, b, p))
            assert np.all(np.abs(sa - sb) <= 4e-7 * (np.abs(sp) + np.abs(sb)) + 1e-5)
            np.testing.assert_allclose(
                ext_data(a["ERR", k]), ext_data(b["ERR", k]), rtol=2e-6, atol=1e-6
            )
            np.testing.assert_array_equal(ext_data(a["DQ", k]), ext_data(b["DQ", k]))
            assert a["SCI", k].header["MEANDARK"] == pytest.approx(
                b["SCI", k].header["MEANDARK"], rel=1e-6
            )
            changed += int(np.count_nonzero(np.abs(sp - sb) > 20))
    return changed
