"""Native calstis-2 cosmic-ray rejection: the hstcal golden case and each CRREJTAB parameter."""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from stisdarks import engines
from stisdarks.crreject import (
    CR_FLAG,
    ConstantRows,
    ScaledRows,
    crreject_files,
    crreject_rows,
    crreject_stack,
    histogram_mode,
    scan_fits,
    scan_imsets,
    sky_mode,
)
from stisdarks.crreject import algorithm as crreject_algorithm
from stisdarks.crreject import pool as crreject_pool
from stisdarks.crreject.kernel import NeedsRowsAbove, SkyAccumulator, Workspace
from stisdarks.crrejtab import (
    CRParams,
    crparams_for,
    parse_crsigmas,
    read_crrejtab,
    resolve_reference,
)
from stisdarks.errors import StisDarksError
from stisdarks.fitsio import ext_data

GOLDEN = Path(__file__).parent / "data" / "golden"


def agree(a: np.ndarray, b: np.ndarray) -> float:
    """Fraction of pixels within 1e-4 relative (1e-6 absolute) of the reference ``b``."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    return float(np.mean(np.abs(a - b) <= 1e-4 * np.abs(b) + 1e-6))


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def golden_oref(monkeypatch):
    monkeypatch.setenv("oref", str(GOLDEN / "oref") + "/")


def test_golden_joined_file_matches_calstis(tmp_path, golden_oref):
    joined = GOLDEN / "crrej" / "joined.fits"
    before = sha(joined)
    out = crreject_files([joined], tmp_path / "out_crj.fits")
    assert sha(joined) == before, "the input was modified"
    with fits.open(out) as mine, fits.open(GOLDEN / "crrej" / "joined_crj.fits") as ref:
        for ext in ("SCI", "ERR"):
            assert agree(ext_data(mine[ext]), ext_data(ref[ext])) >= 0.9999, ext
            # in practice the port is exact: float32 arithmetic in calstis' order
            np.testing.assert_array_equal(ext_data(mine[ext]), ext_data(ref[ext]))
        np.testing.assert_array_equal(ext_data(mine["DQ"]), ext_data(ref["DQ"]))
        for key in ("TEXPTIME", "NEXTEND", "CRCORR", "INITGUES", "SKYSUB", "CRSIGMAS", "CRRADIUS", "BADINPDQ",
                    "MEANEXP", "TEXPSTRT", "TEXPEND", "REJ_RATE"):  # fmt: skip
            want = ref[0].header[key]
            got = mine[0].header[key]
            assert (
                got == pytest.approx(want, rel=1e-6) if isinstance(want, float) else got == want
            ), key
        for key in ("EXPTIME", "EXPSTART", "EXPEND", "NCOMBINE", "OCCDHTAV"):
            assert mine["SCI"].header[key] == pytest.approx(ref["SCI"].header[key], rel=1e-6), key


def stack(n=4, shape=(9, 9), level=100.0):
    """Noise-free image sets: with read noise 3 DN and 100 DN, sigma = sqrt(9 + 100) = 10.44 DN.

    With crsigmas 5,4,3 and crthresh 0.5 an excess of 25 DN beside a cosmic ray spills from the
    second iteration on (0.5 * 4 sigma = 20.9 DN) but is never a hit (3 sigma = 31.3 DN), and the
    same excess far from any hit stays below 3 sigma after the first mean (18.75 DN): kept.
    """
    sci = [np.full(shape, level, np.float32) for _ in range(n)]
    dq = [np.zeros(shape, np.int16) for _ in range(n)]
    return sci, dq


def run(sci, dq, **params):
    n = len(sci)
    return crreject_stack(
        sci, dq, [100.0] * n, [3.0] * n, [1.0] * n, CRParams(**params), return_masks=True
    )


def test_a_cosmic_ray_and_its_spill_are_rejected_only_in_its_image():
    sci, dq = stack()
    sci[1][4, 4] += 5000  # the hit
    sci[1][4, 5] += 25  # a neighbour between the spill and hit thresholds
    sci[1][0, 0] += 25  # the same excess far from any hit: not rejected
    res = run(sci, dq, crthresh=0.5)
    assert res.masks[1][4, 4] and res.masks[1][4, 5] and not res.masks[1][0, 0]
    assert not res.masks[0].any() and not res.masks[2].any()
    # the combined value is the mean of the three clean images scaled to the total exposure
    clean = np.mean([sci[i][4, 4] for i in (0, 2, 3)]) * 4
    assert res.sci[4, 4] == pytest.approx(clean, rel=1e-5)
    assert res.dq[4, 4] == 0


def test_crradius_one_spills_to_edges_only_and_one_and_a_half_to_corners():
    sci, dq = stack()
    sci[2][4, 4] += 5000
    for dy, dx in ((0, 1), (1, 1)):
        sci[2][4 + dy, 4 + dx] += 25
    wide = run(sci, dq, crradius=1.5, crthresh=0.5)
    narrow = run(sci, dq, crradius=1.0, crthresh=0.5)
    assert wide.masks[2][4, 5] and wide.masks[2][5, 5]
    assert narrow.masks[2][4, 5] and not narrow.masks[2][5, 5]


def test_crthresh_zero_or_negative_spills_to_every_neighbour():
    sci, dq = stack()
    sci[0][4, 4] += 5000
    res = run(sci, dq, crthresh=0.0)
    assert res.masks[0][3:6, 3:6].all()
    assert run(sci, dq, crthresh=0.8).masks[0][3:6, 3:6].sum() < 9


def test_two_image_sets_with_median_reject_both_values_of_a_cosmic_ray():
    sci, dq = stack(n=2)
    sci[0][4, 4] += 3000
    res = run(sci, dq)
    assert res.sci[4, 4] == 0 and res.err[4, 4] == 0 and res.dq[4, 4] == CR_FLAG
    # with the minimum guess the clean image survives
    res = run(sci, dq, initgues="minimum")
    assert res.sci[4, 4] == pytest.approx(2 * sci[1][4, 4], rel=1e-5) and res.dq[4, 4] == 0


def test_scalense_raises_the_threshold_of_bright_pixels():
    sci, dq = stack(level=20000.0)
    sci[3][4, 4] += 900  # 6.4 sigma of pure Poisson noise on 20000 DN
    assert run(sci, dq).masks[3][4, 4]
    assert not run(sci, dq, scalense=5.0).masks[3][4, 4]  # 5 % of 20000 DN dominates the noise


def test_badinpdq_excludes_pixels_and_keeps_their_flags():
    sci, dq = stack()
    dq[1][2, 2] = 4
    sci[1][2, 2] += 10000  # excluded, so never a hit, never spreading
    res = run(sci, dq, badinpdq=4)
    assert not res.masks[1][2, 2] and not res.masks[1][2, 3]
    clean = np.mean([sci[i][2, 2] for i in (0, 2, 3)]) * 4
    assert res.sci[2, 2] == pytest.approx(clean, rel=1e-5)
    assert res.dq[2, 2] == 4  # the input flag is still OR-ed into the output
    assert run(sci, dq, badinpdq=0).masks[1][2, 2]


def test_excluded_pixel_after_a_hit_in_raster_order_becomes_a_hit_and_spreads():
    # calstis walks y then x: an EXCLUDED pixel spilled by an earlier hit, itself over threshold,
    # becomes a hit and spills onto its own neighbours; with the hit later it stays a spill.
    sci, dq = stack(shape=(9, 12))
    sci[0][4, 3] += 5000  # hit
    sci[0][4, 4] += 5000  # excluded, later in raster order than the hit
    dq[0][4, 4] = 4
    sci[0][4, 5] += 25  # neighbour of the excluded pixel only (spill, not hit)
    res = run(sci, dq, badinpdq=4, crthresh=0.5)
    assert res.masks[0][4, 5], "the promoted hit did not spread"
    sci2, dq2 = stack(shape=(9, 12))
    sci2[0][4, 5] += 5000  # hit, later than the excluded pixel
    sci2[0][4, 4] += 5000
    dq2[0][4, 4] = 4
    sci2[0][4, 3] += 25
    res2 = run(sci2, dq2, badinpdq=4, crthresh=0.5)
    assert not res2.masks[0][4, 3], "an excluded pixel spilled by a later hit must not spread"


def test_block_size_and_threads_do_not_change_the_result():
    sci, dq = stack(n=5, shape=(40, 30))
    rng = np.random.default_rng(3)
    for i in range(5):
        for _ in range(12):
            sci[i][rng.integers(40), rng.integers(30)] += rng.uniform(200, 3000)
    ref = crreject_stack(
        sci, dq, [100.0] * 5, [3.0] * 5, [1.0] * 5, CRParams(), block_rows=64, threads=1
    )
    for block, threads in ((1, 2), (7, 1), (13, 2)):
        got = crreject_stack(
            sci,
            dq,
            [100.0] * 5,
            [3.0] * 5,
            [1.0] * 5,
            CRParams(),
            block_rows=block,
            threads=threads,
        )
        np.testing.assert_array_equal(got.sci, ref.sci)
        np.testing.assert_array_equal(got.err, ref.err)
        np.testing.assert_array_equal(got.dq, ref.dq)


def write_table(path, rows, skysub="none"):
    cols = list(zip(*rows, strict=True))
    fits.HDUList([
        fits.PrimaryHDU(),
        fits.BinTableHDU.from_columns([
            fits.Column("CRSPLIT", "I", array=cols[0]), fits.Column("MEANEXP", "E", array=cols[1]),
            fits.Column("CRSIGMAS", "10A", array=cols[2]), fits.Column("CRRADIUS", "E", array=[1.5] * len(rows)),
            fits.Column("CRTHRESH", "E", array=[0.8] * len(rows)), fits.Column("INITGUES", "8A", array=["median"] * len(rows)),
            fits.Column("SKYSUB", "8A", array=[skysub] * len(rows)), fits.Column("SCALENSE", "E", array=[0.0] * len(rows)),
            fits.Column("BADINPDQ", "I", array=[0] * len(rows)), fits.Column("CRMASK", "I", array=[1] * len(rows)),
        ]),
    ]).writeto(path)  # fmt: skip
    return path


def test_row_selection_as_calstis(tmp_path):
    table = write_table(
        tmp_path / "crr.fits",
        [(2, 100.0, "9"), (2, 1000.0, "8"), (2, 1000.0, "7"), (4, 500.0, "6"), (4, 5000.0, "5")],
    )
    assert read_crrejtab(table, 2, 50.0).crsigmas == (9.0,)  # smallest MEANEXP >= mean
    assert read_crrejtab(table, 2, 500.0).crsigmas == (7.0,)  # ties: the later row wins
    assert read_crrejtab(table, 56, 1100.0).crsigmas == (5.0,)  # CRSPLIT capped at the largest
    with pytest.raises(StisDarksError, match="no row of CRREJTAB"):
        read_crrejtab(table, 3, 10.0)
    with pytest.raises(StisDarksError, match="no row of CRREJTAB"):
        read_crrejtab(table, 2, 5000.0)


def test_parameters_come_from_the_table_with_overrides_and_defaults(tmp_path, monkeypatch, caplog):
    write_table(tmp_path / "crr.fits", [(2, 2000.0, "6,4")])
    monkeypatch.setenv("oref", str(tmp_path))
    hdr = fits.Header({"CRREJTAB": "oref$crr.fits"})
    assert resolve_reference("oref$crr.fits") == tmp_path / "crr.fits"
    params = crparams_for(hdr, 2, 1100.0, overrides={"crradius": 1.0, "crthresh": None})
    assert (
        params.crsigmas == (6.0, 4.0)
        and params.crradius == 1.0
        and params.crthresh == pytest.approx(0.8)
    )
    assert "crr.fits row 1" in params.source and "overridden" in params.source
    with caplog.at_level("WARNING"):
        defaults = crparams_for(fits.Header({"CRREJTAB": "oref$missing.fits"}), 2, 1100.0)
    assert defaults.crsigmas == (5.0, 4.0, 3.0) and "default" in caplog.text


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"not a fits file" * 200, "cannot read CRREJTAB"), (None, "column CRSIGMAS does not exist")],
)
def test_bad_crrejtab_is_one_line(tmp_path, content, message):
    path = tmp_path / "crr.fits"
    if content is None:
        fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns([
            fits.Column("CRSPLIT", "I", array=[2]), fits.Column("MEANEXP", "E", array=[1e4])])]).writeto(path)  # fmt: skip
    else:
        path.write_bytes(content)
    with pytest.raises(StisDarksError, match=message) as err:
        read_crrejtab(path, 2, 100.0)
    assert "\n" not in str(err.value)


def test_crsigmas_parsing():
    assert parse_crsigmas("5,4;3") == (5.0, 4.0, 3.0) == parse_crsigmas("5 4/3")
    with pytest.raises(StisDarksError):
        parse_crsigmas("5,,3")  # a doubled separator is an error in calstis too
    with pytest.raises(StisDarksError):
        parse_crsigmas("five")


# ---------------------------------------------------------------------------------------------
# SKYSUB = mode: the histogram mode of each image set, subtracted and added back (CALSTIS.md 1.5)


@pytest.mark.parametrize(
    ("hist", "hmin", "mode"),
    [
        ([7], -3.0, -2.5),  # one bin: its centre
        ([3, 1], -1.0, -0.5),  # two bins: centre of the larger
        ([1, 3], -1.0, 0.5),
        ([2, 2], -1.0, 0.0),  # two bins, tie: their common edge
        ([5, 3, 1], -1000.0, -999.5),  # maximum in the first bin: its centre
        ([1, 3, 5], -7.0, -4.5),  # maximum in the last bin: its centre (hmin + nbins - 0.5)
        ([0, 4, 4, 0], 0.0, 2.0),  # first of two equal maxima, d2 = 0: its upper edge
        ([1, 5, 2, 5, 1], -1.0, 0.5 + 0.5 * (4 - 3) / 7),  # the first maximum is used
    ],
)
def test_histogram_mode_branches(hist, hmin, mode):
    assert histogram_mode(np.asarray(hist), hmin) == pytest.approx(mode, abs=1e-6)
    assert isinstance(histogram_mode(np.asarray(hist), hmin), np.float32)


def test_histogram_mode_parabolic_vertex_in_calstis_float_order():
    # bins 1 DN wide from -1: peak at index 1 (centre 0.5), d1 = 8, d2 = 4
    got = histogram_mode(np.array([2, 10, 6]), -1.0)
    assert got == pytest.approx(-1 + 1.5 + 0.5 * (8 - 4) / 12, abs=1e-6)  # 2/3
    # cr_mode: a float32 "mode" = bpeak + 1 + 0.5·(dh1 − dh2)/denom, then hmin + (mode − 0.5)
    assert got == np.float32(-1.0 + (float(np.float32(2 + 0.5 * 4.0 / 12.0)) - 0.5))


def test_sky_mode_uses_only_dq_zero_pixels_and_truncating_bins():
    # 12 good pixels: -0.5 x1, 1.1 x2, 2.2 x6, 3.7 x3 (min -0.5, mean 26/12 = 2.17) and 8 pixels
    # of 5.5 DN with DQ = 4. Histogram from trunc(-0.5) - 1 = -1 to 2 trunc(3.17) = 6 in 1-DN
    # bins: [0, 1, 2, 6, 3, 0, 0, 0]; trunc(-0.5) = 0 shares the bin of [0, 1). Peak index 3
    # (DN 2), d1 = 4, d2 = 3: mode = 2.5 + 0.5 (4 - 3)/7.
    values = [-0.5] + [1.1] * 2 + [2.2] * 6 + [3.7] * 3 + [5.5] * 8
    sci = np.array(values, np.float32).reshape(4, 5)
    dq = np.array([0] * 12 + [4] * 8, np.int16).reshape(4, 5)
    assert sky_mode(sci, dq) == pytest.approx(2.5 + 0.5 / 7, abs=1e-6)
    # unflagged, the 5.5-DN pixels are the peak (8 counts between two empty bins): 5.5
    assert sky_mode(sci, np.zeros_like(dq)) == 5.5
    # DQ must be exactly 0: any bit excludes (BADINPDQ plays no part)
    assert sky_mode(sci, np.where(dq == 4, np.int16(CR_FLAG), dq)) == sky_mode(sci, dq)
    # values above the upper limit 2 trunc(mean + 1) are dropped: eight 50-DN pixels move the
    # mean to 21.3 and the limit to 44, and leave the histogram below it unchanged
    far = np.where(dq == 4, np.float32(50.0), sci)
    assert sky_mode(far, np.zeros_like(dq)) == sky_mode(sci, dq)


def test_sky_mode_limits_of_the_histogram():
    # constant integer level v: the only filled bin is [v, v+1), away from both ends: v + 0.5
    assert sky_mode(np.full((6, 7), 103.0, np.float32), np.zeros((6, 7), np.int16)) == 103.5
    # lower limit clipped at -1000: values in (-1001, -1000] fill the first bin
    sci = np.full((6, 7), -1000.5, np.float32)
    sci[0, :3] = -1500.0  # below the limit: dropped
    assert sky_mode(sci, np.zeros((6, 7), np.int16)) == -999.5
    # the last bin (2 trunc(mean + 1)): 60 % at 12.5 and 40 % at -6 give mean 5.1, bins -7..12
    sci = np.where(np.arange(50).reshape(5, 10) < 30, 12.5, -6.0).astype(np.float32)
    assert sky_mode(sci, np.zeros((5, 10), np.int16)) == 12.5
    with pytest.raises(StisDarksError, match="no pixel with DQ = 0"):
        sky_mode(sci, np.ones((5, 10), np.int16))


def test_mode_sky_is_subtracted_for_rejection_and_added_back():
    sci, dq = stack(n=4, shape=(12, 12))
    for i, sky in enumerate((3.0, 20.0, 41.0, 80.0)):
        sci[i] += sky  # constant images: each sky is its level + 0.5 (bins truncate)
    sci[2][5, 5] += 4000
    total = sum(float(s[0, 0]) for s in sci)  # 544 DN
    mode = run(sci, dq, skysub="mode")
    np.testing.assert_array_equal(mode.sky, np.float32([103.5, 120.5, 141.5, 180.5]))
    assert mode.skysum == pytest.approx(546.0)
    # only the cosmic ray is rejected; SCI = texpt·Σ(raw − sky)/Σt + Σ sky = Σ raw
    assert mode.masks[2][5, 5] and mode.masks.sum() == 1
    np.testing.assert_allclose(mode.sci, total, rtol=1e-6)
    assert not mode.dq.any()
    # without the sky, the image set 60 DN above the others is rejected everywhere
    none = run(sci, dq)
    assert none.masks[3].all() and none.skysum == 0.0 and not none.sky.any()


def test_mode_sky_result_does_not_depend_on_blocks_or_threads():
    sci, dq = stack(n=5, shape=(40, 30))
    rng = np.random.default_rng(5)
    for i in range(5):
        sci[i] += rng.normal(10.0 * i, 3.0, sci[i].shape).astype(np.float32)
        dq[i][rng.integers(40, size=6), rng.integers(30, size=6)] = 16
    kwargs = dict(exptime=[100.0, 200.0, 100.0, 50.0, 100.0], readnoise_dn=[3.0] * 5,
                  gain=[1.0] * 5, params=CRParams(skysub="mode", scalense=3.0))  # fmt: skip
    ref = crreject_stack(sci, dq, block_rows=64, threads=1, **kwargs)
    got = crreject_stack(sci, dq, block_rows=7, threads=3, **kwargs)
    for name in ("sci", "err", "dq", "sky"):
        np.testing.assert_array_equal(getattr(got, name), getattr(ref, name))


def test_spectroscopic_obstype_forces_no_sky(tmp_path):
    table = write_table(tmp_path / "crr.fits", [(2, 1000.0, "5,4")], skysub="mode")
    assert read_crrejtab(table, 2, 100.0, "IMAGING").skysub == "mode"
    assert read_crrejtab(table, 2, 100.0, "SPECTROSCOPIC").skysub == "none"


def write_flt(path, scis, dqs, exptimes, obstype="IMAGING", readnse=5.0, atodgain=2.0):
    """A STIS-like multi-imset file with the keywords calstis-2 reads (CALSTIS.md 1.2)."""
    primary = fits.PrimaryHDU()
    primary.header.update(NEXTEND=3 * len(scis), OBSTYPE=obstype, CRREJTAB="oref$crr.fits",
                          READNSE=readnse, ATODGAIN=atodgain, CCDAMP="D", FILENAME=path.name)  # fmt: skip
    hdus = [primary]
    for k, (sci, dq, t) in enumerate(zip(scis, dqs, exptimes, strict=True), 1):
        hdr = fits.Header({"EXPTIME": t, "EXPSTART": 57000.0 + k, "EXPEND": 57000.01 + k,
                           "OCCDHTAV": 18.0 + k})  # fmt: skip
        hdus += [
            fits.ImageHDU(sci.astype(np.float32), header=hdr, name="SCI", ver=k),
            fits.ImageHDU(np.ones(sci.shape, np.float32), name="ERR", ver=k),
            fits.ImageHDU(dq.astype(np.int16), name="DQ", ver=k),
        ]
    fits.HDUList(hdus).writeto(path)
    return path


def sky_stack(n, skies, exptimes, seed, *, negative=False, shape=(30, 40)):
    """Noisy image sets with per-imset sky, cosmic rays, flagged pixels and stale CR flags."""
    rng = np.random.default_rng(seed)
    scis, dqs = [], []
    for i in range(n):
        sci = rng.normal(skies[i] + 0.05 * exptimes[i], 3.0, shape).astype(np.float32)
        for _ in range(15):
            sci[rng.integers(shape[0]), rng.integers(shape[1])] += rng.uniform(50, 3000)
        if negative:  # below the -1000 histogram limit too
            sci[rng.integers(shape[0], size=5), rng.integers(shape[1], size=5)] = rng.uniform(
                -1500, -200, 5
            )
        dq = np.zeros(shape, np.int16)
        dq[rng.integers(shape[0], size=20), rng.integers(shape[1], size=20)] = rng.choice(
            [4, 16, 32], 20
        )
        dq[0, :5] = CR_FLAG  # stale flags of an earlier run
        scis.append(sci)
        dqs.append(dq)
    return scis, dqs


CS2_CASES = {
    # name: (N, skies, exptimes, initgues, crsigmas, scalense, badinpdq, crmask, obstype, negative)
    "n2-minimum": (2, [3.0, 60.4], [100, 250], "minimum", "5,4,3", 0.0, 0, 0, "IMAGING", False),
    "n2-minimum-scalense": (2, [7.3, 33.3], [100, 100], "minimum", "6.5,5.5,4.5", 5.0, 4, 0,
                            "IMAGING", False),
    "n2-median": (2, [12.2, 40.0], [100, 300], "median", "5,4,3", 0.0, 0, 0, "IMAGING", False),
    "n5-median": (5, [3.2, 20.7, 80.1, 45.5, 10.0], [100, 200, 100, 150, 120], "median", "6,5,4",
                  5.0, 4, 1, "IMAGING", False),
    "n6-median-even": (6, [3, 8, 15, 30, 55, 80], [60, 70, 80, 90, 100, 110], "median", "5,4,3",
                       3.0, 20, 0, "IMAGING", False),
    "n5-minimum-4-iterations": (5, [3.2, 20.7, 80.1, 45.5, 10.0], [100, 200, 100, 150, 120],
                                "minimum", "6,5,4,3", 2.0, 0, 0, "IMAGING", False),
    "negative-median": (4, [-4, -2, 5, -8], [100, 100, 200, 50], "median", "5,4,3", 4.0, 0, 0,
                        "IMAGING", True),
    "negative-minimum": (3, [-480, -495, -470], [100, 100, 200], "minimum", "5,4", 1.0, 0, 0,
                         "IMAGING", True),
    "spectroscopic-no-sky": (3, [10, 30, 50], [100, 100, 100], "median", "5,4,3", 0.0, 0, 0,
                             "SPECTROSCOPIC", False),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CS2_CASES))
def test_mode_sky_matches_cs2_bit_for_bit(case, tmp_path, monkeypatch):
    """Native vs hstcal's cs2.e on the same files, SKYSUB = mode from the CRREJTAB."""
    if shutil.which("cs2.e") is None:
        pytest.skip("hstcal's cs2.e is not on PATH (put hstcal's bin directory on PATH to run)")
    setup = CS2_CASES[case]
    n, skies, exptimes, initgues, sigmas, scalense, badinpdq, crmask, obstype, negative = setup
    seed = sorted(CS2_CASES).index(case)
    scis, dqs = sky_stack(n, skies, exptimes, seed, negative=negative)
    table = write_table(tmp_path / "crr.fits", [(n, 1e5, sigmas)], skysub="mode")
    with fits.open(table, mode="update") as hdul:
        for col, value in (("INITGUES", initgues), ("SCALENSE", scalense),
                           ("BADINPDQ", badinpdq), ("CRMASK", crmask)):  # fmt: skip
            hdul[1].data[col][:] = value
    monkeypatch.setenv("oref", str(tmp_path) + "/")
    split = n // 2  # two files: image sets from several inputs
    native_dir, cs2_dir, masks = (tmp_path / d for d in ("native", "cs2", "masks"))
    native_dir.mkdir()
    names = ["a_flt.fits", "b_flt.fits"]
    for name, sl in zip(names, (slice(0, split), slice(split, n)), strict=True):
        write_flt(native_dir / name, scis[sl], dqs[sl], exptimes[sl], obstype)
    shutil.copytree(native_dir, cs2_dir)  # cs2.e writes CR flags into its inputs (CRMASK)
    mine = crreject_files(
        [native_dir / name for name in names], tmp_path / "native_crj.fits", crmask_dir=masks
    )
    proc = subprocess.run(
        ["cs2.e", ",".join(names), "ref_crj.fits"], cwd=cs2_dir, capture_output=True, text=True
    )
    assert proc.returncode == 0 and (cs2_dir / "ref_crj.fits").is_file(), proc.stdout[-2000:]
    with fits.open(mine) as a, fits.open(cs2_dir / "ref_crj.fits") as b:
        for ext, view in (("SCI", np.uint32), ("ERR", np.uint32), ("DQ", np.int16)):
            got, want = ext_data(a[ext]), ext_data(b[ext])
            assert got.dtype == want.dtype, ext
            np.testing.assert_array_equal(got.view(view), want.view(view), err_msg=ext)
        assert b[0].header["SKYSUB"] == a[0].header["SKYSUB"]
        assert np.float32(a[0].header["SKYSUM"]) == np.float32(b[0].header["SKYSUM"])
        assert (b[0].header["SKYSUM"] == 0) == (obstype == "SPECTROSCOPIC")
        assert np.float32(a[0].header["REJ_RATE"]) == np.float32(b[0].header["REJ_RATE"])
    if crmask:  # the CR flags cs2.e wrote into its inputs = our flagged copies
        for name in names:
            with fits.open(masks / name) as a, fits.open(cs2_dir / name) as b:
                for k in range(1, len(a) // 3 + 1):
                    np.testing.assert_array_equal(ext_data(a["DQ", k]), ext_data(b["DQ", k]))


def test_native_superdark_accepts_a_mode_sky_crrejtab(tmp_path, monkeypatch, caplog):
    """Real CRREJTAB rows say SKYSUB = mode; dark-monitor darks are OBSTYPE = IMAGING."""
    inputs = sorted((GOLDEN / "inputs").glob("*_flt.fits"))
    assert {fits.getval(p, "OBSTYPE") for p in inputs} == {"IMAGING"}
    monkeypatch.setenv("oref", str(GOLDEN / "oref") + "/")
    plain = engines.make_basedark(inputs, tmp_path / "none.fits", engine="native")
    oref = tmp_path / "oref"
    oref.mkdir()
    write_table(oref / "crr.fits", [(10, 1e5, "5,4,3")], skysub="mode")
    monkeypatch.setenv("oref", str(oref) + "/")
    with caplog.at_level("INFO", logger="stisdarks.crreject"):
        out = engines.make_basedark(inputs, tmp_path / "mode.fits", engine="native")
    assert "sky of image set 10 is" in caplog.text
    with fits.open(out) as a, fits.open(plain) as b:
        # the sky is subtracted for the rejection and added back: where no image set is
        # rejected the dark is the same within rounding; where some are, calstis adds back the
        # sky of all N image sets but rescales only the accepted ones', so values move a little
        sci, ref = ext_data(a["SCI"]), ext_data(b["SCI"])
        assert np.all(np.isfinite(sci)) and np.median(np.abs(sci - ref)) <= 1e-6 * np.median(ref)
        assert np.mean(np.abs(sci - ref) <= 1e-4 * np.abs(ref) + 1e-6) >= 0.6
        assert np.mean(ext_data(a["DQ"]) == ext_data(b["DQ"])) >= 0.999


# ---------------------------------------------------------------------------------------------
# Row blocks: the rejection streamed from the files a block of rows at a time equals the
# whole image combined as one block


def chain_stack(n, shape, seed):
    """Noisy image sets (sky, cosmic rays, flags) and, in image set 1, a hit at the top of
    column 7 followed by excluded (DQ 4) pixels over threshold all the way down: each is
    promoted to a hit by the one above it (raster order) and spills onto column 8."""
    skies = [3.0 + 5 * i for i in range(n)]
    exptimes = [100.0 + 20 * (i % 3) for i in range(n)]
    scis, dqs = sky_stack(n, skies, exptimes, seed, shape=shape)
    scis[1][2, 7] += 5000
    for y in range(3, shape[0] - 2):
        scis[1][y, 7] += 4000
        dqs[1][y, 7] |= 4
        scis[1][y, 8] += 30  # between the spill and the hit thresholds
    return scis, dqs, exptimes


@pytest.mark.parametrize("initgues", ["median", "minimum"])
@pytest.mark.parametrize("n", [5, 6])
def test_row_blocks_read_from_files_equal_one_whole_image_block(tmp_path, monkeypatch, initgues, n):
    shape = (31, 24)
    scis, dqs, exptimes = chain_stack(n, shape, seed=n)
    paths = [
        write_flt(tmp_path / "a_flt.fits", scis[:2], dqs[:2], exptimes[:2]),
        write_flt(tmp_path / "b_flt.fits", scis[2:], dqs[2:], exptimes[2:]),
    ]
    params = CRParams(crsigmas=(6.0, 5.0, 4.0), crthresh=0.5, initgues=initgues, skysub="mode",
                      scalense=2.0, badinpdq=4)  # fmt: skip
    noise, gain = [2.5] * n, [2.0] * n  # write_flt: READNSE 5, ATODGAIN 2
    factor = 0.93  # refstis' temperature scaling, applied as the rows are read
    whole = crreject_stack([s * factor for s in scis], dqs, exptimes, noise, gain, params,
                           block_rows=shape[0], return_masks=True, threads=1)  # fmt: skip
    assert whole.masks[1][3 : shape[0] - 2, 8].all(), "the promoted chain does not spill"
    retries = []
    real = crreject_algorithm.reject_block

    def counting(*args, **kwargs):
        try:
            return real(*args, **kwargs)
        except NeedsRowsAbove:
            retries.append(1)
            raise

    monkeypatch.setattr(crreject_algorithm, "reject_block", counting)
    monkeypatch.setattr(crreject_algorithm, "_PARALLEL_PIXELS", 0)  # workers even for this stack
    imsets = scan_imsets(paths)
    for block_rows, threads in ((1, 1), (1, 2), (2, 1), (5, 2), (None, 2)):
        retries.clear()
        got = crreject_rows([ScaledRows(im.sci, factor) for im in imsets], [im.dq for im in imsets],
                            exptimes, noise, gain, params, block_rows=block_rows,
                            return_masks=True, threads=threads)  # fmt: skip
        for name in ("sci", "err", "dq", "masks", "n_rejected", "sky"):
            np.testing.assert_array_equal(getattr(got, name), getattr(whole, name), err_msg=name)
        assert got.skysum == whole.skysum
        if block_rows is not None and threads == 1:  # (workers count in their own process)
            # the chain crosses block edges: more rows above are read
            assert retries, f"no block of {block_rows} rows was retried"


def test_a_block_holds_about_the_same_memory_whatever_the_number_of_image_sets():
    budget = crreject_algorithm._BLOCK_BYTES
    for n in (56, 112, 224):
        rows = crreject_algorithm._block_rows(n, 1024, halo=1)
        assert 0.8 * budget <= n * rows * 1024 * 6 <= budget


def reference_sky_mode(sci, dq):
    """The whole-image sky as calstis computes it (its float32 running sum included)."""
    good = np.asarray(sci, np.float32)[np.asarray(dq) == 0]
    amin = np.float32(0)
    if np.fmin.reduce(good) < amin:
        amin = np.float32(np.fmin.reduce(good))
    amax = np.float32(np.add.accumulate(good, dtype=np.float32)[-1]) / np.float32(good.size)
    lo = -1000 if amin < -1000 else int(amin) - 1
    hi = 1 if amax <= 0 else int(float(amax) + 1.0) * 2
    bins = np.trunc(good.astype(np.float64)) - lo
    keep = (bins >= 0) & (bins < hi - lo + 1)
    return histogram_mode(np.bincount(bins[keep].astype(np.intp), minlength=hi - lo + 1), lo)


def sky_cases(rng):
    shape = (64, 48)
    dark = rng.poisson(6.0, shape).astype(np.float32) + rng.normal(0, 3, shape).astype(np.float32)
    dark[rng.integers(64, size=60), rng.integers(48, size=60)] += rng.uniform(50, 20000, 60)
    yield "dark", dark
    yield "negative", rng.normal(-40, 8, shape).astype(np.float32)
    yield "below -1000", np.where(rng.random(shape) < 0.1, -1500, dark).astype(np.float32)
    yield "bright (beyond the streamed histogram)", rng.normal(5000, 40, shape).astype(np.float32)
    yield "narrow", np.full(shape, 2.5, np.float32)


def row_blocks(sci, dq, rows):
    """(SCI copy, DQ) blocks of ``rows`` rows, in raster order."""
    for r0 in range(0, sci.shape[0], rows):
        yield sci[r0 : r0 + rows].copy(), dq[r0 : r0 + rows]


def test_streamed_sky_equals_the_whole_image_running_sum():
    rng = np.random.default_rng(11)
    for name, sci in sky_cases(rng):
        dq = np.where(rng.random(sci.shape) < 0.05, np.int16(16), np.int16(0))
        want = reference_sky_mode(sci, dq)
        for rows in (1, 7, sci.shape[0]):
            blocks = functools.partial(row_blocks, sci, dq, rows)
            assert crreject_algorithm._sky_of(blocks, Workspace()) == want, (name, rows)
        assert sky_mode(sci, dq) == want, name


def test_the_sky_is_decided_without_the_running_sum_on_darks():
    rng = np.random.default_rng(3)
    _, dark = next(sky_cases(rng))
    fast, exact = SkyAccumulator(), SkyAccumulator(exact=True)
    for acc in (fast, exact):
        for r0 in range(0, dark.shape[0], 8):
            acc.add(dark[r0 : r0 + 8].ravel().copy(), np.zeros(8 * dark.shape[1], np.int16))
    assert fast.total is None and fast.mode() is not None
    assert fast.mode() == exact.mode() == reference_sky_mode(dark, np.zeros(dark.shape))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_non_finite_value_where_dq_is_zero_leaves_the_sky_undefined(bad):
    sci = np.full((8, 8), 5.0, np.float32)
    sci[3, 4] = bad
    with pytest.raises(StisDarksError, match="non-finite values where DQ = 0"):
        sky_mode(sci, np.zeros(sci.shape, np.int16))
    dq = np.zeros(sci.shape, np.int16)
    dq[3, 4] = 1  # flagged: ignored
    assert sky_mode(sci, dq) == 5.5


def test_scan_finds_the_data_where_astropy_does(tmp_path):
    sci, dq = stack(n=3, shape=(5, 7))
    path = write_flt(tmp_path / "x_flt.fits", sci, dq, [100.0] * 3)
    scan = scan_fits(path)
    with fits.open(path) as hdul:
        assert [(h.name, h.ver) for h in scan.hdus[1:]] == [(h.name, h.ver) for h in hdul[1:]]
        for k, hdu in enumerate(scan.hdus):
            assert hdu.offset == hdul.fileinfo(k)["datLoc"]
            assert hdu.header == hdul[k].header
    assert scan_fits(path) is scan  # read once per process


def test_compressed_and_header_only_inputs_combine_as_plain_ones(tmp_path, golden_oref):
    joined = GOLDEN / "crrej" / "joined.fits"
    plain = crreject_files([joined], tmp_path / "plain_crj.fits")
    packed = tmp_path / "joined.fits.gz"
    packed.write_bytes(gzip.compress(joined.read_bytes()))
    constant = tmp_path / "constant.fits"
    with fits.open(joined) as hdul:  # a DQ written header-only, as calstis does for a constant
        dq = hdul["DQ", 1]
        value = int(ext_data(dq).flat[0])
        dq.data = None
        dq.header.update(PIXVALUE=value, NPIX1=ext_data(hdul["SCI", 1]).shape[1],
                         NPIX2=ext_data(hdul["SCI", 1]).shape[0])  # fmt: skip
        hdul.writeto(constant)
    with fits.open(constant) as hdul:
        assert hdul["DQ", 1].header["NAXIS"] == 0
    for other in (packed, constant):
        out = crreject_files([other], tmp_path / f"{other.name}_crj.fits")
        with fits.open(out) as a, fits.open(plain) as b:
            for ext in ("SCI", "ERR", "DQ"):
                got, want = ext_data(a[ext]), ext_data(b[ext])
                if other is constant and ext != "SCI":
                    continue  # a different DQ: only the reading is checked below
                np.testing.assert_array_equal(got, want, err_msg=f"{other.name} {ext}")
    rows = scan_imsets([constant])[0].dq
    assert isinstance(rows, ConstantRows)


def worker_pid(_task) -> int:
    return os.getpid()


@pytest.mark.skipif(
    sys.platform != "linux" or (os.cpu_count() or 1) < 2, reason="workers are forked on Linux"
)
def test_two_workers_are_processes_of_their_own():
    with crreject_pool.worker_pool(2) as run:
        pids = set(run(worker_pid, range(6)))
    assert pids and os.getpid() not in pids
    with crreject_pool.worker_pool(1) as run:
        assert set(run(worker_pid, range(3))) == {os.getpid()}


def fail_on_odd(task: int) -> int:
    if task % 2:
        raise StisDarksError(f"task {task} failed")
    return task


@pytest.mark.parametrize("count", [1, 2])
def test_workers_raise_what_the_first_failing_task_raised(count):
    with crreject_pool.worker_pool(count) as run:
        assert run(fail_on_odd, [0, 2, 4]) == [0, 2, 4]
        with pytest.raises(StisDarksError, match="^task 1 failed$"):
            run(fail_on_odd, range(9))
