"""The native (numba) CTI correction against stis_cti 1.6.2, bit for bit, and its PCTETAB checks.

The agreement tests call stis_cti's compiled functions (``StisPixCte_FixY``) and its
``YCte``/``AddYCte`` on the same inputs as ours and compare with ``np.array_equal`` (no
tolerance); they are skipped without stis_cti. The rest (PCTETAB refusals, the model's
physics) run on a synthetic PCTETAB written here. The numba kernels compile once (10-15 s
on 2 cores: the whole file then takes ~17-22 s) into ``__pycache__``; later runs load them
(~6 s for the file).
"""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from stisdarks.cti import correct, kernel, trapmodel
from stisdarks.errors import InputFileError

MJD = 58000.25
AMP = "D"


# --------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def stis_cti():
    """stis_cti's extension and driver (skips the test without stis_cti)."""
    pytest.importorskip("stis_cti")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from stis_cti import StisPixCte_FixY, StisPixCteCorr
    return StisPixCte_FixY, StisPixCteCorr


def shipped_pctetabs() -> list[Path]:
    from importlib.util import find_spec

    spec = find_spec("stis_cti")
    if spec is None:
        return []
    return sorted(Path(list(spec.submodule_search_locations)[0], "data").glob("*_pcte.fits"))


@pytest.fixture(scope="module")
def model(stis_cti) -> trapmodel.TrapModel:
    return trapmodel.load_trap_model(shipped_pctetabs()[-1], MJD)


def dark_electrons(rows: int, cols: int, seed: int, *, bg: float = 8.0) -> np.ndarray:
    """A dark (electrons, row 0 at the amplifier): background with read noise, hot pixels
    of hundreds to 1e4 e-, cosmic rays up to 5e4 e-, some negative pixels."""
    rng = np.random.default_rng(seed)
    image = rng.poisson(bg, (rows, cols)) + rng.normal(0.0, 4.5, (rows, cols))
    n = max(4, rows * cols // 300)
    image[rng.integers(0, rows, n), rng.integers(0, cols, n)] += rng.uniform(200, 1e4, n)
    for _ in range(max(2, n // 5)):
        r, c = rng.integers(0, rows), rng.integers(0, max(1, cols - 2))
        image[r, c : c + 3] += rng.uniform(1e3, 5e4, 3)
    image[rng.integers(0, rows, n), rng.integers(0, cols, n)] -= rng.uniform(5, 25, n)
    return image


def tables(model: trapmodel.TrapModel) -> tuple[np.ndarray, ...]:
    return model.levels, model.dpde_l, model.chg_leak_lt, model.chg_open_lt


def cte_frac(model: trapmodel.TrapModel, rows: int, cols: int) -> np.ndarray:
    """The scaling of the first ``cols`` flipped columns of a full-width image."""
    return trapmodel.cte_frac_array(model, (rows, trapmodel.CCD_COLUMNS), AMP)[:, :cols].copy()


# --------------------------------------------------------------------------- trap model


@pytest.mark.parametrize("which", [0, -1], ids=["a01", "a02"])
def test_pctetab_and_level_arrays_match_stis_cti(stis_cti, which):
    pcfy, driver = stis_cti
    path = shipped_pctetabs()[which]
    theirs = driver._PixCteParams(str(path), MJD)
    ours = trapmodel.read_pctetab(path, MJD)
    assert ours.cte_frac == theirs["cte_frac"] and isinstance(ours.cte_frac, float)
    for key in ("sim_nit", "shft_nit", "read_noise", "noise_model", "oversub_thresh", "pcte_ver"):
        assert getattr(ours, key) == theirs[key] and type(getattr(ours, key)) is type(theirs[key])
    for key in ("q_dtde", "dtde_l", "psi_node", "chg_leak", "levels"):
        assert np.array_equal(getattr(ours, key), theirs[key]), key
    for amp in trapmodel.AMPLIFIERS:
        assert np.array_equal(ours.col_scale[amp], theirs["col_scale"][amp])

    leak_kt, open_kt = pcfy.InterpolatePsi(theirs["chg_leak"], theirs["psi_node"])
    our_leak_kt, our_open_kt = trapmodel.interpolate_psi(ours.chg_leak, ours.psi_node)
    assert np.array_equal(our_leak_kt, leak_kt) and np.array_equal(our_open_kt, open_kt)
    for shft_nit in (ours.shft_nit, 3):
        dtde_q = pcfy.InterpolatePhi(theirs["dtde_l"], theirs["q_dtde"], shft_nit)
        our_dtde_q = trapmodel.interpolate_phi(ours.dtde_l, ours.q_dtde, shft_nit)
        assert np.array_equal(our_dtde_q, dtde_q)
        expected = pcfy.FillLevelArrays(leak_kt, open_kt, dtde_q, theirs["levels"])
        got = trapmodel.fill_level_arrays(our_leak_kt, our_open_kt, our_dtde_q, ours.levels)
        assert all(np.array_equal(a, b) for a, b in zip(got, expected, strict=True))
    model = trapmodel.build_trap_model(ours)
    dtde_q = pcfy.InterpolatePhi(theirs["dtde_l"], theirs["q_dtde"], theirs["shft_nit"])
    expected = pcfy.FillLevelArrays(leak_kt, open_kt, dtde_q, theirs["levels"])
    ours_lt = (model.chg_leak_lt, model.chg_open_lt, model.dpde_l)
    for got, want in zip(ours_lt, expected, strict=True):
        assert np.array_equal(got, want)


def test_cte_frac_array_matches_ycte_order(model):
    """``(cte_frac * ones * col_scale) * arange(1, n + 1)[:, None] / 1024``, as YCte."""
    scale = model.col_scale[AMP][:1024][::-1]
    expected = model.cte_frac * np.ones((40, 1024)) * scale
    expected = expected * np.arange(1, 41).reshape((40, 1))
    expected /= 1024.0
    assert np.array_equal(trapmodel.cte_frac_array(model, (40, 1024), AMP), expected)


# --------------------------------------------------------------------------- kernels


@pytest.mark.parametrize("noise_model", [0, 1, 2])
def test_decompose_rn_matches(stis_cti, model, noise_model):
    pcfy, _ = stis_cti
    image = dark_electrons(150, 90, seed=noise_model)
    sig, noise = kernel.decompose_rn(image, float(model.read_noise), noise_model)
    their_sig, their_noise = pcfy.DecomposeRN(image, model.read_noise, noise_model)
    assert np.array_equal(sig, their_sig) and np.array_equal(noise, their_noise)
    assert bool(np.count_nonzero(noise) > image.size // 2) == (noise_model > 0)


@pytest.mark.parametrize(
    "rows, cols, trails, seed",
    [(200, 64, True, 1), (200, 64, False, 2), (12, 1024, True, 3), (5, 3, False, 4)],
    ids=["dark", "redo", "full-width", "tiny"],
)
def test_fix_y_cte_matches(stis_cti, model, rows, cols, trails, seed):
    """Same corrected image and same final cte_frac as the C (which edits its argument).

    Hot pixels and cosmic rays without trails ("redo") make the correction over-subtract
    behind them: the C lowers cte_frac and redoes those columns.
    """
    pcfy, _ = stis_cti
    frac = cte_frac(model, rows, cols)
    image = dark_electrons(rows, cols, seed)
    if trails:  # a dark as read out: trailed by the forward model
        image = kernel.add_y_cte(image, model.shft_nit, frac, *tables(model))
    sig, _ = kernel.decompose_rn(image, float(model.read_noise), model.noise_model)
    their_frac = frac.copy()
    theirs = pcfy.FixYCte(
        sig, model.sim_nit, model.shft_nit, model.oversub_thresh, their_frac, *tables(model)
    )
    ours, our_frac = kernel.fix_y_cte(
        sig, model.sim_nit, model.shft_nit, float(model.oversub_thresh), frac, *tables(model)
    )
    assert np.array_equal(ours, theirs)
    assert np.array_equal(our_frac, their_frac)
    redone = np.any(their_frac != frac, axis=0)
    if not trails and rows > 5:
        assert redone.sum() >= 2, "the case should trigger the over-subtraction redo"
    assert not np.array_equal(ours, sig)


def test_fix_y_cte_matches_on_special_values(stis_cti, model):
    pcfy, _ = stis_cti
    image = dark_electrons(80, 12, seed=5)
    image[40, 2], image[50, 4], image[20, 6], image[60, 8] = np.nan, np.inf, -np.inf, 2e5
    frac = cte_frac(model, 80, 12)
    their_frac = frac.copy()
    theirs = pcfy.FixYCte(image, 7, 4, -30.0, their_frac, *tables(model))
    ours, our_frac = kernel.fix_y_cte(image, 7, 4, -30.0, frac, *tables(model))
    assert np.array_equal(ours, theirs, equal_nan=True)
    assert np.array_equal(our_frac, their_frac, equal_nan=True)


@pytest.mark.parametrize("shft_nit", [4, 1])
def test_add_y_cte_matches(stis_cti, model, shft_nit):
    pcfy, _ = stis_cti
    image = dark_electrons(160, 48, seed=6)
    frac = cte_frac(model, 160, 48)
    theirs = pcfy.AddYCte(image, shft_nit, frac, *tables(model))
    assert np.array_equal(kernel.add_y_cte(image, shft_nit, frac, *tables(model)), theirs)


def test_sim_readout_reference_matches(stis_cti, model):
    """The plain single-pass port is one AddYCte pass (shft_nit = 1), column by column."""
    pcfy, _ = stis_cti
    image = dark_electrons(300, 6, seed=7)
    frac = cte_frac(model, 300, 6)
    theirs = pcfy.AddYCte(image, 1, frac, *tables(model))
    ftrap, filled_at = np.empty(trapmodel.NUM_LEV), np.empty(trapmodel.NUM_LEV, dtype=np.int64)
    for j in range(image.shape[1]):
        read = np.empty(image.shape[0])
        column, column_frac = image[:, j].copy(), frac[:, j].copy()
        kernel.sim_readout(column, read, column_frac, *tables(model), ftrap, filled_at)
        assert np.array_equal(read, theirs[:, j])


# --------------------------------------------------------------------------- image sets


def write_flt(path: Path, sci: list[np.ndarray], *, atodgain: float, pctetab: Path) -> Path:
    """A minimal STIS CCD ``_flt`` as YCte reads it: SCI/ERR/DQ image sets."""
    primary = fits.PrimaryHDU()
    primary.header["ROOTNAME"] = path.name[:9]
    primary.header["INSTRUME"] = "STIS"
    primary.header["DETECTOR"] = "CCD"
    primary.header["CCDAMP"] = AMP
    primary.header["ATODGAIN"] = (atodgain, "analog to digital gain (electrons/DN)")
    primary.header["NEXTEND"] = 3 * len(sci)
    primary.header["TEXPSTRT"] = MJD
    primary.header["PCTETAB"] = str(pctetab)
    hdus = [primary]
    for n, image in enumerate(sci, 1):
        err = np.sqrt(np.abs(image) + 20.0).astype(np.float32)
        hdus.append(fits.ImageHDU(image.astype(np.float32), name="SCI", ver=n))
        hdus.append(fits.ImageHDU(err, name="ERR", ver=n))
        hdus.append(fits.ImageHDU(np.zeros(image.shape, np.int16), name="DQ", ver=n))
    fits.HDUList(hdus).writeto(path)
    return path


@pytest.mark.parametrize("atodgain, nimsets", [(1.0, 1), (4.016, 2)], ids=["gain1", "gain4"])
def test_correct_imset_matches_ycte(stis_cti, model, tmp_path, monkeypatch, atodgain, nimsets):
    """A 64-row full-width _flt through YCte and through correct_imset: the same file."""
    pcfy, driver = stis_cti
    frac = cte_frac(model, 64, 1024)
    sci = [
        kernel.add_y_cte(dark_electrons(64, 1024, seed=10 + n), 4, frac, *tables(model))[::-1, ::-1]
        / atodgain
        for n in range(nimsets)
    ]
    flt = write_flt(tmp_path / "otest0001_flt.fits", sci, atodgain=atodgain, pctetab=model.pctetab)
    calls: list[tuple[str, tuple]] = []
    for name in ("DecomposeRN", "FixYCte"):  # record the C's float64 results
        original = getattr(pcfy, name)

        def spy(*args, _original=original, _name=name):
            result = _original(*args)
            calls.append((_name, result))
            return result

        monkeypatch.setattr(driver.pcfy, name, spy)
    with contextlib.redirect_stdout(io.StringIO()):
        driver.YCte(str(flt), outFits=str(tmp_path / "theirs.fits"))

    with fits.open(flt) as hdul, fits.open(tmp_path / "theirs.fits") as theirs:
        header = hdul[0].header.copy()
        correct.stamp_ctecorr_header(header, correct.ctecorr_keywords(model, atodgain))
        for n in range(nimsets):
            sci_dn, err_dn = hdul[1 + 3 * n].data, hdul[2 + 3 * n].data
            ours, our_err = correct.correct_imset(sci_dn, err_dn, atodgain, AMP, model)
            (_, (_, noise)), (_, cordata) = calls[2 * n : 2 * n + 2]
            assert np.array_equal(ours, ((cordata + noise) / atodgain)[::-1, ::-1])
            for got, ext in ((ours, 1), (our_err, 2)):
                stored = np.empty_like(theirs[ext + 3 * n].data)
                stored[:, :] = got  # cast to the file's float32, as YCte's assignment does
                assert np.array_equal(
                    stored.view(np.uint32), theirs[ext + 3 * n].data.view(np.uint32)
                )
            assert np.array_equal(hdul[3 + 3 * n].data, theirs[3 + 3 * n].data)
        their_header = theirs[0].header
        for key, _, _ in correct.ctecorr_keywords(model, atodgain):
            if key != "HISTORY":
                assert header[key] == their_header[key], key
                assert type(header[key]) is type(their_header[key]), key
                assert header.comments[key] == their_header.comments[key], key
        assert list(header["HISTORY"]) == list(their_header["HISTORY"])
        assert list(header.keys()) == list(their_header.keys())


def test_add_cti_imset_matches_addycte(stis_cti, model, tmp_path):
    _, driver = stis_cti
    image = dark_electrons(48, 1024, seed=20) / 4.016
    flt = write_flt(tmp_path / "otest0002_flt.fits", [image], atodgain=4.016, pctetab=model.pctetab)
    with contextlib.redirect_stdout(io.StringIO()):
        driver.AddYCte(str(flt), str(tmp_path / "theirs.fits"))
    with fits.open(flt) as hdul, fits.open(tmp_path / "theirs.fits") as theirs:
        ours = correct.add_cti_imset(hdul[1].data, 4.016, AMP, model)
        stored = np.empty_like(hdul[1].data)
        stored[:, :] = ours
        assert np.array_equal(stored.view(np.uint32), theirs[1].data.view(np.uint32))
        header = hdul[0].header.copy()
        correct.stamp_ctecorr_header(header, correct.addcte_keywords(model))
        assert list(header.items()) == list(theirs[0].header.items())


# --------------------------------------------------------------------------- without stis_cti


#: a made-up PCTETAB shaped as stis_cti's: its phi nodes, psi nodes and psi at them
PHI_Q = [1, 6, 8, 15, 100, 316, 1000, 3160, 10000, 31600, 99999, 150000]
PSI_NODES = [1, 2, 3, 5, 8, 11, 15, 20, 25, 31, 39, 49, 59, 69, 79, 89, 97]
PSI = np.r_[np.geomspace(0.3, 0.005, 13), np.zeros(4)]


def synthetic_pctetab(path: Path, **changes) -> Path:
    """A PCTETAB shaped as stis_cti's, values made up; ``changes`` break it.

    ``rows={extname: n}`` keeps the first ``n`` rows, ``drop=[extname]`` leaves an extension
    out, ``no_keyword=[key]`` a primary keyword.
    """
    primary = fits.PrimaryHDU()
    settings = dict(NCHGLEAK=1, SIM_NIT=7, SHFT_NIT=4, RN_CLIP=5.6, NSEMODEL=1, SUBTHRSH=-30.0)
    for key, value in {**settings, "PCTE_VER": "9.9"}.items():
        primary.header[key] = value
    amps = [(f"AMP{a}", "E", np.ones(1024)) for a in "ABCD"]
    columns = {
        "DTDE": [("DTDE", "E", 5.86 * np.asarray(PHI_Q, float) ** -0.45), ("Q", "J", PHI_Q)],
        "LEVELS": [("LEVEL", "J", np.arange(298) * 300)],
        "CTE_SCALE": [("MJD", "E", [50000.0, 59000.0]), ("SCALE", "E", [0.167, 1.671])],
        "COL_SCALE": [("COLUMN", "J", np.arange(1024)), *amps],
        "CHG_LEAK1": [("NODE", "I", PSI_NODES)] + [(f"LOG_Q_{k}", "E", PSI) for k in range(1, 5)],
    }
    for extname, rows in changes.pop("rows", {}).items():
        columns[extname] = [
            (name, fmt, np.asarray(data)[:rows]) for name, fmt, data in columns[extname]
        ]
    for extname in changes.pop("drop", ()):
        del columns[extname]
    hdus = [primary]
    for extname, cols in columns.items():
        hdu = fits.BinTableHDU.from_columns(
            [fits.Column(name=n, format=f, array=np.asarray(a)) for n, f, a in cols], name=extname
        )
        if extname == "CHG_LEAK1":
            hdu.header["MJD1"], hdu.header["MJD2"] = 1.0, 62000.0
        hdus.append(hdu)
    for key in changes.pop("no_keyword", ()):
        del primary.header[key]
    assert not changes
    fits.HDUList(hdus).writeto(path)
    return path


def test_synthetic_model_trails_and_corrects(tmp_path):
    """Physics: the forward model trails hot pixels upwards; the correction undoes it."""
    model = trapmodel.load_trap_model(synthetic_pctetab(tmp_path / "p.fits"), MJD)
    model = trapmodel.build_trap_model(trapmodel.read_pctetab(model.pctetab, MJD), noise_model=0)
    truth = np.full((128, 1024), 10.0)
    truth[20::16, ::7] = 2000.0  # flipped: row 0 at the amplifier after the flip
    trailed = correct.add_cti_imset(truth[::-1, ::-1], 1.0, AMP, model)[::-1, ::-1]
    assert (trailed[20::16, ::7] < 2000).all() and (trailed[21::16, ::7] > 10.5).all()
    fixed, err = correct.correct_imset(trailed[::-1, ::-1], np.ones_like(truth), 1.0, AMP, model)
    fixed = fixed[::-1, ::-1]
    assert np.abs(fixed - truth).max() < 0.05 * np.abs(trailed - truth).max()
    assert (err >= 1.0).all()


@pytest.mark.parametrize(
    "edit, reason",
    [
        ({"drop": ["LEVELS"]}, "has no LEVELS extension"),
        ({"rows": {"LEVELS": 297}}, "has 297 rows"),
        ({"rows": {"DTDE": 11}}, "has 11 rows"),
        ({"rows": {"CHG_LEAK1": 16}}, "has 16 rows"),
        ({"rows": {"CTE_SCALE": 1}}, "has 1 rows"),
        ({"no_keyword": ["RN_CLIP"]}, "has no RN_CLIP"),
    ],
    ids=["no-extension", "levels", "phi", "psi", "scale", "keyword"],
)
def test_malformed_pctetab_is_refused(tmp_path, edit, reason):
    path = synthetic_pctetab(tmp_path / "bad_pcte.fits", **edit)
    with pytest.raises(InputFileError) as error:
        trapmodel.read_pctetab(path, MJD)
    message = str(error.value)
    assert "\n" not in message and str(path) in message and reason in message
    assert "cti.pctetab" in message


def test_pctetab_without_a_column_is_refused(tmp_path):
    path = synthetic_pctetab(tmp_path / "p.fits")
    with fits.open(path, mode="update") as hdul:
        hdul["DTDE"].header["TTYPE2"] = "QQ"
    with pytest.raises(InputFileError, match=r"has no column Q in extension DTDE"):
        trapmodel.read_pctetab(path, MJD)


@pytest.mark.parametrize(
    "mjd, reason",
    [
        (62000.5, "covers no TEXPSTRT 62000.50"),
        (49000.0, "has no CTE scaling at TEXPSTRT 49000.00"),
    ],
    ids=["after-chg-leak", "before-cte-scale"],
)
def test_texpstrt_outside_pctetab_is_refused(tmp_path, mjd, reason):
    path = synthetic_pctetab(tmp_path / "p.fits")
    with pytest.raises(InputFileError, match=reason) as error:
        trapmodel.read_pctetab(path, mjd)
    assert "use a PCTETAB that covers it (cti.pctetab)" in str(error.value)


def test_missing_or_unreadable_pctetab_is_refused(tmp_path):
    with pytest.raises(InputFileError, match=r"PCTETAB .*nothere.fits does not exist; fix"):
        trapmodel.read_pctetab(tmp_path / "nothere.fits", MJD)
    text = tmp_path / "text_pcte.fits"
    text.write_text("not a FITS file\n" * 200)
    with pytest.raises(InputFileError, match=r"text_pcte.fits cannot be read as FITS") as error:
        trapmodel.read_pctetab(text, MJD)
    assert "\n" not in str(error.value)


def test_model_settings_are_checked(tmp_path):
    params = trapmodel.read_pctetab(synthetic_pctetab(tmp_path / "p.fits"), MJD)
    with pytest.raises(ValueError, match="NSEMODEL = 3"):
        trapmodel.build_trap_model(params, noise_model=3)
    with pytest.raises(ValueError, match="amplifier 'E'"):
        trapmodel.readout_direction("E")
