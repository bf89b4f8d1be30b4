"""Cosmic-ray flags inside vs outside the extraction box, as STScI's STIS CR monitor judges them."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from stisdarks.cosmic_rays import (
    ALPHA,
    CR_FLAG,
    FlagCounts,
    binomial_isf,
    box_region,
    cosmic_ray_verdict,
    count_flags,
    flagged_fractions,
    significance_threshold,
    sx1_box,
    verdict,
)
from stisdarks.crreject import crreject_stack
from stisdarks.crrejtab import CRParams
from stisdarks.errors import InputFileError
from stisdarks.summary import extraction_region
from stisdarks.synthetic import DEFAULT_OBS_ID, generate_archive

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"
NY, NX = 64, 256
TRACE = 31.0  # 0-indexed row of the synthetic spectra
KEYS = {"inside_fraction", "outside_fraction", "ratio", "verdict", "status", "ratio_threshold"}


def json_safe(result: dict) -> dict:
    """``result`` through JSON without NaN or infinity (raises if it holds any)."""
    return json.loads(json.dumps(result, allow_nan=False))


def box(centre: float = TRACE + 1, size: float = 7.0) -> np.ndarray:
    return box_region((NY, NX), np.full(NX, centre, np.float32), np.float32(size))


def uniform_hits(rng: np.random.Generator, n_hits: int) -> np.ndarray:
    """DQ of one image set: cosmic rays of 1–3 pixels anywhere, plus other DQ bits to ignore."""
    dq = np.where(rng.random((NY, NX)) < 0.05, np.int16(16), np.int16(0))  # hot pixels
    ys, xs = rng.integers(0, NY, n_hits), rng.integers(0, NX, n_hits)
    for k in range(3):
        on = rng.random(n_hits) < (1.0, 0.6, 0.3)[k]
        dq[np.clip(ys[on] + k, 0, NY - 1), xs[on]] |= np.int16(CR_FLAG)
    return dq


# --- the box ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extrlocy", "rows"),
    [(31.0, range(27, 34)), (31.6, range(28, 35)), (31.4, range(27, 34)), (31.5, range(27, 35))],
)
def test_box_holds_the_rows_whose_centres_are_inside(extrlocy, rows):
    # 0-indexed centre EXTRLOCY - 1 ± 3.5; a centre exactly on the edge counts (31.5: 27.0, 34.0)
    mask = box(extrlocy)
    for x in (0, NX // 2, NX - 1):
        np.testing.assert_array_equal(np.flatnonzero(mask[:, x]), list(rows))


def test_box_is_cut_at_the_image_edge_and_wants_one_centre_per_column():
    mask = box(2.0)  # rows -2.5 .. 4.5 → 0 .. 4
    np.testing.assert_array_equal(np.flatnonzero(mask[:, 7]), range(5))
    with pytest.raises(ValueError, match="EXTRLOCY has 10 values"):
        box_region((NY, NX), np.full(10, 30.0), 7.0)


def test_box_lies_within_the_summary_region():
    """The monitor's box drops only the partly covered edge rows of summary.extraction_region."""
    from stisdarks.extraction import box_weights

    centre = 30.0 + 0.37 * np.sin(np.arange(NX) / 9.0)
    mask = box_region((NY, NX), centre + 1.0, 7.0)
    touched = box_weights(NY, centre, 7.0) > 0
    assert not np.any(mask & ~touched)
    assert set(np.unique(touched.sum(axis=0) - mask.sum(axis=0))) <= {0, 1}
    assert set(np.unique(mask.sum(axis=0))) == {7}


@pytest.mark.skipif(not (REFERENCE / "o56502010_sx1.fits").is_file(), reason="no reference data")
def test_box_of_a_real_binned_sx1_and_its_raw_refused():
    sx1 = REFERENCE / "o56502010_sx1.fits"
    extrlocy = fits.getdata(sx1, 1)[0]["EXTRLOCY"]
    mask = sx1_box((1024, 511), sx1)  # binned 2x1: 511 columns, EXTRSIZE 7
    assert np.all(mask.sum(axis=0) == 7)
    centre = (np.arange(1024)[:, None] * mask).sum(axis=0) / 7.0
    assert np.all(np.abs(centre - (extrlocy - 1)) <= 0.5)
    # the _raw keeps its overscan (532 columns): not the _flt the _sx1 was extracted from
    with pytest.raises(InputFileError, match="511 columns but the _flt image sets 532"):
        cosmic_ray_verdict(REFERENCE / "o56502010_raw.fits", sx1)


# --- counting -----------------------------------------------------------------------------


def test_fractions_are_the_mean_over_image_sets_and_ignore_other_bits():
    region = box()
    dq = np.zeros((3, NY, NX), np.int16)
    dq[:, ~region] = 512 | 16  # other DQ bits everywhere outside
    dq[0][region] |= CR_FLAG  # image set 1: the whole box
    dq[1, 0, :64] |= CR_FLAG  # image set 2: 64 pixels outside
    n_box = int(region.sum())
    inside, outside = flagged_fractions(dq, region)
    assert inside == pytest.approx(np.mean([1.0, 0.0, 0.0]))
    assert outside == pytest.approx(np.mean([0.0, 64 / (NY * NX - n_box), 0.0]))
    counts = count_flags(iter(dq), region)  # a generator, one image set at a time
    assert (counts.image_sets, counts.inside, counts.outside) == (3, n_box, 64)
    with pytest.raises(ValueError, match="region of shape"):
        count_flags(dq, region[:, :10])


# --- the statistics -----------------------------------------------------------------------


def exact_isf(q: float, n: int, p: float) -> int:
    """Smallest k with P(X > k) <= q, from exact binomial terms."""
    for k in range(n + 1):
        tail = sum(math.comb(n, j) * p**j * (1 - p) ** (n - j) for j in range(k + 1, n + 1))
        if tail <= q:
            return k
    return n


def test_binomial_isf_is_the_exact_upper_quantile():
    rng = np.random.default_rng(7)
    for _ in range(60):
        n, p, q = (
            int(rng.integers(1, 120)),
            float(rng.uniform(0.002, 0.6)),
            float(10 ** rng.uniform(-5, -0.5)),
        )
        assert binomial_isf(q, n, p) == exact_isf(q, n, p), (q, n, p)
    assert (
        binomial_isf(ALPHA, 0, 0.3),
        binomial_isf(ALPHA, 9, 0.0),
        binomial_isf(ALPHA, 9, 1.0),
    ) == (0, 0, 9)
    # large n: close to the normal approximation mean + 3 sigma
    n, p = 200_000, 0.004
    assert abs(binomial_isf(ALPHA, n, p) - (n * p + 3.0 * math.sqrt(n * p * (1 - p)))) < 5
    with pytest.raises(ValueError):
        binomial_isf(0.0, 10, 0.1)


def test_stsci_documented_case_odvkl1040():
    """stistools.ocrreject_exam's documented result for odvkl1040 (misaligned CR-splits)."""
    n_box, n_image = 7 * 1024, 1024 * 1024  # detector_box_fraction 0.0068359375
    inside = [round(0.36021205 * n_box), round(0.36063058 * n_box)]
    total = [11787, 11052]  # n_cr_pix
    counts = FlagCounts(2, n_image, n_box, sum(inside), sum(total) - sum(inside))
    pixels, ratio_thr = significance_threshold(22839, n_box / n_image)
    assert ratio_thr == pytest.approx(1.4027214132251133, rel=1e-12)
    result = json_safe(verdict(counts))
    assert KEYS <= set(result)
    assert result["ratio"] == pytest.approx(42.479135678716936, rel=1e-12)
    assert result["ratio_threshold"] == pytest.approx(1.4027214132251133, rel=1e-12)
    assert result["inside_fraction"] == pytest.approx(np.mean([0.36021205, 0.36063058]), abs=1e-7)
    assert result["outside_fraction"] == pytest.approx(np.mean([0.00883899, 0.00813034]), abs=1e-7)
    assert result["status"] == "overflagged" and counts.inside >= pixels
    assert "misaligned" in result["verdict"]


# --- synthetic CR-splits ------------------------------------------------------------------


def test_uniform_cosmic_rays_give_a_ratio_near_one():
    rng = np.random.default_rng(11)
    dq = [uniform_hits(rng, 500) for _ in range(3)]
    result = json_safe(verdict(count_flags(dq, box())))
    assert result["status"] == "ok", result["verdict"]
    assert 0.7 < result["ratio"] < 1.3
    assert result["ratio"] < result["ratio_threshold"] < 2.0
    assert result["verdict"].startswith("ok: ")


def test_flags_along_the_trace_are_valid_data_flagged():
    rng = np.random.default_rng(11)
    dq = [uniform_hits(rng, 500) for _ in range(3)]
    region = box()
    trace = region & (rng.random((NY, NX)) < 0.15)  # the spectrum taken for cosmic rays in set 2
    dq[1][trace] |= np.int16(CR_FLAG)
    result = json_safe(verdict(count_flags(dq, region)))
    assert result["status"] == "overflagged"
    assert result["ratio"] > result["ratio_threshold"]
    assert result["verdict"].startswith("valid data flagged as cosmic rays")


def spectrum_image(rng: np.random.Generator, centre: float) -> np.ndarray:
    """A bright point-source spectrum (DN, gain 1) with sky, read noise and cosmic rays."""
    rows = np.arange(NY)[:, None]
    profile = np.exp(-0.5 * ((rows - centre) / 0.9) ** 2) / (0.9 * math.sqrt(2 * math.pi))
    img = rng.poisson(4000.0 * profile + 5.0 + np.zeros((1, NX))) + rng.normal(0, 5.0, (NY, NX))
    n = int(rng.poisson(0.004 * NY * NX))
    np.add.at(img, (rng.integers(0, NY, n), rng.integers(0, NX, n)), rng.lognormal(6.4, 0.8, n))
    return img.astype(np.float32)


@pytest.mark.parametrize(("shift", "status"), [(0.0, "ok"), (0.3, "overflagged")])
def test_calstis_rejection_of_misaligned_cr_splits(shift, status):
    """The source moves 0.3 pixel between two sub-exposures: calstis' rejection eats the spectrum."""
    rng = np.random.default_rng(3)
    sci = [spectrum_image(rng, TRACE), spectrum_image(rng, TRACE + shift)]
    dq = [np.zeros((NY, NX), np.int16)] * 2
    # STScI's CRREJTAB row for CRSPLIT = 2, long exposures (sky: none for spectra)
    params = CRParams(crsigmas=(4.0,), crradius=1.5, crthresh=0.75, initgues="minimum")
    crj = crreject_stack(
        sci, dq, [900.0] * 2, [5.0] * 2, [1.0] * 2, params, return_masks=True, threads=1
    )
    flt_dq = [np.where(m, np.int16(CR_FLAG), np.int16(0)) for m in crj.masks]
    result = verdict(count_flags(flt_dq, box()))
    assert result["status"] == status, result["verdict"]


# --- edge cases ---------------------------------------------------------------------------


def test_a_single_image_set_is_not_applicable():
    rng = np.random.default_rng(1)
    result = json_safe(verdict(count_flags([uniform_hits(rng, 100)], box())))
    assert result["status"] == "not_applicable" and "single image set" in result["verdict"]
    assert result["image_sets"] == 1 and result["ratio_threshold"] is None


def test_every_flag_inside_the_box_gives_no_ratio_but_a_verdict():
    region = box()
    dq = np.zeros((2, NY, NX), np.int16)
    dq[0][region] = CR_FLAG
    result = json_safe(verdict(count_flags(dq, region)))
    assert result["outside_fraction"] == 0.0 and result["ratio"] is None
    assert result["status"] == "overflagged" and "undefined" in result["verdict"]


@pytest.mark.parametrize(("n_flagged", "why"), [(0, "no pixel"), (3, "only 3 pixels")])
def test_too_few_flags_are_insufficient(n_flagged, why):
    region = box()
    dq = np.zeros((2, NY, NX), np.int16)
    dq[0][np.nonzero(region)[0][:n_flagged], np.nonzero(region)[1][:n_flagged]] = CR_FLAG
    result = json_safe(verdict(count_flags(dq, region)))  # all inside, yet too few to tell
    assert result["status"] == "insufficient" and why in result["verdict"]
    assert result["ratio_threshold"] is None


def test_imaging_has_only_an_overall_fraction():
    dq = np.zeros((2, NY, NX), np.int16)
    dq[:, :4] = CR_FLAG
    result = json_safe(verdict(count_flags(dq, None)))
    assert result["status"] == "not_applicable" and "imaging" in result["verdict"]
    assert result["inside_fraction"] is None and result["outside_fraction"] is None
    assert result["ratio"] is None and result["overall_fraction"] == pytest.approx(4 / NY)


def test_a_file_without_dq_is_refused(tmp_path):
    path = tmp_path / "x_flt.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.zeros((4, 4)), name="SCI")]).writeto(path)
    with pytest.raises(InputFileError, match="no DQ extension"):
        cosmic_ray_verdict(path)


# --- the synthetic archive (calstis emulation) --------------------------------------------


@pytest.fixture(scope="module")
def science(tmp_path_factory) -> Path:
    root = generate_archive(tmp_path_factory.mktemp("archive"), size=128, n_darks=2, seed=1)
    return root / "science"


def test_synthetic_aligned_cr_split_is_ok(science):
    flt, sx1 = science / f"{DEFAULT_OBS_ID}_flt.fits", science / f"{DEFAULT_OBS_ID}_sx1.fits"
    result = json_safe(cosmic_ray_verdict(flt, sx1))
    assert result["status"] == "ok", result["verdict"]
    assert result["image_sets"] == 2 and result["box_pixels"] == 7 * 1024
    # the same numbers straight from the file
    with fits.open(flt) as hdul:
        flags = np.array([(hdul["DQ", k].data & CR_FLAG) != 0 for k in (1, 2)])
    region = sx1_box(flags.shape[1:], sx1)
    assert result["flagged_inside"] == int(flags[:, region].sum()) > 0
    assert result["flagged_outside"] == int(flags[:, ~region].sum()) > 0
    assert result["ratio"] == pytest.approx(result["inside_fraction"] / result["outside_fraction"])
    # the summary's region (partly covered rows too) may be passed instead
    wider = cosmic_ray_verdict(flt, region=extraction_region(flags.shape[1:], sx1))
    assert wider["box_pixels"] >= result["box_pixels"] and wider["status"] == "ok"
    # without a box (as for imaging)
    assert cosmic_ray_verdict(flt)["status"] == "not_applicable"


def test_the_same_numbers_as_stistools_ocrreject_exam(science, tmp_path):
    """STScI's own tool (stistools.ocrreject_exam, imported here only) on the same files."""
    import shutil
    import warnings

    from stistools.ocrreject_exam import ocrreject_exam

    flt, sx1 = science / f"{DEFAULT_OBS_ID}_flt.fits", science / f"{DEFAULT_OBS_ID}_sx1.fits"
    for path in (flt, sx1):
        shutil.copy(path, tmp_path / Path(path).name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        (theirs,) = ocrreject_exam(DEFAULT_OBS_ID, data_dir=str(tmp_path))
    ours = cosmic_ray_verdict(flt, sx1)
    assert ours["ratio"] == pytest.approx(theirs["combined_ratio"], rel=1e-12)
    assert ours["ratio_threshold"] == pytest.approx(theirs["combined_ratio_threshold"], rel=1e-12)
    assert ours["inside_fraction"] == pytest.approx(float(np.mean(theirs["extr_fracs"])), rel=1e-12)
    assert ours["outside_fraction"] == pytest.approx(
        float(np.mean(theirs["outside_fracs"])), rel=1e-12
    )
    assert (ours["status"] == "overflagged") == bool(theirs["overflagged_stat"])
