"""Recalibration: the native dark swap is exact, re-extraction, figures and summary numbers."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from scipy.ndimage import median_filter

from stisdarks import hstcal
from stisdarks.binning import readout_of
from stisdarks.calibrators import recalibrate, resolve_calibrator
from stisdarks.darkswap import dark_scale_factor
from stisdarks.errors import StisDarksError
from stisdarks.figures import choose_zoom, plot_crj_comparison
from stisdarks.summary import extraction_region, residual_hot_pixels, robust_noise
from stisdarks.synthetic import generate_archive

OBS = "odemo1010"


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    return generate_archive(tmp_path_factory.mktemp("cal") / "a", size=96, n_darks=6, seed=9)


def products(root: Path) -> dict[str, Path]:
    return {k: root / "science" / f"{OBS}_{k}.fits" for k in ("raw", "flt", "crj", "sx1")}


def other_dark(root: Path, tmp_path: Path, hot: dict[tuple[int, int], float]) -> Path:
    """The pipeline dark with extra hot pixels, as a weekdark would have them."""
    path = tmp_path / "weekdark.fits"
    shutil.copy(root / "oref" / "syn_pipe_drk.fits", path)
    with fits.open(path, mode="update") as h:
        for (y, x), rate in hot.items():
            h["SCI"].data[y, x] += rate
            h["DQ"].data[y, x] |= 16
    return path


def test_scale_factor_as_calstis():
    hdr = fits.Header({"REF_TEMP": 18.0, "DRK_VS_T": 0.07})
    assert dark_scale_factor(20.0, 59000.0, hdr) == pytest.approx(1.14)
    assert dark_scale_factor(20.0, 50000.0, hdr) == 1.0  # side 1
    assert dark_scale_factor(-1.0, 59000.0, hdr) == 1.0
    assert dark_scale_factor(20.0, 59000.0, fits.Header()) == pytest.approx(
        1.14
    )  # defaults 18 / 0.07


def test_dark_swap_is_exact_and_reversible(archive, tmp_path):
    p = products(archive)
    digests = {k: hashlib.sha256(v.read_bytes()).hexdigest() for k, v in p.items()}
    pipe = archive / "oref" / "syn_pipe_drk.fits"
    week = other_dark(archive, tmp_path, {(48, 30): 2.0, (47, 60): 0.5})
    out = recalibrate(**p, weekdark=week, pipeline_dark=pipe, outdir=tmp_path / "recal", calibrator="native",
                      oref_dir=archive / "oref", obs_id=OBS)  # fmt: skip
    assert {k: hashlib.sha256(v.read_bytes()).hexdigest() for k, v in p.items()} == digests, (
        "inputs modified"
    )
    with fits.open(p["crj"]) as old, fits.open(out["crj"]) as new:
        flat = fits.getdata(archive / "oref" / "syn_pfl.fits", "SCI")
        t = old["SCI"].header["EXPTIME"]
        f = dark_scale_factor(
            old["SCI"].header["OCCDHTAV"], old["SCI"].header["EXPSTART"], fits.getheader(pipe)
        )
        delta = old["SCI"].data - new["SCI"].data
        assert delta[48, 30] == pytest.approx(2.0 * f * t / flat[48, 30], rel=1e-5)
        assert delta[47, 60] == pytest.approx(0.5 * f * t / flat[47, 60], rel=1e-5)
        mask = np.ones_like(delta, bool)
        mask[48, 30] = mask[47, 60] = False
        assert np.all(delta[mask] == 0)
        assert new["DQ"].data[48, 30] & 16 and new[0].header["DARKFILE"] == f"{OBS}_weekdark.fits"
    with fits.open(out["flt"]) as new_flt, fits.open(p["flt"]) as old_flt:
        for k in (1, 2):
            t_k = old_flt["SCI", k].header["EXPTIME"]
            f_k = dark_scale_factor(old_flt["SCI", k].header["OCCDHTAV"], old_flt["SCI", k].header["EXPSTART"],
                                    fits.getheader(pipe))  # fmt: skip
            d = old_flt["SCI", k].data[48, 30] - new_flt["SCI", k].data[48, 30]
            assert d == pytest.approx(2.0 * f_k * t_k / flat[48, 30], rel=1e-5)
    # swapping back restores the pipeline product to float32 rounding
    back = recalibrate(raw=p["raw"], flt=out["flt"], crj=out["crj"], sx1=out["sx1"], weekdark=pipe,
                       pipeline_dark=week, outdir=tmp_path / "back", calibrator="native",
                       oref_dir=archive / "oref", obs_id=OBS)  # fmt: skip
    np.testing.assert_allclose(
        fits.getdata(back["crj"], "SCI"), fits.getdata(p["crj"], "SCI"), rtol=1e-6, atol=1e-3
    )


def test_reextraction_removes_the_hot_pixel_from_the_spectrum(archive, tmp_path):
    p = products(archive)
    sx1 = fits.getdata(p["sx1"], 1)[0]
    col = 40
    row = int(round(sx1["EXTRLOCY"][col] - 1))
    # pretend the pipeline missed a hot pixel: the weekdark has it, the pipeline dark not
    week = other_dark(archive, tmp_path, {(row, col): 1.0})
    out = recalibrate(**p, weekdark=week, pipeline_dark=archive / "oref" / "syn_pipe_drk.fits",
                      outdir=tmp_path / "r", calibrator="native", oref_dir=archive / "oref", obs_id=OBS)  # fmt: skip
    new = fits.getdata(out["sx1"], 1)[0]
    change = sx1["NET"] - new["NET"]
    assert change[col] > 0.9 * 1.0 * 0.95 and np.all(np.abs(np.delete(change, col)) < 1e-3)
    ratio = sx1["FLUX"][col] / sx1["NET"][col]
    assert new["FLUX"][col] == pytest.approx(new["NET"][col] * ratio, rel=1e-5)


def test_figures_zoom_and_summary_find_the_removed_hot_pixel(archive, tmp_path):
    p = products(archive)
    sx1 = fits.getdata(p["sx1"], 1)[0]
    clean = fits.getdata(p["crj"], "SCI").astype(float)
    rows = np.round(sx1["EXTRLOCY"] - 1).astype(int)
    resid = clean - median_filter(clean, size=(1, 7))
    # a column whose trace pixel is unremarkable (no cosmic-ray hole, no hot pixel) for the plant
    col = 20 + int(np.argmin(np.abs(resid[rows[20:80], np.arange(20, 80)])))
    row = rows[col]
    # a science _crj with a hot pixel, and its recalibration without it
    crj = tmp_path / "pipe_crj.fits"
    shutil.copy(p["crj"], crj)
    with fits.open(crj, mode="update") as h:
        h["SCI"].data[row, col] += 3000.0
    region = extraction_region(fits.getdata(crj, "SCI").shape, p["sx1"])
    old, new = fits.getdata(crj, "SCI"), fits.getdata(p["crj"], "SCI")
    noise = robust_noise(new, region)
    assert (
        residual_hot_pixels(old, region, noise=noise)
        == residual_hot_pixels(new, region, noise=noise) + 1
    )
    _, _, centre = choose_zoom(old - new, region)
    assert abs(centre[0] - row) <= 2 and abs(centre[1] - col) <= 2
    png = plot_crj_comparison(tmp_path / "crj.png", crj, p["crj"], sx1=p["sx1"])
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_calstis_forced_without_cs0_is_one_line(archive, tmp_path, monkeypatch):
    monkeypatch.setattr(hstcal, "has_calstis", lambda: False)
    assert resolve_calibrator("auto") == "native"
    with pytest.raises(StisDarksError, match="cs0.e not found on PATH") as err:
        recalibrate(**products(archive), weekdark=archive / "oref" / "syn_pipe_drk.fits",
                    pipeline_dark=archive / "oref" / "syn_pipe_drk.fits", outdir=tmp_path / "o",
                    calibrator="calstis", obs_id=OBS)  # fmt: skip
    assert "\n" not in str(err.value) and not list((tmp_path / "o").glob("*.fits"))


@pytest.fixture(scope="module", params=["binned2x1-gain4", "subarray-gain4"])
def readout_archive(request, tmp_path_factory):
    """An archive whose science is read out unlike its (unbinned, gain-1) darks."""
    kwargs = {
        "binned2x1-gain4": dict(size=1024, science_bin=(2, 1), science_gain=4),
        "subarray-gain4": dict(size=96, science_rows=48, science_gain=4),
    }[request.param]
    return generate_archive(tmp_path_factory.mktemp("ro") / "a", n_darks=2, seed=12, **kwargs)


def test_dark_swap_bins_the_dark_to_the_science_and_uses_its_gain(readout_archive, tmp_path):
    """A new hot pixel of the (unbinned) dark lands in the science pixel that sums it, divided by gain 4."""
    p = products(readout_archive)
    pipe = readout_archive / "oref" / "syn_pipe_drk.fits"
    with fits.open(p["crj"]) as crj:
        shape = crj["SCI"].data.shape
        ro = readout_of(crj["SCI"].header, shape)
    dark_ltv2 = fits.getval(pipe, "LTV2", "SCI")
    # detector pixels (0-indexed) → dark pixels, and the science pixel each falls in
    detector = [(500, 301), (505, 600)]
    science = [
        ((y - ro.corner[1]) // ro.bin[1], (x - ro.corner[0]) // ro.bin[0]) for y, x in detector
    ]
    week = other_dark(
        readout_archive, tmp_path, {(y + int(dark_ltv2), x): 1.0 for y, x in detector}
    )
    out = recalibrate(**p, weekdark=week, pipeline_dark=pipe, outdir=tmp_path / "recal", calibrator="native",
                      oref_dir=readout_archive / "oref", obs_id=OBS)  # fmt: skip
    assert fits.getval(p["crj"], "ATODGAIN") == 4.0
    flat = fits.getdata(readout_archive / "oref" / "syn_pfl.fits", "SCI")
    with fits.open(p["crj"]) as old, fits.open(out["crj"]) as new:
        assert new["SCI"].data.shape == shape
        t, temp = old["SCI"].header["EXPTIME"], old["SCI"].header["OCCDHTAV"]
        f = dark_scale_factor(temp, old["SCI"].header["EXPSTART"], fits.getheader(pipe))
        delta = old["SCI"].data - new["SCI"].data
        for (y, x), (sy, sx) in zip(detector, science, strict=True):
            # the flat averaged over the science pixel's detector pixels (calstis bin2d, avg)
            xs = [ro.corner[0] + ro.bin[0] * sx + k for k in range(ro.bin[0])]
            assert x in xs
            binned_flat = np.mean([flat[y + int(dark_ltv2), c] for c in xs])
            assert delta[sy, sx] == pytest.approx(1.0 * f * t / 4.0 / binned_flat, rel=1e-4)
            assert new["DQ"].data[sy, sx] & 16
        assert np.count_nonzero(delta) == len(detector)


def test_row_median_and_zoom_score_are_scipys_filters():
    """The summary's and the figures' numpy filters give scipy.ndimage's numbers (scipy is not imported by those jobs)."""
    from scipy.ndimage import uniform_filter

    from stisdarks.figures import _box_sum
    from stisdarks.summary import row_median

    rng = np.random.default_rng(5)
    data = rng.normal(size=(40, 90))
    np.testing.assert_array_equal(row_median(data), median_filter(data, size=(1, 7)))
    np.testing.assert_allclose(
        _box_sum(np.abs(data), 5), 25 * uniform_filter(np.abs(data), size=5), rtol=1e-12
    )
