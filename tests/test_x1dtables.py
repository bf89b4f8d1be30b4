"""Synthetic X1DCORR reference tables and the NumPy twin of calstis6 (``stisdarks.x1dtables``).

The hstcal tests run the real ``cs6.e`` (and ``cs0.e``) on a synthetic ``_crj`` with the tables
and compare every ``_sx1`` column with :func:`extract_like_x1d`.  Tolerance: 1 float32 ulp for
the float columns, exact for DQ and the scalar columns, 1e-12 relative for WAVELENGTH (float64).
Measured with hstcal 3.5.0: all columns identical (0 ulp), full frame and subarray, background
smoothing on and off, BACKORD 0 and 1.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from stisdarks.x1dtables import (
    SX1_COLUMNS,
    X1DSetup,
    extract_like_x1d,
    read_x1d_setup,
    throughput_curve,
    write_x1d_tables,
    x1d_header_cards,
    x1d_sci_cards,
)

# columns hstcal 3.5.0 requires (pkg/stis/lib/cs6/get*.c) and the row-selection keys
REQUIRED = {
    "XTRACTAB": ("APERTURE OPT_ELEM CENWAVE SPORDER EXTRSIZE BK1SIZE BK2SIZE BK1OFFST BK2OFFST "
                 "BKTCOEFF NCOEFFBK SLTCOEFF NCOEFFSL BACKORD XTRACALG MAXSRCH"),
    "SPTRCTAB": "OPT_ELEM CENWAVE SPORDER A1CENTER A2CENTER NELEM A2DISPL",
    "SDCTAB": "OPT_ELEM CENWAVE SPORDER A2CENTER CDELT2 NPIX2",
    "APDESTAB": "APERTURE OFFSET1 OFFSET2 WIDTH1 WIDTH2",
    "DISPTAB": "OPT_ELEM CENWAVE A2CENTER NCOEFF COEFF REF_APER",
    "INANGTAB": "OPT_ELEM CENWAVE SPORDER NCOEFF1 COEFF1 NCOEFF2 COEFF2",
    "PHOTTAB": "OPT_ELEM CENWAVE SPORDER NELEM WAVELENGTH THROUGHPUT ERROR",
    "APERTAB": "APERTURE NELEM WAVELENGTH THROUGHPUT",
}  # fmt: skip
SELECT = {
    "XTRACTAB": ("APERTURE", "OPT_ELEM", "CENWAVE"),
    "SPTRCTAB": ("OPT_ELEM", "CENWAVE", "SPORDER"),
    "SDCTAB": ("OPT_ELEM", "CENWAVE"),
    "APDESTAB": ("APERTURE",),
    "DISPTAB": ("OPT_ELEM", "CENWAVE"),
    "INANGTAB": ("OPT_ELEM", "CENWAVE", "SPORDER"),
    "PHOTTAB": ("OPT_ELEM", "CENWAVE", "SPORDER"),
    "APERTAB": ("APERTURE",),
}
KEYS = {"OPT_ELEM": "G430L", "CENWAVE": 4300, "APERTURE": "52X2", "SPORDER": 1}


def _path(oref: Path, ref: str) -> Path:
    return oref / ref.split("$", 1)[1]


def test_tables_have_the_columns_and_rows_hstcal_reads(tmp_path):
    tabs = write_x1d_tables(tmp_path, trace_row=300.0, trace_slope=0.002)
    assert set(tabs) == set(REQUIRED)
    for key, cols in REQUIRED.items():
        assert tabs[key].startswith("oref$")
        with fits.open(_path(tmp_path, tabs[key])) as hdul:
            assert not hdul[0].header["PEDIGREE"].startswith("DUMMY")
            data = hdul[1].data
            assert set(cols.split()) <= set(data.columns.names), key
            sel = np.ones(len(data), bool)
            for col in SELECT[key]:
                sel &= data[col] == KEYS[col]
            assert sel.sum() == 1, key
            row = data[sel][0]
            assert not str(row["PEDIGREE"]).startswith("DUMMY")
    x = fits.getdata(_path(tmp_path, tabs["XTRACTAB"]), 1)[0]
    assert (x["EXTRSIZE"], x["BK1SIZE"], x["BK2SIZE"]) == (7.0, 5.0, 5.0)
    assert (x["BK1OFFST"], x["BK2OFFST"], x["MAXSRCH"]) == (-20.0, 20.0, 0)
    assert x["XTRACALG"] == "UNWEIGHTED"
    t = fits.getdata(_path(tmp_path, tabs["SPTRCTAB"]), 1)[0]
    assert t["A2CENTER"] == 301.0  # 1-indexed
    assert "MJD" not in fits.getdata(_path(tmp_path, tabs["SPTRCTAB"]), 1).columns.names
    displ = t["A2DISPL"]
    assert displ[511] == 0.0 and displ[1023] == pytest.approx(0.002 * 512)
    d = fits.getdata(_path(tmp_path, tabs["DISPTAB"]), 1)[0]
    c0, c1 = d["COEFF"][: d["NCOEFF"]]
    assert (1 - c0) / c1 == pytest.approx(2900.0) and (1024 - c0) / c1 == pytest.approx(5700.0)
    assert d["REF_APER"] == "52X2"
    a = fits.getdata(_path(tmp_path, tabs["APDESTAB"]), 1)[0]
    assert (a["OFFSET1"], a["OFFSET2"]) == (0.0, 0.0)


def test_subarray_trace_is_in_detector_coordinates(tmp_path):
    tabs = write_x1d_tables(tmp_path, trace_row=50.0, ltv2=-450.0)
    assert fits.getdata(_path(tmp_path, tabs["SPTRCTAB"]), 1)[0]["A2CENTER"] == 501.0
    assert read_x1d_setup(tmp_path, tabs).a2center == 500.0


def test_header_cards():
    cards = x1d_header_cards({"XTRACTAB": "oref$a_1dx.fits"})
    assert cards["X1DCORR"][0] == "PERFORM"
    assert cards["XTRACTAB"][0] == "oref$a_1dx.fits"
    for key in ("CTECORR", "HELCORR", "WAVECORR", "X2DCORR", "SC2DCORR", "SGEOCORR"):
        assert cards[key][0] == "OMIT" and cards[key][1]  # with the reason
    for key in ("PCTAB", "GACTAB", "TDSTAB"):
        assert cards[key][0] == "N/A"
    assert x1d_header_cards(dispcorr=False)["FLUXCORR"][0] == "OMIT"
    sci = x1d_sci_cards(4300, meandark=1.0, ncombine=2)
    assert {"CD1_1", "CD2_2", "CRPIX1", "CRVAL1", "MEANDARK", "NCOMBINE", "SHIFTA2"} <= set(sci)


def test_extract_like_x1d_by_hand():
    """Constant background 2, trace at row 20.25: box [16.75, 23.75] -> rows 17 (0.75) .. 24 (0.25)."""
    ny, nx, t = 40, 32, 100.0
    sci = np.full((ny, nx), 2.0, np.float32)
    sci[18:24] += 10.0  # full rows 18..23
    sci[17] += 4.0  # 0.75 of it counted
    sci[24] += 8.0  # 0.25 of it counted
    err = np.full((ny, nx), 0.5, np.float32)
    dq = np.zeros((ny, nx), np.int16)
    dq[24, 3] = 16  # partial pixel inside the box: flag propagates (no DQ rejection)
    dq[16, 4] = 16  # outside the box: ignored
    dq[20, 5] = 256  # saturated pixel inside the box: summed, flagged
    setup = X1DSetup(a2center=20.25, bk1offst=-10.0, bk2offst=10.0, nelem=nx)
    r = extract_like_x1d(sci, err, dq, setup=setup, exptime=t, dispcorr=False, fluxcorr=False,
                         bks_mode="off")  # fmt: skip
    gross = (7 * 2.0 + 6 * 10.0 + 0.75 * 4.0 + 0.25 * 8.0) / t
    np.testing.assert_allclose(r["GROSS"], gross, rtol=1e-7)
    np.testing.assert_allclose(r["BACKGROUND"], 7 * 2.0 / t, rtol=1e-7)
    np.testing.assert_allclose(r["NET"], gross - 14.0 / t, rtol=1e-6)
    # error: sqrt(sum(area * err**2) + area * background variance (0 here)) / t
    np.testing.assert_allclose(r["NET_ERROR"], np.sqrt(7 * 0.25) / t, rtol=1e-7)
    assert r["DQ"][3] == 16 and r["DQ"][4] == 0 and r["DQ"][5] == 256
    assert r["DQ"].sum() == 16 + 256
    np.testing.assert_allclose(r["EXTRLOCY"], 21.25)
    assert r["A2CENTER"] == np.float32(21.25) and r["EXTRSIZE"] == 7.0


def test_extract_like_x1d_background_clip_and_flags():
    """calstis' background clipping and DQ rejection, as reproduced.

    The first clipping sigma is the RMS about zero and a sample's largest residual is at most
    sqrt(n - 1) of its RMS, so with two 5-pixel boxes (n = 10) the 3-sigma clip can never reject a
    pixel: a cosmic ray in a background box goes into the mean.  Larger boxes do clip.
    DETECTORPROB (4) in either interpolation column (x and x + 1) or row excludes a pixel.
    """
    ny, nx, t = 80, 40, 10.0
    rng = np.random.default_rng(3)
    sci = (3.0 + rng.normal(0, 0.1, (ny, nx))).astype(np.float32)
    err = np.ones((ny, nx), np.float32)
    dq = np.zeros((ny, nx), np.int16)
    hit = sci.copy()
    hit[45, 7] = 500.0  # in the upper background box of column 7
    kw = {"exptime": t, "dispcorr": False, "bks_mode": "off"}
    small = X1DSetup(a2center=30.0, bk1offst=-15.0, bk2offst=15.0, nelem=nx)
    r = extract_like_x1d(hit, err, dq, setup=small, **kw)
    box = np.r_[hit[13:18, 7], hit[43:48, 7]].astype(np.float64)
    np.testing.assert_allclose(r["BACKGROUND"][7], box.mean() * 7 / t, rtol=1e-6)  # not clipped
    big = X1DSetup(
        a2center=30.0, bk1offst=-20.0, bk2offst=20.0, bk1size=15.0, bk2size=15.0, nelem=nx
    )
    clean = extract_like_x1d(sci, err, dq, setup=big, **kw)
    r = extract_like_x1d(hit, err, dq, setup=big, **kw)
    box = np.r_[sci[3:18, 7], sci[43:58, 7]].astype(np.float64)
    box = np.delete(box, 15 + 2)  # row 45 is the 3rd row of the upper box: clipped
    np.testing.assert_allclose(r["BACKGROUND"][7], box.mean() * 7 / t, rtol=1e-6)
    assert abs(r["BACKGROUND"][7] - clean["BACKGROUND"][7]) < 0.01
    bad = dq.copy()
    bad[13:17, 9] = 4  # lower box rows 13..17: points 13, 14, 16 (via row +1) and 15 excluded
    r = extract_like_x1d(sci, err, bad, setup=small, **kw)
    assert r["DQ"][9] & 2048 and r["DQ"][8] & 2048 and not r["DQ"][7] & 2048  # 4/10 > 1/3
    kept = np.r_[sci[17, 9], sci[43:48, 9]].astype(np.float64)
    np.testing.assert_allclose(r["BACKGROUND"][9], kept.mean() * 7 / t, rtol=1e-6)


def test_flux_uses_the_throughput_curve():
    ny, nx, t = 40, 1024, 1000.0
    sci = np.zeros((ny, nx), np.float32)
    sci[17:24] = 100.0
    setup_tabs = X1DSetup(
        a2center=20.0, bk1offst=-12.0, bk2offst=12.0, disp_coeff=(1.0 - 1023 / 2800 * 2900, 1023 / 2800),
        phot_wave=np.arange(1500.0, 11001.0, 10.0), phot_thru=throughput_curve(np.arange(1500.0, 11001.0, 10.0)),
    )  # fmt: skip
    r = extract_like_x1d(sci, np.ones_like(sci), np.zeros(sci.shape, np.int16), setup=setup_tabs,
                         exptime=t, bks_mode="off")  # fmt: skip
    wave = r["WAVELENGTH"]
    assert wave[0] == pytest.approx(2900.0) and wave[-1] == pytest.approx(5700.0)
    inv = (
        6.6260755e-27
        * 2.9979245800e10
        / 45238.93416
        / (throughput_curve(wave) * wave * 2800 / 1023 * 1e-8)
    )
    np.testing.assert_allclose(r["FLUX"][1:-1], (r["NET"] * inv)[1:-1], rtol=1e-5)


# --------------------------------------------------------------------------- real hstcal

needs_cs6 = pytest.mark.skipif(shutil.which("cs6.e") is None, reason="hstcal cs6.e not on PATH")


def _crj(path: Path, oref: Path, *, ny: int, ltv2: float, backord: int, seed: int = 1):
    """A synthetic calibrated CR-SPLIT spectrum image set (``_crj``) and the tables for it."""
    rng = np.random.default_rng(seed)
    nx, exptime = 1024, 1800.0
    trace_row = 300.3 if ny == 1024 else ny / 2 + 0.3
    off = 300.0 if ny == 1024 else 30.0
    tabs = write_x1d_tables(oref, trace_row=trace_row, trace_slope=0.003, ltv2=ltv2, bk_offset=off,
                            backord=backord)  # fmt: skip
    setup = read_x1d_setup(oref, tabs)
    rows = np.arange(ny)[:, None]
    x = np.arange(nx)
    yc = trace_row + 0.003 * (x - 511)
    src = (
        50 * (1 + 0.5 * np.sin(x / 100.0)) * np.exp(-0.5 * ((rows - yc) / 1.1) ** 2)
        + 2.0
        + 0.001 * rows
    )
    sci = (src + rng.normal(0, 2, (ny, nx))).astype(np.float32)
    sci[rng.integers(0, ny, 300), rng.integers(0, nx, 300)] += 400.0  # unrejected cosmic rays
    err = np.sqrt(np.abs(src) + 4).astype(np.float32)
    dq = np.zeros((ny, nx), np.int16)
    dq[rng.integers(0, ny, 3000), rng.integers(0, nx, 3000)] = 16
    dq[rng.integers(0, ny, 2000), rng.integers(0, nx, 2000)] |= 4
    dq[rng.integers(0, ny, 500), rng.integers(0, nx, 500)] |= 8192
    primary = fits.Header()
    for k, v in dict(TELESCOP="HST", INSTRUME="STIS", DETECTOR="CCD", OBSTYPE="SPECTROSCOPIC",
                     OBSMODE="ACCUM", OPT_ELEM="G430L", CENWAVE=4300, APERTURE="52X2", PROPAPER="52X2",
                     SCLAMP="NONE", CCDAMP="D", CCDGAIN=1, CCDOFFST=3, ATODGAIN=1.0, READNSE=5.0,
                     BINAXIS1=1, BINAXIS2=1, RA_TARG=150.0, DEC_TARG=2.2, ROOTNAME="osyn01010",
                     TEXPTIME=exptime, CRSPLIT=2, NEXTEND=3, SUBARRAY=ny != 1024).items():  # fmt: skip
        primary[k] = v
    primary.update(x1d_header_cards(tabs))
    sci_hdr = fits.Header()
    for k, v in dict(EXPTIME=exptime, EXPSTART=58000.0, EXPEND=58000.03, LTV1=0.0, LTV2=ltv2,
                     LTM1_1=1.0, LTM2_2=1.0, SDQFLAGS=31743, BUNIT="COUNTS", OCCDHTAV=18.0).items():  # fmt: skip
        sci_hdr[k] = v
    sci_hdr.update(x1d_sci_cards(setup, meandark=1.5, ncombine=2))
    hdus = [fits.PrimaryHDU(header=primary)]
    for name, arr in (("SCI", sci), ("ERR", err), ("DQ", dq)):
        hdus.append(fits.ImageHDU(arr, header=sci_hdr.copy(), name=name, ver=1))
    fits.HDUList(hdus).writeto(path, overwrite=True)
    return setup


def _twin(crj: Path, setup: X1DSetup, bks_mode: str) -> dict:
    with fits.open(crj) as h:
        p, s = h[0].header, h[1].header
        return extract_like_x1d(
            h[1].data, h[2].data, h[3].data, setup=setup, exptime=s["EXPTIME"],
            ltv=(s["LTV1"], s["LTV2"]), ltm=(s["LTM1_1"], s["LTM2_2"]), atodgain=p["ATODGAIN"],
            readnse=p["READNSE"], meandark=s["MEANDARK"], ncombine=s["NCOMBINE"], bks_mode=bks_mode,
        )  # fmt: skip


def _compare(sx1: Path, expected: dict) -> None:
    with fits.open(sx1) as h:
        table = h[1].data
        assert tuple(table.columns.names) == SX1_COLUMNS  # the real _sx1 layout
        assert len(table) == 1
        row = table[0]
    for col in SX1_COLUMNS:
        got, want = np.asarray(row[col]), np.asarray(expected[col])
        if col == "WAVELENGTH":
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=0, err_msg=col)
        elif got.dtype.kind == "f":
            np.testing.assert_array_max_ulp(
                got.astype(np.float32), want.astype(np.float32), maxulp=1
            )
        else:
            np.testing.assert_array_equal(got, want, err_msg=col)


@needs_cs6
@pytest.mark.parametrize(
    ("ny", "ltv2", "backord", "bks"),
    [
        (1024, 0.0, 0, "median"),
        (1024, 0.0, 1, "off"),
        (100, -450.0, 0, "median"),
        (100, -450.0, 1, "median"),
    ],
)
def test_cs6_matches_extract_like_x1d(tmp_path, monkeypatch, ny, ltv2, backord, bks):
    oref = tmp_path / "oref"
    crj = tmp_path / "osyn01010_crj.fits"
    setup = _crj(crj, oref, ny=ny, ltv2=ltv2, backord=backord)
    monkeypatch.setenv("oref", f"{oref}/")
    sx1 = tmp_path / "osyn01010_sx1.fits"
    # explicit switches: cs6.e's standalone default would also PERFORM HELCORR and CTECORR
    args = ["cs6.e", str(crj), str(sx1), "-back", "-disp", "-flux"] + (
        ["-bn"] if bks == "off" else []
    )
    run = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, env=os.environ.copy())
    assert run.returncode == 0 and sx1.exists(), run.stdout[-3000:]
    expected = _twin(crj, setup, bks)
    _compare(sx1, expected)
    assert np.any(expected["DQ"] & 16) and np.any(expected["DQ"] & 8192)  # DQ ORed, not rejected
    assert expected["FLUX"].max() > 0 and np.all(np.isfinite(expected["ERROR"]))


@pytest.mark.skipif(shutil.which("cs0.e") is None, reason="hstcal cs0.e not on PATH")
def test_cs0_runs_x1dcorr_from_the_header_switches(tmp_path, monkeypatch):
    """cs0.e reads the switches of x1d_header_cards (2-D steps OMIT: the input is calibrated)."""
    oref = tmp_path / "oref"
    raw = tmp_path / "osyn01010_raw.fits"
    setup = _crj(raw, oref, ny=100, ltv2=-450.0, backord=0)
    ccd = fits.BinTableHDU.from_columns([
        fits.Column("CCDAMP", "1A", array=["D"]), fits.Column("CCDGAIN", "J", array=[1]),
        fits.Column("CCDOFFST", "J", array=[3]), fits.Column("BINAXIS1", "J", array=[1]),
        fits.Column("BINAXIS2", "J", array=[1]), fits.Column("ATODGAIN", "E", array=[1.0]),
        fits.Column("READNSE", "E", array=[5.0]), fits.Column("CCDBIAS", "E", array=[1500.0]),
        fits.Column("SATURATE", "E", array=[144000.0]),
    ])  # fmt: skip
    fits.HDUList([fits.PrimaryHDU(), ccd]).writeto(oref / "syn_ccd.fits")  # cs0 requires CCDTAB
    with fits.open(raw, mode="update") as h:
        for key in ("DQICORR", "ATODCORR", "BLEVCORR", "BIASCORR", "CRCORR", "RPTCORR", "EXPSCORR",
                    "DARKCORR", "FLATCORR", "SHADCORR", "PHOTCORR", "DOPPCORR", "GLINCORR",
                    "LFLGCORR", "LORSCORR"):  # fmt: skip
            h[0].header[key] = "OMIT"
        h[0].header["CCDTAB"] = "oref$syn_ccd.fits"
        h[0].header["FILENAME"] = raw.name
    monkeypatch.setenv("oref", f"{oref}/")
    run = subprocess.run(["cs0.e", raw.name], cwd=tmp_path, capture_output=True, text=True)
    x1d = tmp_path / "osyn01010_x1d.fits"
    assert run.returncode == 0 and x1d.exists(), run.stdout[-3000:]
    _compare(x1d, _twin(raw, setup, "median"))
    hdr = fits.getheader(x1d)
    assert (hdr["X1DCORR"], hdr["BACKCORR"], hdr["DISPCORR"], hdr["FLUXCORR"]) == ("COMPLETE",) * 4
    assert hdr["CTECORR"] == "OMIT" and hdr["HELCORR"] == "OMIT"
