"""The synthetic STIS CCD archive: layout, headers, truth, distractors, and calstis' order."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from product_checks import assert_calstis_products

from stisdarks.archive.local import read_index
from stisdarks.crreject import crreject_stack
from stisdarks.crrejtab import read_crrejtab
from stisdarks.extraction import box_weights, trace_rows
from stisdarks.synthetic import INDEX_COLUMNS, generate_archive

OBS = "odemo1010"
SIZE = 128
GOLDEN_OREF = Path(__file__).parent / "data" / "golden" / "oref"


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return generate_archive(tmp_path_factory.mktemp("syn") / "a", size=SIZE, n_darks=10, seed=5)


@pytest.fixture(scope="module")
def untrailed(tmp_path_factory) -> Path:
    """The same archive on a detector without CTI (the same seed draws the same numbers)."""
    return generate_archive(
        tmp_path_factory.mktemp("syn") / "b", size=SIZE, n_darks=10, seed=5, cti_trails=False,
        parts=("darks",),
    )  # fmt: skip


@pytest.fixture(scope="module")
def truth(root) -> dict:
    return json.loads((root / "truth.json").read_text())


@pytest.fixture(scope="module")
def index(root) -> list[dict]:
    return read_index(root)


def darks_of_period(index, truth) -> list[dict]:
    p = truth["period"]
    return sorted(
        (r for r in index if r["obs_id"].startswith("odark")
         and p["start_mjd"] <= float(r["start_mjd"]) < p["end_mjd"]),
        key=lambda r: float(r["start_mjd"]),
    )  # fmt: skip


# ------------------------------------------------------------------ layout and determinism
def test_layout_and_index(root, index, truth):
    assert list(index[0]) == INDEX_COLUMNS
    for row in index:
        path = root / row["path"]
        assert path.is_file() and path.name == row["filename"]
        assert int(row["size"]) == path.stat().st_size
    kinds = {r["kind"] for r in index if r["obs_id"] == OBS}
    assert kinds == {"raw", "wav", "flt", "crj", "sx1"}
    assert {p.name for p in (root / "oref").iterdir()} == {
        "syn_pipe_drk.fits", "j3m1403io_crr.fits", "syn_ccd.fits", "syn_bia.fits", "syn_pfl.fits",
        "syn_bpx.fits", *(f"syn_{s}.fits" for s in ("1dx", "1dt", "sdc", "apd", "dsp", "iac", "pht", "apt")),
    }  # fmt: skip
    rows = list(csv.DictReader(open(root / "anneal_periods.csv")))
    assert rows == [{"start": "2021-04-07 02:35:41", "end": "2021-05-05 14:00:22",
                     "source": "synthetic archive"}]  # fmt: skip
    assert truth["seed"] == 5 and truth["size"] == SIZE and truth["obs_id"] == OBS
    assert len(darks_of_period(index, truth)) == 10
    assert not list(root.rglob(".tmp-*"))


def test_same_seed_same_arrays_and_complete_archive_is_kept(root, tmp_path):
    again = generate_archive(tmp_path / "b", size=SIZE, n_darks=10, seed=5)
    for name in ("darks/odark003q_flt.fits", "darks/odgn4001q_flt.fits", f"science/{OBS}_raw.fits",
                 f"science/{OBS}_crj.fits", f"science/{OBS}_flt.fits", "oref/syn_pipe_drk.fits"):  # fmt: skip
        with fits.open(root / name) as a, fits.open(again / name) as b:
            for ha, hb in zip(a, b, strict=True):
                if ha.data is not None:
                    np.testing.assert_array_equal(ha.data, hb.data, err_msg=name)
    assert (root / "truth.json").read_text() == (again / "truth.json").read_text()
    other = generate_archive(tmp_path / "c", size=SIZE, n_darks=10, seed=6)
    assert not np.array_equal(
        fits.getdata(root / "darks/odark003q_flt.fits", 1),
        fits.getdata(other / "darks/odark003q_flt.fits", 1),
    )
    # idempotent: a complete archive is not regenerated, nor a complete half
    stamp = {p: p.stat().st_mtime_ns for p in again.rglob("*") if p.is_file()}
    generate_archive(again, size=SIZE, n_darks=10, seed=5)
    assert all(p.stat().st_mtime_ns == t for p, t in stamp.items())
    (again / "science" / "index.csv").unlink()  # the science half incomplete: it alone is redone
    generate_archive(again, size=SIZE, n_darks=10, seed=5)
    redone = {p.relative_to(again).parts[0] for p, t in stamp.items() if p.stat().st_mtime_ns != t}
    assert "darks" not in redone and "science" in redone


# ------------------------------------------------------------------ darks
def test_dark_headers_are_stis_like_and_consistent(root, index, truth):
    temps = []
    for row in darks_of_period(index, truth):
        with fits.open(root / row["path"]) as h:
            p, s = h[0].header, h["SCI", 1].header
            assert [x.name for x in h] == ["PRIMARY", "SCI", "ERR", "DQ"]
            assert p["ROOTNAME"] == row["obs_id"] and p["TARGNAME"] == "DARK"
            assert p["INSTRUME"] == "STIS" and p["DETECTOR"] == "CCD" and p["CCDAMP"] == "D"
            assert p["CCDGAIN"] == 1 and p["ATODGAIN"] == 1.0 and p["READNSE"] == 5.0
            assert p["BINAXIS1"] == p["BINAXIS2"] == 1 and p["PROPOSID"] == 16511
            assert p["BLEVCORR"] == p["BIASCORR"] == "COMPLETE" and p["DARKCORR"] == "OMIT"
            assert p["CRREJTAB"] == "oref$j3m1403io_crr.fits" and p["PROPTTL1"]
            assert p["BPIXTAB"] == "oref$syn_bpx.fits" and p["SUBARRAY"] == (SIZE != 1024)
            assert s["EXPTIME"] == p["TEXPTIME"] == 1100.0
            assert (p["TEXPEND"] - p["TEXPSTRT"]) * 86400 == pytest.approx(1100.0, abs=1e-3)
            assert s["EXPSTART"] == p["TEXPSTRT"] == pytest.approx(float(row["start_mjd"]))
            assert h["ERR", 1].data.min() > 0
            assert s["LTV2"] == -truth["detector_first_row"] and h["SCI", 1].data.shape == (
                SIZE,
                1024,
            )
            # DQ from the bad-pixel table: bad columns (4), blemishes (1024, 32), known hot pixels (16)
            dq = h["DQ", 1].data
            assert {b for b in (4, 16, 32, 1024) if np.any(dq & b)} == {4, 16, 32, 1024}
            assert np.count_nonzero(dq & 4) >= 3 * SIZE
            temps.append(s["OCCDHTAV"])
    assert 15 < min(temps) < max(temps) < 21 and np.std(temps) > 0.3


def test_cosmic_rays_and_read_noise(untrailed, truth):
    sci = fits.getdata(untrailed / "darks/odark004q_flt.fits", "SCI")
    med = np.median(sci)
    sigma = 1.4826 * np.median(np.abs(sci - med))
    assert 4.5 < sigma < 6.5  # read noise 5 e- plus ~4 e- of dark current, gain 1
    hot = np.zeros(sci.shape, bool)
    for h in truth["hot_pixels"]:
        hot[h["y"], h["x"]] = True
    hits = np.mean(sci[~hot] > med + 50)
    assert 0.005 < hits < 0.04  # cosmic rays: ~2 % of the pixels in 1100 s


def test_darks_carry_the_cti_trails_of_their_date(root, untrailed, truth):
    """Trailed minus untrailed is the trails alone: charge taken from each hot pixel and
    cosmic ray and given to the rows read after it (amplifier D, at the top: the rows below)."""
    header = fits.getheader(root / "darks/odark004q_flt.fits", 0)
    trailed = fits.getdata(root / "darks/odark004q_flt.fits", "SCI").astype(float)
    flat = fits.getdata(untrailed / "darks/odark004q_flt.fits", "SCI").astype(float)
    trails = trailed - flat
    bright = [h for h in truth["hot_pixels"]
              if h["rate"] > 3 and h["onset_mjd"] < header["TEXPSTRT"] and 40 < h["y"] < SIZE - 2]  # fmt: skip
    assert len(bright) >= 5
    lost = np.array([-trails[h["y"], h["x"]] for h in bright])
    below = np.array([trails[h["y"] - 40 : h["y"], h["x"]].sum() for h in bright])
    above = np.array([trails[h["y"] + 1 : h["y"] + 3, h["x"]].sum() for h in bright])
    rate = np.array([h["rate"] for h in bright])
    assert np.all(lost > 0.01 * rate * 1100)  # each hot pixel lost charge to the traps
    assert np.median(below / lost) > 0.5  # most of it is in the rows read after it
    assert np.median(np.abs(above)) < 0.05 * np.median(lost)  # none ahead of it
    # charge is conserved, but for what the traps hold at the end of a column
    assert abs(trails.sum()) < 0.1 * np.abs(trails).sum()


def test_the_truth_keeps_the_charge_before_the_readout(root):
    with fits.open(root / "truth" / f"{OBS}_truth.fits") as hdul:
        assert hdul[0].header["TRAILED1"] and hdul[0].header["TRAILED2"]
        charge = hdul["CHARGE", 1].data
        source = hdul["SOURCE"].data
        spectrum = hdul["SPECTRUM"].data
    sci = fits.getdata(root / "science" / f"{OBS}_flt.fits", ("SCI", 1))
    assert charge.shape == source.shape == sci.shape
    row = int(round(np.argmax(source[:, SIZE // 2])))
    # the trace: the truth's charge above the sky, the readout's a little less (CTI)
    assert charge[row].mean() > sci[row].mean() > 0.8 * charge[row].mean()
    assert np.allclose(spectrum["NET"], (source - source.min()).sum(axis=0), rtol=0.02)


def test_charge_transfer_follows_the_date():
    from stisdarks.cti import default_pctetab
    from stisdarks.synthetic.transfer import CTI_FROM_MJD, ChargeTransfer

    image = np.zeros((64, 1024))
    image[40, 10] = 500.0
    auto, never, always = ChargeTransfer(480), ChargeTransfer(480, False), ChargeTransfer(480, True)
    assert not auto.trails(CTI_FROM_MJD - 1) and auto.trails(CTI_FROM_MJD)
    assert never.read(image, 59000.0) is image and auto.read(image, 54000.0) is image
    read = auto.read(image, 59000.0)
    assert read[40, 10] < 500 and read[30:40, 10].sum() > 0 and read[41:, 10].sum() == 0
    far = ChargeTransfer(0).read(image, 59000.0)  # the same pixel further from the amplifier
    assert far[40, 10] < read[40, 10]
    assert np.all(always.read(image, 59000.0) == read)
    # a band is read as the whole CCD with nothing outside it: exactly
    from stisdarks.cti.correct import add_cti_imset
    from stisdarks.synthetic.transfer import _trap_model

    frame = np.zeros((1024, 1024))
    frame[480:544] = image
    whole = add_cti_imset(frame, 1.0, "D", _trap_model(str(default_pctetab()), 59000.0))
    assert np.array_equal(whole[480:544], read)


def test_hot_pixels_appear_at_their_onset(untrailed, index, truth):
    """Their rates, on the detector without CTI (the trails take charge from them)."""
    root = untrailed
    darks = darks_of_period(index, truth)
    starts = np.array([float(r["start_mjd"]) for r in darks])
    stack = np.array([fits.getdata(root / r["path"], "SCI") for r in darks])
    temps = np.array([fits.getval(root / r["path"], "OCCDHTAV", "SCI") for r in darks])
    hot = truth["hot_pixels"]
    rates = np.array([h["rate"] for h in hot])
    assert rates.min() >= 0.1 and rates.max() > 5
    # STScI: ~44,000 hot pixels above 0.1 e-/s after an anneal, ~250 more a day (full frame)
    at_start = sum(h["onset_mjd"] < truth["period"]["start_mjd"] for h in hot)
    assert at_start == pytest.approx(44_000 * SIZE / 1024, rel=0.05)
    born = len(hot) - at_start
    days = truth["period"]["end_mjd"] - truth["period"]["start_mjd"]
    assert 100 * SIZE / 1024 < born / days < 450 * SIZE / 1024
    on_ok, off_ok = [], []
    for h in hot:
        on = starts >= h["onset_mjd"]
        values = stack[:, h["y"], h["x"]]
        expected = h["rate"] * 1100 * (1 + 0.07 * (temps - 18))
        if on.sum() >= 2:  # median over the darks after onset (a cosmic ray may hit one)
            on_ok.append(abs(np.median(values[on] / expected[on]) - 1) < 0.3)
        if (~on).sum() >= 2:  # before onset: dark floor + noise (a cosmic ray only adds)
            off_ok.append(values[~on].min() < 40)
    assert len(off_ok) >= 3 and np.mean(off_ok) > 0.99 and np.mean(on_ok) > 0.98


def test_pipeline_dark_lacks_the_late_hot_pixels(root, truth):
    with fits.open(root / "oref/syn_pipe_drk.fits") as h:
        p, sci, dq = h[0].header, h["SCI"].data, h["DQ"].data
    assert p["FILETYPE"] == "DARK IMAGE" and p["REF_TEMP"] == 18 and p["DRK_VS_T"] == 0.07
    assert p["USEAFTER"]
    early = [h for h in truth["hot_pixels"] if h["onset_mjd"] <= truth["pipeline_dark_mjd"]]
    late = [h for h in truth["hot_pixels"] if h["onset_mjd"] > truth["pipeline_dark_mjd"]]
    assert early and len(late) >= 6
    # absent: at most the floor and the trails of the hot pixels read before them
    assert all(sci[h["y"], h["x"]] < 0.05 and not dq[h["y"], h["x"]] & 16 for h in late)
    # present, less what the charge traps took from them (STScI's darks are not CTI-corrected)
    ratio = [(sci[h["y"], h["x"]] - 0.004) / h["rate"] for h in early]  # minus the dark floor
    assert 0.6 < np.median(ratio) < 0.98
    assert all(dq[h["y"], h["x"]] & 16 for h in early if h["rate"] > 0.3)
    age = truth["obs_mjd"] - truth["pipeline_dark_mjd"]
    assert 7 <= age <= 14


def test_late_hot_pixels_fall_in_the_extraction_box(root, truth):
    row = fits.getdata(root / f"science/{OBS}_sx1.fits", 1)[0]
    w = box_weights(SIZE, trace_rows(row["EXTRLOCY"]), float(row["EXTRSIZE"]))
    inside = [
        h for h in truth["hot_pixels"]
        if truth["pipeline_dark_mjd"] < h["onset_mjd"] < truth["obs_mjd"] and w[h["y"], h["x"]] > 0.5
    ]  # fmt: skip
    assert len(inside) >= 5
    crj = fits.getdata(root / f"science/{OBS}_crj.fits", "SCI")
    # the pipeline _crj still holds them: well above the neighbouring columns
    excess = [crj[h["y"], h["x"]] - np.median(crj[h["y"], h["x"] - 3 : h["x"] + 4]) for h in inside]
    assert np.median(excess) > 200


def test_distractors_have_the_wrong_keys(root, index, truth):
    by_prefix = {}
    for r in index:
        by_prefix.setdefault(r["obs_id"][:5], []).append(r)
    assert {"odsht", "odgn4", "odamp", "odout"} <= set(by_prefix)
    for r in by_prefix["odsht"]:
        assert fits.getval(root / r["path"], "TEXPTIME") == 60.0 == float(r["exptime"])
    for r in by_prefix["odgn4"]:
        hdr = fits.getheader(root / r["path"])
        assert hdr["CCDGAIN"] == 4 and hdr["ATODGAIN"] == 4.0 and r["ccdgain"] == "4"
    for r in by_prefix["odamp"]:
        assert fits.getval(root / r["path"], "CCDAMP") == "A" == r["ccdamp"]
    period = truth["period"]
    for r in by_prefix["odout"]:
        t = fits.getval(root / r["path"], "TEXPSTRT")
        assert not period["start_mjd"] <= t < period["end_mjd"]
        assert fits.getval(root / r["path"], "TEXPTIME") == 1100.0


# ------------------------------------------------------------------ science and references
def test_science_headers(root, truth):
    period = truth["period"]
    with fits.open(root / f"science/{OBS}_raw.fits") as raw:
        p = raw[0].header
        assert p["CRSPLIT"] == 2 and p["NEXTEND"] == 6 and p["CCDAMP"] == "D" and p["CCDGAIN"] == 1
        assert (
            p["OPT_ELEM"] == "G430L" and p["APERTURE"] == "52X2" and p["OBSTYPE"] == "SPECTROSCOPIC"
        )
        assert p["DARKCORR"] == p["CRCORR"] == p["BLEVCORR"] == p["DQICORR"] == "PERFORM"
        assert p["WAVECAL"] == f"{OBS}_wav.fits" and p["SUBARRAY"] is True
        # a full-width subarray: 18 overscan columns each side, no virtual overscan
        assert raw["SCI", 1].data.dtype.kind == "u" and raw["SCI", 2].data.shape == (SIZE, 1060)
        assert raw["SCI", 1].header["LTV1"] == 18
        assert raw["SCI", 1].header["LTV2"] == -truth["detector_first_row"] == -(1024 - SIZE) // 2
        assert raw["SCI", 1].header["EXPNAME"] and raw["ERR", 1].header["PIXVALUE"] == 0
        assert (
            1495 < np.median(raw["SCI", 1].data[:, :14]) < 1505
        )  # serial overscan at the bias level
        hours_before_end = (period["end_mjd"] - p["TEXPSTRT"]) * 24
        assert 1.0 < hours_before_end < 2.0 and p["TEXPEND"] < period["end_mjd"]
        for key in ("DARKFILE", "PFLTFILE", "BIASFILE", "CCDTAB", "CRREJTAB", "BPIXTAB"):
            assert p[key].startswith("oref$") and (root / "oref" / p[key][5:]).is_file(), key
    for kind in ("flt", "crj", "sx1"):
        p = fits.getheader(root / f"science/{OBS}_{kind}.fits")
        assert p["DARKCORR"] == p["FLATCORR"] == p["CRCORR"] == "COMPLETE"
        assert p["DARKFILE"] == "oref$syn_pipe_drk.fits"
    crj = fits.getheader(root / f"science/{OBS}_crj.fits", "SCI")
    flt = [fits.getheader(root / f"science/{OBS}_flt.fits", ("SCI", k)) for k in (1, 2)]
    assert crj["EXPTIME"] == sum(h["EXPTIME"] for h in flt) == 1800.0
    weighted = sum(h["OCCDHTAV"] * h["EXPTIME"] for h in flt) / crj["EXPTIME"]
    assert crj["OCCDHTAV"] == pytest.approx(weighted, abs=1e-5)
    wav = fits.getheader(root / f"science/{OBS}_wav.fits")
    assert wav["TARGNAME"] == "WAVELINE" and wav["ROOTNAME"] == OBS


STSCI_CRREJTAB = Path(__file__).resolve().parents[2] / "shared" / "reference" / "j3m1403io_crr.fits"


def test_reference_tables_have_the_stsci_structure(root):
    a, b = fits.getdata(root / "oref/syn_ccd.fits", 1), fits.getdata(GOLDEN_OREF / "ccd.fits", 1)
    assert a.columns.names == b.columns.names
    assert [c.format[-1] for c in a.columns] == [c.format[-1] for c in b.columns]
    # the CRREJTAB is STScI's own: CR-SPLIT 2 spectra get the minimum guess, 4 sigma
    params = read_crrejtab(root / "oref/j3m1403io_crr.fits", 2, 900.0, "SPECTROSCOPIC")
    assert params.initgues == "minimum" and params.crsigmas == (4.0,) and params.crthresh == 0.75
    assert params.skysub == "none"  # SKYSUB mode in the table, none for spectroscopy
    if STSCI_CRREJTAB.is_file():
        np.testing.assert_array_equal(
            fits.getdata(root / "oref/j3m1403io_crr.fits", 1), fits.getdata(STSCI_CRREJTAB, 1)
        )
    bpix = fits.getdata(root / "oref/syn_bpx.fits", 1)
    assert bpix.columns.names == ["PIX1", "PIX2", "LENGTH", "AXIS", "VALUE"]
    assert fits.getval(root / "oref/syn_bpx.fits", "SIZAXIS1", 1) == 1024


def _blevcorr_subarray(raw: np.ndarray) -> np.ndarray:
    """docs/calstis.md, BLEVCORR of an amp-D subarray: 18/18 columns, bias columns 0..13, no drift."""
    raw = raw.astype(np.float64)
    ny = raw.shape[0]
    level = np.median(raw[:, 0:14], axis=1)
    j = np.arange(ny) - ny // 2
    b, a = np.polyfit(j, level, 1)
    return raw[:, 18:-18] - (a + b * j)[:, None]


def test_science_products_follow_the_calstis_order(root):
    """bias removed per image set -> CR rejection -> dark (total EXPTIME, weighted OCCDHTAV) -> flat."""
    oref = root / "oref"
    bias = fits.getdata(oref / "syn_bia.fits", "SCI")
    dark = fits.getdata(oref / "syn_pipe_drk.fits", "SCI")
    flat = fits.getdata(oref / "syn_pfl.fits", "SCI")
    dhdr = fits.getheader(oref / "syn_pipe_drk.fits")
    with fits.open(root / f"science/{OBS}_raw.fits") as raw:
        blv = [(_blevcorr_subarray(raw["SCI", k].data) - bias).astype(np.float32) for k in (1, 2)]
        t = [raw["SCI", k].header["EXPTIME"] for k in (1, 2)]
        temps = [raw["SCI", k].header["OCCDHTAV"] for k in (1, 2)]
    params = read_crrejtab(oref / "j3m1403io_crr.fits", 2, np.mean(t), "SPECTROSCOPIC")
    res = crreject_stack(blv, [np.zeros(blv[0].shape, np.int16)] * 2, t, [5.0] * 2, [1.0] * 2, params,
                         return_masks=True)  # fmt: skip
    with fits.open(root / f"science/{OBS}_crj.fits") as crj:
        hdr = crj["SCI"].header
        factor = 1 + dhdr["DRK_VS_T"] * (hdr["OCCDHTAV"] - dhdr["REF_TEMP"])
        expected = (res.sci - dark * factor * hdr["EXPTIME"] / 1.0) / flat
        close = np.isclose(crj["SCI"].data, expected, rtol=1e-5, atol=2e-3)
        assert close.mean() > 0.999  # (the hand version ignores BPIXTAB flags in the overscan fit)
        assert hdr["EXPTIME"] == res.texptime
        hot = dark > 0.1
        assert np.all(crj["DQ"].data[hot] & 16)
    with fits.open(root / f"science/{OBS}_flt.fits") as flt:
        for k in (1, 2):
            factor = 1 + 0.07 * (temps[k - 1] - 18)
            expected = (blv[k - 1] - dark * factor * t[k - 1]) / flat
            np.testing.assert_allclose(flt["SCI", k].data, expected, rtol=1e-5, atol=2e-3)
            np.testing.assert_array_equal((flt["DQ", k].data & 8192) > 0, res.masks[k - 1])
            assert flt["SCI", k].header["LTV1"] == 0


def _run_cs0(root: Path, workdir: Path) -> Path:
    """calstis (hstcal's cs0.e) on a copy of the demo's raw and wavecal, with the demo's oref."""
    for kind in ("raw", "wav"):
        shutil.copyfile(root / f"science/{OBS}_{kind}.fits", workdir / f"{OBS}_{kind}.fits")
    env = {**os.environ, "oref": f"{root / 'oref'}/"}
    proc = subprocess.run(["cs0.e", f"{OBS}_raw.fits"], cwd=workdir, env=env, capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "ERROR" not in proc.stdout
    return workdir


@pytest.mark.skipif(shutil.which("cs0.e") is None, reason="hstcal's cs0.e is not on PATH")
@pytest.mark.parametrize(
    "readout",
    [
        None,
        {"size": 1024},
        {"size": 1024, "science_bin": (2, 1), "science_gain": 4},
        {"size": 1024, "science_bin": (2, 2)},
        {"size": 1024, "science_bin": (1, 2), "science_gain": 4},
        {"size": 96, "science_rows": 48, "science_gain": 4},
    ],
    ids=["subarray", "full-frame", "binned-2x1-gain4", "binned-2x2", "binned-1x2-gain4",
         "science-subarray-of-the-darks-gain4"],
)  # fmt: skip
def test_calstis_makes_the_archive_products(root, tmp_path_factory, readout):
    """The pipeline _crj and _flt of the archive are what calstis makes of its _raw.

    Also when the science is binned, a smaller subarray than the darks, or at gain 4:
    calstis then bins and cuts the unbinned pipeline dark and flat to it.
    """
    if readout is not None:
        root = generate_archive(tmp_path_factory.mktemp("ro") / "a", n_darks=2, seed=8, **readout)
    out = _run_cs0(root, tmp_path_factory.mktemp("cs0"))
    for kind, nimsets in (("crj", 1), ("flt", 2)):
        assert_calstis_products(
            root / f"science/{OBS}_{kind}.fits", out / f"{OBS}_{kind}.fits", nimsets
        )
    # and the _sx1 is calstis' x1d of the _crj, in the science's own pixels
    want = fits.getdata(out / f"{OBS}_sx1.fits", 1)
    got = fits.getdata(root / f"science/{OBS}_sx1.fits", 1)[0]
    for col in want.columns.names:
        a, b = np.asarray(got[col]), np.asarray(want[0][col])
        if a.dtype.kind == "f":
            np.testing.assert_array_max_ulp(a, b, maxulp=8)
        else:
            np.testing.assert_array_equal(a, b)


def test_sx1_is_the_x1d_extraction_of_the_crj(root):
    """The archive _sx1 is calstis' x1d of its _crj along its own EXTRLOCY (stisdarks.x1d).

    EXTRLOCY is calstis' trace rounded to float32, hence a few float32 ulps, not 0.
    """
    from stisdarks.x1d import extract_columns, qfactor, y_box_from_extrlocy

    with (
        fits.open(root / f"science/{OBS}_crj.fits") as crj,
        fits.open(root / f"science/{OBS}_sx1.fits") as sx1,
    ):
        row = sx1[1].data[0]
        names = sx1[1].columns.names
        for col in ("SPORDER", "NELEM", "WAVELENGTH", "GROSS", "BACKGROUND", "NET", "FLUX", "ERROR",
                    "NET_ERROR", "DQ", "A2CENTER", "EXTRSIZE", "BK1SIZE", "BK2SIZE", "BK1OFFST",
                    "BK2OFFST", "EXTRLOCY", "OFFSET"):  # fmt: skip
            assert col in names, col
        h, primary = crj["SCI"].header, crj[0].header
        ltv, ltm = (h["LTV1"], h["LTV2"]), (h["LTM1_1"], h["LTM2_2"])
        ext = extract_columns(
            crj["SCI"].data, crj["ERR"].data, crj["DQ"].data,
            y_box=y_box_from_extrlocy(row["EXTRLOCY"], ltv, ltm), extrsize=row["EXTRSIZE"],
            bk1size=row["BK1SIZE"], bk2size=row["BK2SIZE"], bk1offst=row["BK1OFFST"],
            bk2offst=row["BK2OFFST"], exptime=h["EXPTIME"], ltv=ltv, ltm=ltm,
        )  # fmt: skip
    assert row["NELEM"] == 1024 and len(row["WAVELENGTH"]) == 1024
    for col in ("NET", "GROSS", "BACKGROUND"):
        np.testing.assert_array_max_ulp(row[col], ext[col], maxulp=8)
    np.testing.assert_array_equal(row["DQ"], ext["DQ"])
    # NET_ERROR = pre-Q error * Q, Q > 1 below 3425 A only
    q = qfactor(row["WAVELENGTH"], row["EXTRSIZE"], row["GROSS"], exptime=h["EXPTIME"],
                meandark=h["MEANDARK"], readnse=primary["READNSE"], atodgain=primary["ATODGAIN"],
                ncombine=h["NCOMBINE"])  # fmt: skip
    assert q.max() > 1.0 and np.all(q[row["WAVELENGTH"] > 3425] == 1.0)
    np.testing.assert_array_max_ulp(row["NET_ERROR"], ext["NET_ERROR"] * q, maxulp=8)
    assert np.all(np.diff(row["WAVELENGTH"]) > 0) and np.median(row["NET"]) > 1
    sens = row["FLUX"] / row["NET"]
    assert np.all(np.isfinite(sens)) and np.all(sens > 0)
    assert abs(row["EXTRLOCY"][512] - (SIZE / 2 + 1)) < 2  # the trace is near the middle


def test_the_halves_written_apart_are_the_halves_written_together(tmp_path):
    """The workflow writes the science and the darks half in two jobs at once: each draws its
    own random numbers, so the files are the bytes one call writes."""
    kw = dict(
        size=64, n_darks=4, seed=11, second_period_darks=2, second_period_obs_ids=("odsec1010",)
    )
    together = generate_archive(tmp_path / "together", **kw)
    apart = tmp_path / "apart"
    generate_archive(apart, parts=("darks",), **kw)
    assert sorted(p.name for p in apart.iterdir()) == ["darks"]
    generate_archive(apart, parts=("science",), **kw)
    files = sorted(p.relative_to(together) for p in together.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(apart) for p in apart.rglob("*") if p.is_file())
    assert {"science/index.csv", "darks/index.csv"} <= {f.as_posix() for f in files}
    for f in files:
        assert (together / f).read_bytes() == (apart / f).read_bytes(), f


def test_an_archive_of_the_former_layout_is_regenerated_whole(tmp_path):
    """An archive generated before the halves has one index.csv at its root, which read_index
    would prefer: the generator removes it when it writes the halves."""
    from stisdarks.archive.local import read_index

    root = tmp_path / "a"
    root.mkdir()
    (root / "index.csv").write_text("obs_id,kind\nodark000q,flt\n")
    generate_archive(root, size=64, n_darks=2, seed=4)
    assert not (root / "index.csv").exists()
    assert sum(r["kind"] == "flt" and r["target"] == "DARK" for r in read_index(root)) > 2
