"""Products measured against the synthetic truth (``stisdarks.truth``), on files made here."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from stisdarks.synthetic.transfer import ChargeTransfer
from stisdarks.truth import (
    ISOLATION,
    TRAIL_ROWS,
    bright_hot_pixels,
    measure_against_truth,
    period_truth,
    spectrum_vs_truth,
    trail_excess,
    trail_profile,
)

ROWS, COLS = 200, 1024
MJD = 59330.0


def _hot_pixels(n: int = 12) -> list[dict]:
    """Bright hot pixels, one per column, rows far apart: isolated."""
    return [
        {"y": 60 + 7 * k, "x": 100 + 60 * k, "rate": 2.0 + k, "onset_mjd": MJD - 10}
        for k in range(n)
    ]


def _dark(path: Path, hot: list[dict], *, trailed: bool) -> Path:
    """A dark reference file (e-/s) of those hot pixels on a faint floor, read out or not."""
    rate = np.full((ROWS, COLS), 0.004)
    for h in hot:
        rate[h["y"], h["x"]] += h["rate"]
    charge = rate * 1100.0
    if trailed:
        charge = ChargeTransfer(first_row=400, enabled=True).read(charge, MJD)
    hdul = fits.HDUList(
        [fits.PrimaryHDU(), fits.ImageHDU((charge / 1100).astype(np.float32), name="SCI")]
    )
    hdul[0].header["CCDAMP"] = "ANY"
    hdul.writeto(path)
    return path


def test_a_trailed_dark_keeps_less_in_its_hot_pixels_and_trails_the_rest(tmp_path):
    hot = _hot_pixels()
    chosen = bright_hot_pixels(hot, MJD, (ROWS, COLS), None)
    assert len(chosen) == len(hot)
    trailed = trail_profile(_dark(tmp_path / "t.fits", hot, trailed=True), chosen)
    clean = trail_profile(_dark(tmp_path / "c.fits", hot, trailed=False), chosen)
    assert clean["peak"] == pytest.approx(1.0, abs=1e-3) and abs(clean["trail"]) < 1e-3
    assert trailed["peak"] < 0.97 and trailed["trail"] > 0.01
    # amplifier D reads from the top: the trail is in the rows below, none above
    profile = np.array(trailed["profile"])
    offsets = np.array(trailed["offsets"])
    assert np.all(profile[offsets < 0] == pytest.approx(0, abs=1e-4))
    assert np.all(profile[(offsets > 0) & (offsets <= TRAIL_ROWS)] > 0)


def test_hot_pixels_near_another_the_trace_or_an_edge_are_left_out():
    hot = _hot_pixels(3)
    hot.append({"y": hot[0]["y"] + ISOLATION, "x": hot[0]["x"], "rate": 0.2, "onset_mjd": 0.0})
    hot.append({"y": 2, "x": 900, "rate": 5.0, "onset_mjd": 0.0})  # at the edge
    hot.append({"y": 100, "x": 950, "rate": 5.0, "onset_mjd": MJD + 1})  # born later
    hot.append({"y": 100, "x": 960, "rate": 0.5, "onset_mjd": 0.0})  # faint
    trace = np.full(COLS, 190.0)
    trace[hot[1]["x"]] = hot[1]["y"] + 3  # the spectrum passes by the second
    chosen = bright_hot_pixels(hot, MJD, (ROWS, COLS), trace)
    assert chosen == [(hot[2]["y"], hot[2]["x"], hot[2]["rate"])]
    # a trace of another length (a binned spectrum) is not used
    assert len(bright_hot_pixels(hot, MJD, (ROWS, COLS), trace[:512])) == 2


def _sx1(path: Path, net: np.ndarray, gain: float, dq: np.ndarray | None = None) -> Path:
    cols = [
        fits.Column("NET", f"{net.size}D", array=[net]),
        fits.Column("DQ", f"{net.size}I", array=[np.zeros(net.size) if dq is None else dq]),
        fits.Column("EXTRLOCY", f"{net.size}D", array=[np.full(net.size, 191.0)]),
    ]
    primary = fits.PrimaryHDU()
    primary.header["ATODGAIN"] = gain
    fits.HDUList([primary, fits.BinTableHDU.from_columns(cols)]).writeto(path)
    return path


def _truth(path: Path, spectrum: np.ndarray) -> Path:
    table = fits.BinTableHDU.from_columns(
        [fits.Column("WAVELENGTH", "D", array=np.arange(spectrum.size)),
         fits.Column("NET", "D", array=spectrum)], name="SPECTRUM",
    )  # fmt: skip
    source = fits.ImageHDU(np.zeros((ROWS, COLS), np.float32), name="SOURCE")
    fits.HDUList([fits.PrimaryHDU(), source, table]).writeto(path)
    return path


def test_the_spectrum_is_measured_in_electrons_against_the_injected_one(tmp_path):
    truth = np.linspace(2.0, 4.0, COLS)
    truth_fits = _truth(tmp_path / "truth.fits", truth)
    dq = np.zeros(COLS)
    dq[:10] = 16  # flagged columns are left out, however wrong
    net = 0.45 * truth  # gain 2: 0.9 of the electrons
    net[:10] = 100.0
    got = spectrum_vs_truth(_sx1(tmp_path / "a.fits", net, 2.0, dq), truth_fits)
    assert got["median_relative"] == pytest.approx(-0.1) and got["columns"] == COLS - 10
    binned = spectrum_vs_truth(_sx1(tmp_path / "b.fits", net[:512], 2.0), truth_fits)
    assert binned["median_relative"] is None and "binned" in binned["reason"]


def test_the_science_trails_and_the_whole_measure(tmp_path):
    hot = _hot_pixels()
    chosen = bright_hot_pixels(hot, MJD, (ROWS, COLS), None)
    crj = np.full((ROWS, COLS), 20.0)
    for y, x, _ in chosen:  # a dark-subtracted hot pixel whose trail the dark did not cancel
        crj[y - 3 : y, x] += 10.0
    hdul = fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(crj.astype(np.float32), name="SCI")])
    hdul[0].header.update(CCDAMP="D", ATODGAIN=4.0, TEXPSTRT=MJD)
    hdul[1].header["EXPTIME"] = 1800.0
    hdul.writeto(tmp_path / "crj.fits")
    assert trail_excess(tmp_path / "crj.fits", chosen)["mean_e"] == pytest.approx(120.0)
    truth_json = tmp_path / "truth.json"
    truth_json.write_text(json.dumps({"hot_pixels": hot, "pipeline_dark_mjd": MJD - 5}))
    truth_fits = _truth(tmp_path / "truth.fits", np.full(COLS, 3.0))
    sx1 = _sx1(tmp_path / "sx1.fits", np.full(COLS, 3.0), 1.0)
    got = measure_against_truth(
        truth_fits, truth_json, pipeline_crj=tmp_path / "crj.fits", recal_crj=tmp_path / "crj.fits",
        pipeline_sx1=sx1, recal_sx1=sx1, pipeline_dark=_dark(tmp_path / "d.fits", hot, trailed=True),
        weekdark=_dark(tmp_path / "w.fits", hot, trailed=False),
    )  # fmt: skip
    assert got["spectrum"]["recalibrated"]["median_relative"] == pytest.approx(0.0)
    assert got["dark_trails"]["pipeline_dark"]["trail"] > 0.01
    assert abs(got["dark_trails"]["weekdark"]["trail"]) < 1e-3
    assert got["science_trails"]["pipeline"]["hot_pixels"] == len(chosen)


def test_each_period_has_its_own_hot_pixels():
    first = [{"y": 50, "x": 10, "rate": 2.0, "onset_mjd": 100.0}]
    second = [{"y": 80, "x": 20, "rate": 3.0, "onset_mjd": 200.0}]
    facts = {
        "hot_pixels": first, "pipeline_dark_mjd": 150.0,
        "second_period": {"start_mjd": 190.0, "end_mjd": 220.0, "hot_pixels": second,
                          "pipeline_dark_mjd": 205.0},
    }  # fmt: skip
    assert period_truth(facts, 180.0) == (first, 150.0)
    assert period_truth(facts, 210.0) == (second, 205.0)
    assert period_truth({"hot_pixels": first, "pipeline_dark_mjd": 150.0}, 210.0) == (first, 150.0)
