"""Native calstis-2 cosmic-ray rejection: the hstcal golden case and each CRREJTAB parameter."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from stisdarks.crreject import CR_FLAG, crreject_files, crreject_stack
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


def write_table(path, rows):
    cols = list(zip(*rows, strict=True))
    fits.HDUList([
        fits.PrimaryHDU(),
        fits.BinTableHDU.from_columns([
            fits.Column("CRSPLIT", "I", array=cols[0]), fits.Column("MEANEXP", "E", array=cols[1]),
            fits.Column("CRSIGMAS", "10A", array=cols[2]), fits.Column("CRRADIUS", "E", array=[1.5] * len(rows)),
            fits.Column("CRTHRESH", "E", array=[0.8] * len(rows)), fits.Column("INITGUES", "8A", array=["median"] * len(rows)),
            fits.Column("SKYSUB", "8A", array=["none"] * len(rows)), fits.Column("SCALENSE", "E", array=[0.0] * len(rows)),
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
