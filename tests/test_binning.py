"""Cutting and binning unbinned reference images to binned or subarray science (calstis' FindBin/bin2d).

Checked against plain numpy re-statements of what calstis does, and against the headers of
real STScI products: the binned 2x1 CR-split observation o56502010 (``../shared/reference``,
when present beside the clone) and astropy's gain-4 raw ``o4sp040b0``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from stisdarks.binning import (
    BinPlan,
    Readout,
    bin2d,
    binned_bad_pixels,
    find_bin,
    fit_reference,
    readout_of,
)
from stisdarks.bpixtab import flag_bad_pixels
from stisdarks.errors import StisDarksError
from stisdarks.synthetic.geometry import Geometry

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"
needs_reference = pytest.mark.skipif(
    not (REFERENCE / "o56502010_raw.fits").is_file(),
    reason="STScI's reference files (../shared/reference) are not beside this clone",
)
FULL = Readout(bin=(1, 1), corner=(0, 0), shape=(1024, 1024))


def _triple(rng, shape):
    sci = rng.normal(0.01, 0.5, shape).astype(np.float32)
    err = rng.uniform(0.001, 0.1, shape).astype(np.float32)
    dq = np.where(rng.random(shape) < 0.01, rng.choice([4, 16, 1024], shape), 0).astype(np.int16)
    return sci, err, dq


@needs_reference
def test_real_binned_products_read_as_2x1_from_detector_column_1():
    """STScI's 2x1 products: the raw includes overscan; the trimmed _sx1 starts on detector column 1."""
    raw_hdr = fits.getheader(REFERENCE / "o56502010_raw.fits", 1)
    raw = readout_of(raw_hdr, (raw_hdr["NAXIS2"], raw_hdr["NAXIS1"]))
    assert raw.bin == (2, 1)
    assert raw.corner == (-21, -10)  # 11 binned overscan columns and 10 virtual rows before
    sx1_hdr = fits.getheader(REFERENCE / "o56502010_sx1.fits", 1)
    trimmed = readout_of(
        sx1_hdr, (1024, int(fits.getdata(REFERENCE / "o56502010_sx1.fits", 1)["NELEM"][0]))
    )
    assert trimmed == Readout(bin=(2, 1), corner=(1, 0), shape=(1024, 511))
    # ... which is what the synthetic 2x1 readout writes
    assert Geometry(bin=(2, 1)).readout() == trimmed
    assert Geometry(bin=(2, 1)).raw_shape == (raw_hdr["NAXIS2"], raw_hdr["NAXIS1"])
    assert Geometry(bin=(2, 1)).image_cards(raw=True)["LTV1"] == raw_hdr["LTV1"]
    # a full-frame unbinned dark serves it: columns 1..1022 summed in pairs
    assert find_bin(trimmed, FULL) == BinPlan(x0=1, y0=0, rx=2, ry=1, shape=(1024, 511))


def test_real_gain4_raw_reads_unbinned_with_its_overscan():
    from astropy.io.fits.tests import __file__ as fits_tests

    path = Path(fits_tests).parent / "data" / "o4sp040b0_raw.fits"
    hdr = fits.getheader(path, 1)
    got = readout_of(hdr, (hdr["NAXIS2"], hdr["NAXIS1"]))
    assert got.bin == (1, 1) and got.corner == (-19, -20)


def test_same_readout_uses_the_reference_as_it_is():
    assert find_bin(FULL, FULL) is None
    sub = Readout(bin=(1, 1), corner=(0, 448), shape=(128, 1024))
    assert find_bin(sub, sub) is None
    assert find_bin(sub, FULL) == BinPlan(x0=0, y0=448, rx=1, ry=1, shape=(128, 1024))


def test_bin2d_sums_darks_and_averages_flats_like_calstis():
    rng = np.random.default_rng(3)
    ref = _triple(rng, (64, 64))
    plan = BinPlan(x0=1, y0=2, rx=2, ry=2, shape=(30, 31))
    sci, err, dq = bin2d(ref, plan, average=False)
    cut = [a[2:62, 1:63] for a in ref]
    blocks = [c.reshape(30, 2, 31, 2) for c in cut]
    # calstis adds in float32, rows of the bin first: ((a00 + a01) + a10) + a11
    want = ((blocks[0][:, 0, :, 0] + blocks[0][:, 0, :, 1]) + blocks[0][:, 1, :, 0]) + blocks[0][
        :, 1, :, 1
    ]
    np.testing.assert_array_equal(sci, want)
    np.testing.assert_allclose(
        sci, blocks[0].astype(np.float64).sum(axis=(1, 3)), rtol=1e-5, atol=1e-5
    )
    np.testing.assert_allclose(
        err, np.sqrt((blocks[1].astype(np.float64) ** 2).sum(axis=(1, 3))), rtol=1e-6
    )
    want_dq = np.bitwise_or.reduce(np.bitwise_or.reduce(blocks[2], axis=3), axis=1)
    np.testing.assert_array_equal(dq, want_dq)
    avg = bin2d(ref, plan, average=True)
    np.testing.assert_array_equal(avg[0], want / np.float32(4))
    np.testing.assert_array_equal(avg[2], want_dq)


def test_fit_reference_cuts_a_subarray_and_bins_a_2x1_frame():
    rng = np.random.default_rng(4)
    ref = _triple(rng, (1024, 1024))
    ref_hdr = fits.Header(Geometry().image_cards())
    sub = Geometry(64)
    got = fit_reference(ref, ref_hdr, fits.Header(sub.image_cards()), sub.shape, average=False)
    np.testing.assert_array_equal(got[0], ref[0][480:544])
    binned = Geometry(bin=(2, 1))
    got = fit_reference(
        ref, ref_hdr, fits.Header(binned.image_cards()), binned.shape, average=False
    )
    assert got[0].shape == (1024, 511)
    np.testing.assert_array_equal(got[0], ref[0][:, 1:1023:2] + ref[0][:, 2:1023:2])


@pytest.mark.parametrize(
    ("image", "reference", "message"),
    [
        (FULL, Readout((2, 1), (0, 0), (1024, 512)), "binned 2x1, more than the science"),
        (
            Readout((2, 1), (1, 0), (1024, 511)),
            Readout((4, 1), (0, 0), (1024, 256)),
            "more than the science",
        ),
        (
            Readout((4, 1), (1, 0), (1024, 255)),
            Readout((2, 1), (0, 0), (1024, 512)),
            "not on a 2x1 pixel",
        ),
        (
            Readout((1, 1), (0, 0), (1024, 1024)),
            Readout((1, 1), (0, 448), (128, 1024)),
            "reaches outside",
        ),
    ],
)
def test_readouts_that_cannot_be_served_say_why(image, reference, message):
    with pytest.raises(StisDarksError, match=message):
        find_bin(image, reference, "weekdark")


def test_bad_pixels_reach_binned_data_through_a_detector_sized_array():
    """A flag lands in the binned pixel that sums its detector pixel; the trimmed edge column drops out."""
    rows = [
        (1, 10, 1, 1, 4),
        (2, 10, 1, 1, 16),
        (3, 11, 1, 1, 32),
        (100, 1, 1024, 2, 1024),
        (1024, 5, 1, 1, 8),
    ]
    g = Geometry(bin=(2, 1))
    dq = binned_bad_pixels(np.zeros(g.shape, np.int16), rows, fits.Header(g.image_cards()))
    # naive: flag the detector, then OR pairs of columns from detector column 1 (0-indexed)
    full = flag_bad_pixels(np.zeros((1024, 1024), np.int16), rows, (0.0, 0.0))
    want = full[:, 1:1023:2] | full[:, 2:1023:2]
    np.testing.assert_array_equal(dq, want)
    assert dq[9, 0] == 16  # detector column 2 (1-indexed) opens the first bin; column 1 is trimmed
    assert dq[10, 0] == 32 and np.all(dq[:, 49] == 1024)  # detector columns 2 and 3 share a bin
    assert not np.any(dq & 4) and not np.any(dq & 8)  # detector columns 1 and 1024 are not read
    # unbinned data: placed directly with LTV, as before
    sub = Geometry(64)
    dq = binned_bad_pixels(np.zeros(sub.shape, np.int16), rows, fits.Header(sub.image_cards()))
    np.testing.assert_array_equal(dq, full[480:544])
