"""calstis x1d from the box per column (``stisdarks.x1d``) and the re-extraction of a pipeline _sx1.

Tolerances (measured with hstcal 3.5.0 on the synthetic archive, size 128, seed 5):

* with calstis' own trace (``y_box`` from the archive's SPTRCTAB): the re-extraction of the
  unmodified pipeline ``_crj`` is the pipeline ``_sx1`` bit for bit, and ``cs6.e`` on a modified
  ``_crj`` agrees to 0 ulp in every column except ``FLUX``, 1 ulp in ~2 % of the columns (where
  two adjacent float32 conversion factors both reproduce the pipeline row, see
  ``recover_conversion``);
* along the ``_sx1``'s ``EXTRLOCY`` (the default, all real data can offer): ``EXTRLOCY`` is
  calstis' double trace rounded to float32 (a constant 3e-6 pixel here: the synthetic slope is
  dyadic, so every column rounds the same way and no smooth refit can undo it), which moves
  the fractional box edges and the bilinear background interpolation: GROSS, BACKGROUND, NET,
  FLUX, ERROR and NET_ERROR agree to <= 7 float32 ulp (relative 6e-7, 1e-3 sigma); DQ, the
  wavelengths and the scalar columns are exact.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from stisdarks.errors import InputFileError
from stisdarks.synthetic import generate_archive
from stisdarks.x1d import (
    SX1_COLUMNS,
    extract_columns,
    extrlocy_from_y_box,
    qfactor,
    read_xtractab_row,
    recover_conversion,
    reextract_sx1,
    y_box_from_extrlocy,
)
from stisdarks.x1dtables import read_x1d_setup

OBS = "odemo1010"
FLOAT_COLUMNS = ("GROSS", "BACKGROUND", "NET", "FLUX", "ERROR", "NET_ERROR")
EXTRLOCY_ULP = 8  # float32 EXTRLOCY -> a few ulps (see the module docstring)


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return generate_archive(tmp_path_factory.mktemp("x1d") / "a", size=128, n_darks=2, seed=5)


@pytest.fixture(scope="module")
def exact_y_box(root) -> np.ndarray:
    """calstis' double-precision trace: the archive's SPTRCTAB (no offsets in the synthetic set)."""
    primary = fits.getheader(root / f"science/{OBS}_sx1.fits")
    tabs = {k: primary[k] for k in ("XTRACTAB", "SPTRCTAB", "DISPTAB", "PHOTTAB", "APERTAB")}
    setup = read_x1d_setup(root / "oref", tabs)
    return setup.a2center + setup._a2displ


def _xtractab(root: Path) -> Path:
    return (
        root / "oref" / fits.getheader(root / f"science/{OBS}_sx1.fits")["XTRACTAB"].split("$")[1]
    )


def _ulps(a, b) -> int:
    a = np.asarray(a, np.float32).view(np.int32).astype(np.int64)
    b = np.asarray(b, np.float32).view(np.int32).astype(np.int64)
    return int(np.max(np.abs(a - b)))


def _compare(got: Path, want: Path, maxulp: int, flux_ulp: int | None = None) -> dict[str, int]:
    """Every column of the two _sx1 rows: float columns to ``maxulp``, the others exactly."""
    ulps = {}
    with fits.open(got) as g, fits.open(want) as w:
        assert g[1].columns.names == w[1].columns.names
        rg, rw = g[1].data[0], w[1].data[0]
        for col in SX1_COLUMNS:
            a, b = np.asarray(rg[col]), np.asarray(rw[col])
            if col in FLOAT_COLUMNS:
                ulps[col] = _ulps(a, b)
                limit = flux_ulp if (col == "FLUX" and flux_ulp is not None) else maxulp
                assert ulps[col] <= limit, (col, ulps[col])
            else:
                np.testing.assert_array_equal(a, b, err_msg=col)
    return ulps


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _modified_crj(root: Path, dest: Path, hot: dict[int, float], cr_cols=(300, 301)) -> Path:
    """The pipeline _crj with hot pixels on the trace row and cosmic rays in the upper background box."""
    row = fits.getdata(root / f"science/{OBS}_sx1.fits", 1)[0]
    trace = np.rint(np.asarray(row["EXTRLOCY"], float) - 1.0).astype(int)  # 0-indexed image rows
    off = int(round(float(row["BK2OFFST"])))
    with fits.open(root / f"science/{OBS}_crj.fits") as h:
        out = fits.HDUList([x.copy() for x in h])
    for col, value in hot.items():
        out["SCI", 1].data[trace[col], col] += np.float32(value)
        out["DQ", 1].data[trace[col], col] |= 16
    for k, col in enumerate(cr_cols):
        out["SCI", 1].data[trace[col] + off + k, col] += np.float32(3000.0)
    out[0].header["FILENAME"] = dest.name
    out.writeto(dest, overwrite=True)
    return dest


# --------------------------------------------------------------------------- without hstcal


def test_reextraction_of_the_pipeline_crj_is_the_pipeline_sx1(root, exact_y_box, tmp_path):
    sx1, crj = root / f"science/{OBS}_sx1.fits", root / f"science/{OBS}_crj.fits"
    before = {p: _sha(p) for p in (sx1, crj, _xtractab(root))}
    exact = reextract_sx1(sx1, crj, tmp_path / "exact_sx1.fits", new_darkfile="oref$new_drk.fits",
                          xtractab=_xtractab(root), y_box=exact_y_box)  # fmt: skip
    ulps = _compare(exact, sx1, maxulp=0)  # what calstis made, bit for bit
    assert set(ulps.values()) == {0}
    default = reextract_sx1(sx1, crj, tmp_path / "o_sx1.fits", new_darkfile="oref$new_drk.fits",
                            xtractab=_xtractab(root))  # fmt: skip
    _compare(default, sx1, maxulp=EXTRLOCY_ULP)
    assert {p: _sha(p) for p in before} == before  # inputs untouched
    # layout: same HDUs, columns, formats, units and table header; primary changed as documented
    with fits.open(default) as new, fits.open(sx1) as old:
        assert [h.name for h in new] == [h.name for h in old]
        for attr in ("names", "formats", "units", "dims"):
            assert getattr(new[1].columns, attr) == getattr(old[1].columns, attr), attr
        assert new[1].header == old[1].header
        assert new[1].data.dtype == old[1].data.dtype
        p_new, p_old = new[0].header, old[0].header
        assert p_new["DARKFILE"] == "oref$new_drk.fits"
        assert p_new["FILENAME"] == "o_sx1.fits"
        assert "re-extracted" in str(p_new["HISTORY"])
        for key in p_old:
            if key not in ("DARKFILE", "FILENAME", "HISTORY", "COMMENT", ""):
                assert p_new[key] == p_old[key], key
    assert not list(tmp_path.glob(".tmp-*"))  # atomic write leaves nothing behind


def test_a_hot_pixel_in_the_box_raises_net_by_its_area_weighted_value(root, tmp_path):
    sx1, crj = root / f"science/{OBS}_sx1.fits", root / f"science/{OBS}_crj.fits"
    row = fits.getdata(sx1, 1)[0]
    t = fits.getheader(crj, 1)["EXPTIME"]
    y = np.asarray(row["EXTRLOCY"], float) - 1.0  # 0-indexed image rows
    half = float(row["EXTRSIZE"]) / 2.0
    col_full, col_edge = 200, 600
    j_edge = int(np.floor(y[col_edge] - half + 0.5))  # lowest row of the box, partly inside
    area = (j_edge + 0.5) - (y[col_edge] - half)
    assert 0.0 < area < 1.0
    hot = 400.0
    with fits.open(crj) as h:
        out = fits.HDUList([x.copy() for x in h])
    out["SCI", 1].data[int(np.rint(y[col_full])), col_full] += np.float32(hot)
    out["SCI", 1].data[j_edge, col_edge] += np.float32(hot)
    out["DQ", 1].data[j_edge, col_edge] |= 16
    new_crj = out.writeto(tmp_path / "hot_crj.fits") or tmp_path / "hot_crj.fits"
    base = reextract_sx1(sx1, crj, tmp_path / "base_sx1.fits", new_darkfile="d")
    new = reextract_sx1(sx1, new_crj, tmp_path / "hot_sx1.fits", new_darkfile="d")
    rb, rn = fits.getdata(base, 1)[0], fits.getdata(new, 1)[0]
    d_net = (rn["NET"].astype(float) - rb["NET"]) * t
    assert d_net[col_full] == pytest.approx(hot, rel=1e-5)
    assert d_net[col_edge] == pytest.approx(hot * area, rel=1e-5)
    changed = np.nonzero(np.abs(d_net) > 1e-3)[0]
    assert set(changed) == {col_full, col_edge}  # the background boxes did not see them
    np.testing.assert_array_equal(rn["BACKGROUND"], rb["BACKGROUND"])
    assert rn["DQ"][col_edge] & 16 and not rb["DQ"][col_edge] & 16
    # flux: the same per-column factor as the pipeline
    ratio_new = rn["FLUX"][col_full] / rn["NET"][col_full]
    assert ratio_new == pytest.approx(row["FLUX"][col_full] / row["NET"][col_full], rel=1e-6)


def test_reextraction_needs_matching_geometry_and_xtractab_row(root, tmp_path):
    sx1, crj = root / f"science/{OBS}_sx1.fits", root / f"science/{OBS}_crj.fits"
    with fits.open(crj) as h:
        out = fits.HDUList([x.copy() for x in h])
    for ext in ("SCI", "ERR", "DQ"):
        out[ext, 1].data = out[ext, 1].data[:, :512]
    out.writeto(tmp_path / "narrow_crj.fits")
    with pytest.raises(InputFileError, match="columns"):
        reextract_sx1(sx1, tmp_path / "narrow_crj.fits", tmp_path / "x_sx1.fits", new_darkfile="d")
    with pytest.raises(InputFileError, match="no row"):
        read_xtractab_row(_xtractab(root), aperture="52X2", opt_elem="G750L", cenwave=7751)
    assert not (tmp_path / "x_sx1.fits").exists()


def test_xtractab_row_selection(tmp_path):
    rows = [("ANY", "G430L", 4300, 1, 0), ("52X2E1", "G430L", 4300, 1, 1), ("52X2", "G430L", -1, 2, 1),
            ("52X2", "G430L", 4300, 1, 1)]  # fmt: skip
    cols = [
        fits.Column("APERTURE", "16A", array=[r[0] for r in rows]),
        fits.Column("OPT_ELEM", "8A", array=[r[1] for r in rows]),
        fits.Column("CENWAVE", "J", array=[r[2] for r in rows]),
        fits.Column("SPORDER", "I", array=[r[3] for r in rows]),
        fits.Column("BACKORD", "I", array=[r[4] for r in rows]),
        *(fits.Column(n, "E", array=[7.0, 11.0, 7.0, 7.0]) for n in ("EXTRSIZE",)),
        *(fits.Column(n, "E", array=[5.0] * 4) for n in ("BK1SIZE", "BK2SIZE")),
        fits.Column("BK1OFFST", "E", array=[-300.0] * 4),
        fits.Column("BK2OFFST", "E", array=[300.0] * 4),
        fits.Column("BKTCOEFF", "2D", array=[[0.0, 0.0], [0.5, 0.001], [0.0, 0.0], [0.0, 0.0]]),
        fits.Column("NCOEFFBK", "J", array=[1, 2, 1, 1]),
        fits.Column("XTRACALG", "12A", array=["UNWEIGHTED"] * 4),
        fits.Column("MAXSRCH", "I", array=[0] * 4),
    ]
    path = tmp_path / "x_1dx.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(cols)]).writeto(path)
    any_row = read_xtractab_row(path, aperture="52X2", opt_elem="G430L", cenwave=4300)
    assert any_row.aperture == "ANY" and any_row.backord == 0  # first match wins, ANY matches
    e1 = read_xtractab_row(path, aperture="52X2E1", opt_elem="G430L", cenwave=4300)
    assert e1.aperture == "ANY"  # still the first matching row
    order2 = read_xtractab_row(path, aperture="52X2", opt_elem="G430L", cenwave=4300, sporder=2)
    assert order2.cenwave == -1 and order2.backord == 1
    tilt = read_xtractab_row(path, aperture="52X2E1", opt_elem="G430L", cenwave=4300)
    assert tilt.bktilt(4).tolist() == [0.0] * 4
    row1 = [r for r in fits.getdata(path, 1) if r["APERTURE"] == "52X2E1"][0]
    assert row1["NCOEFFBK"] == 2


def test_recover_conversion_reads_back_calstis_factor():
    rng = np.random.default_rng(4)
    n = 400
    f32 = np.float32
    corr = (1e-15 * (1 + 0.5 * np.sin(np.arange(n) / 50.0))).astype(f32)
    net = rng.normal(3.0, 1.0, n).astype(f32)
    e = rng.uniform(0.05, 0.2, n).astype(f32)
    gross = (net + f32(1.0)).astype(f32)
    wave = np.linspace(2900.0, 5700.0, n)
    q = qfactor(wave, f32(7.0), gross, exptime=1800.0, meandark=5.0, readnse=5.0, atodgain=1.0,
                ncombine=2)  # fmt: skip
    assert q[0] > 1.0 and q[-1] == 1.0
    row = {"NET": net, "FLUX": (net * corr).astype(f32), "NET_ERROR": (e * q).astype(f32),
           "ERROR": (e * (corr * q)).astype(f32)}  # fmt: skip
    row["NET"][10:13] = 0.0  # no flux information ...
    row["FLUX"][10:13] = 0.0
    row["NET_ERROR"][10:13] = 0.0  # ... and no error information: interpolated
    row["ERROR"][10:13] = 0.0
    row["FLUX"][20] = row["ERROR"][20] = 0.0  # calstis flagged the column (throughput <= 0)
    got, exact, interp = recover_conversion(row, q)
    ok = np.ones(n, bool)
    ok[[10, 11, 12, 20]] = False
    assert np.all(exact[ok]) and not exact[20] and np.all(interp[10:13]) and interp.sum() == 3
    assert got[20] == 0.0
    np.testing.assert_allclose(got[10:13], corr[10:13], rtol=1e-4)
    # every recovered factor reproduces the pipeline row; most are calstis' own value
    np.testing.assert_array_equal((row["NET"] * got)[ok], row["FLUX"][ok])
    assert np.mean(got[ok] == corr[ok]) > 0.9
    assert _ulps(got[ok], corr[ok]) <= 1


def test_y_box_from_extrlocy_refits_a_smooth_trace():
    x = np.arange(1024)
    y_true = 300.123456789 + 0.0031234567 * (x - 511) + 2e-7 * (x - 511) ** 2
    ey = extrlocy_from_y_box(y_true, ltv=(0.0, -200.0))
    raw = y_box_from_extrlocy(ey, ltv=(0.0, -200.0), smooth=False)
    fit = y_box_from_extrlocy(ey, ltv=(0.0, -200.0))
    assert np.abs(raw - y_true).max() > 1e-6
    assert np.abs(fit - y_true).max() < 0.1 * np.abs(raw - y_true).max()
    jagged = ey.copy()
    jagged[::7] = np.nextafter(jagged[::7], np.float32(np.inf))
    jagged[3::7] = np.nextafter(jagged[3::7], np.float32(-np.inf))
    np.testing.assert_array_equal(
        y_box_from_extrlocy(jagged, ltv=(0.0, -200.0), max_degree=3),
        y_box_from_extrlocy(jagged, ltv=(0.0, -200.0), smooth=False),
    )


def test_extract_columns_tilted_background_reduces_to_straight():
    rng = np.random.default_rng(2)
    ny, nx = 60, 64
    sci = (5.0 + 0.02 * np.arange(ny)[:, None] + rng.normal(0, 0.1, (ny, nx))).astype(np.float32)
    kw = dict(y_box=np.full(nx, 30.2), extrsize=7.0, bk1size=5.0, bk2size=5.0, bk1offst=-15.0,
              bk2offst=15.0, exptime=10.0, bks_mode="off")  # fmt: skip
    flat = extract_columns(sci, np.ones_like(sci), np.zeros(sci.shape, np.int16), **kw)
    zero = extract_columns(sci, np.ones_like(sci), np.zeros(sci.shape, np.int16), bktilt=0.0, **kw)
    tilted = extract_columns(
        sci, np.ones_like(sci), np.zeros(sci.shape, np.int16), bktilt=2.0, **kw
    )
    for col in ("GROSS", "BACKGROUND", "NET", "NET_ERROR"):
        np.testing.assert_array_equal(flat[col], zero[col])
    # a 2-degree tilt samples the neighbouring columns: same level, different noise
    np.testing.assert_allclose(tilted["BACKGROUND"], flat["BACKGROUND"], rtol=0.05)
    assert not np.array_equal(tilted["BACKGROUND"], flat["BACKGROUND"])


def test_cte_corrected_pipeline_keeps_its_flux_to_net_ratio(root, tmp_path):
    sx1, crj = root / f"science/{OBS}_sx1.fits", root / f"science/{OBS}_crj.fits"
    with fits.open(sx1) as h:
        out = fits.HDUList([x.copy() for x in h])
    out[0].header["CTECORR"] = "COMPLETE"
    row = out[1].data[0]
    row["FLUX"] = row["FLUX"] * np.float32(1.01)  # a (constant, here) CTI correction
    out.writeto(tmp_path / "cte_sx1.fits")
    new = reextract_sx1(tmp_path / "cte_sx1.fits", crj, tmp_path / "new_sx1.fits", new_darkfile="d")
    got = fits.getdata(new, 1)[0]
    np.testing.assert_allclose(got["FLUX"] / got["NET"], row["FLUX"] / row["NET"], rtol=1e-6)
    plain = fits.getdata(sx1, 1)[0]  # ERROR has no CTI factor: unchanged
    assert _ulps(got["ERROR"], plain["ERROR"]) <= EXTRLOCY_ULP


# --------------------------------------------------------------------------- with hstcal


@pytest.mark.skipif(shutil.which("cs6.e") is None, reason="hstcal cs6.e not on PATH")
def test_cs6_on_a_modified_crj_matches_the_reextraction(root, exact_y_box, tmp_path):
    """Hot pixels in the box (DQ 16) and cosmic rays in a background box; cs6.e vs reextract_sx1."""
    new_crj = _modified_crj(root, tmp_path / "new_crj.fits", {100: 500.0, 400: 250.0, 401: 800.0})
    out = tmp_path / "cs6_sx1.fits"
    env = {**os.environ, "oref": f"{root / 'oref'}/"}
    # explicit switches: cs6.e's standalone default would also PERFORM HELCORR and CTECORR
    run = subprocess.run(["cs6.e", new_crj.name, out.name, "-back", "-disp", "-flux"], cwd=tmp_path,
                         env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert run.returncode == 0 and out.exists(), run.stdout[-3000:]
    sx1 = root / f"science/{OBS}_sx1.fits"
    exact = reextract_sx1(sx1, new_crj, tmp_path / "exact_sx1.fits", new_darkfile="d",
                          xtractab=_xtractab(root), y_box=exact_y_box)  # fmt: skip
    _compare(exact, out, maxulp=0, flux_ulp=1)
    mine = reextract_sx1(sx1, new_crj, tmp_path / "mine_sx1.fits", new_darkfile="d",
                         xtractab=_xtractab(root))  # fmt: skip
    _compare(mine, out, maxulp=EXTRLOCY_ULP)
    got, pipe = fits.getdata(out, 1)[0], fits.getdata(sx1, 1)[0]
    assert np.all(got["DQ"][[100, 400, 401]] & 16)
    assert (got["NET"][100] - pipe["NET"][100]) * 1800.0 == pytest.approx(500.0, rel=2e-3)
    # the cosmic rays raised the background of their columns before the median smoothing removed it
    assert abs(got["BACKGROUND"][300] - pipe["BACKGROUND"][300]) * 1800.0 < 5.0


@pytest.mark.skipif(shutil.which("cs6.e") is None, reason="hstcal cs6.e not on PATH")
@pytest.mark.parametrize(("ny", "ltv2", "backord"), [(1024, 0.0, 1), (100, -450.0, 0)])
def test_cs6_reextraction_along_a_smooth_extrlocy(tmp_path, monkeypatch, ny, ltv2, backord):
    """A tilted trace with a non-dyadic slope (0.003): the polynomial refit of EXTRLOCY recovers
    calstis' trace to ~1e-8 pixel and the re-extraction agrees with cs6.e to <= 3 ulp."""
    from test_x1dtables import _crj

    oref = tmp_path / "oref"
    crj = tmp_path / "osyn01010_crj.fits"
    _crj(crj, oref, ny=ny, ltv2=ltv2, backord=backord)
    monkeypatch.setenv("oref", f"{oref}/")

    def cs6(src: Path, dest: Path) -> Path:
        run = subprocess.run(["cs6.e", src.name, dest.name, "-back", "-disp", "-flux"],
                             cwd=tmp_path, capture_output=True, text=True, timeout=300)  # fmt: skip
        assert run.returncode == 0 and dest.exists(), run.stdout[-3000:]
        return dest

    pipeline = cs6(crj, tmp_path / "osyn01010_sx1.fits")
    with fits.open(crj) as h:
        out = fits.HDUList([x.copy() for x in h])
    trace_row = 300.3 if ny == 1024 else ny / 2 + 0.3  # as test_x1dtables._crj
    out["SCI", 1].data[round(trace_row + 0.003 * (55 - 511)), 50:60] += np.float32(300.0)
    out["SCI", 1].data[:, 700] += np.float32(40.0)  # a hot column, box and background
    out.writeto(tmp_path / "new_crj.fits")
    want = cs6(tmp_path / "new_crj.fits", tmp_path / "cs6_sx1.fits")
    xtractab = oref / fits.getheader(crj)["XTRACTAB"].split("$")[1]
    got = reextract_sx1(pipeline, tmp_path / "new_crj.fits", tmp_path / "mine_sx1.fits",
                        new_darkfile="d", xtractab=xtractab)  # fmt: skip
    _compare(got, want, maxulp=3)
    row = fits.getdata(want, 1)[0]
    assert row["NET"][55] > fits.getdata(pipeline, 1)[0]["NET"][55]
