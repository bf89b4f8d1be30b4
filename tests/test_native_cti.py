"""The native CTI science path (:mod:`stisdarks.calibrators.native_cti`), without hstcal.

On a small synthetic spectrum (128-row full-width strips flagged full frame, as
``tests/test_cti_agreement.py`` flags its darks: a real subarray is refused):

- the undo of the pipeline's dark and flat (:func:`stisdarks.darkswap.remove_dark_and_flat`)
  is the inverse of calstis' arithmetic (:func:`~stisdarks.darkswap.apply_dark_and_flat`);
- with the CTI correction replaced by the identity, the path must give the pipeline's own
  calibration with the new dark: its ``_crc`` the native dark swap of the pipeline ``_crj``
  (calstis rejected the cosmic rays of the same image sets; the native rejection
  reproduces it), its ``_flc`` the dark-swapped ``_flt`` with the same CR flags;
- with the correction, the products carry its keywords, the inputs are untouched;
- with stis_cti installed, its backend (on a scratch file) gives the native one's products;
- each input the undo cannot work from is refused in one line, nothing written.

The agreement with stis_cti + calstis on a full frame is ``tests/test_native_cti_agreement.py``
(``-m cti``, with hstcal).
"""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from stisdarks import calibrators, settings
from stisdarks.calibrators import native, native_cti
from stisdarks.calibrators.native import dark_for, read_dark
from stisdarks.crreject import CR_FLAG
from stisdarks.cti import default_pctetab, set_pctetab
from stisdarks.darkswap import apply_dark_and_flat, bad_pixel_dq, flat_field, remove_dark_and_flat
from stisdarks.errors import ConfigError, InputFileError
from stisdarks.fitsio import ext_data
from stisdarks.synthetic import generate_archive

OBS = "odemo1010"
KINDS = ("flt", "crj", "sx1")


def make_weekdark(
    pipeline_dark: Path, dest: Path, *, seed: int = 5, engine: str = "native"
) -> Path:
    """A CTI weekdark stand-in: the pipeline dark, 3 % brighter, with new hot pixels (DQ 16)
    and 30 % of its flags gone, stamped with a PCTETAB and a backend as a CTI weekdark is (what the science path reads)."""
    with fits.open(pipeline_dark) as hdul:
        out = fits.HDUList([h.copy() for h in hdul])
    rng = np.random.default_rng(seed)
    sci = ext_data(out["SCI", 1], np.float32) * np.float32(1.03)
    dq = ext_data(out["DQ", 1], np.int16).copy()
    ny, nx = sci.shape
    ys, xs = rng.integers(0, ny, 300), rng.integers(0, nx, 300)
    sci[ys, xs] += rng.uniform(0.1, 2.0, 300).astype(np.float32)
    dq[ys, xs] |= 16
    dq[(dq != 0) & (rng.random(dq.shape) < 0.3)] = 0  # flags the new dark no longer has
    out["SCI", 1].data, out["DQ", 1].data = sci, dq
    set_pctetab(out[0].header, default_pctetab())
    out[0].header["PCTECORR"] = "COMPLETE"
    out[0].header["SDCTIENG"] = engine
    out.writeto(dest)
    return dest


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    root = generate_archive(
        tmp_path_factory.mktemp("ncti") / "a", size=128, n_darks=2, seed=3, parts=("science",)
    )
    for kind in KINDS:
        fits.setval(root / "science" / f"{OBS}_{kind}.fits", "SUBARRAY", value=False)
    make_weekdark(root / "oref" / "syn_pipe_drk.fits", root / "weekdark.fits")
    return root


def products(root: Path) -> dict[str, Path]:
    return {k: root / "science" / f"{OBS}_{k}.fits" for k in (*KINDS, "raw")}


def run(root: Path, out_dir: Path, *, flt: Path | None = None, pipeline_dark=None, sx1=True):
    p = products(root)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = {k: out_dir / f"{OBS}_{k}.fits" for k in (KINDS if sx1 else KINDS[:2])}
    return native_cti.recalibrate(
        p["raw"], flt or p["flt"], p["crj"], p["sx1"] if sx1 else None, root / "weekdark.fits",
        pipeline_dark or root / "oref" / "syn_pipe_drk.fits", out, oref_dir=root / "oref",
        wav=None, obs_id=OBS, new_name=f"{OBS}_weekdark.fits",
    )  # fmt: skip


def imset(path: Path, k: int = 1):
    with fits.open(path) as hdul:
        return tuple(
            ext_data(hdul[name, k], t)
            for name, t in (("SCI", np.float32), ("ERR", np.float32), ("DQ", np.int16))
        )


def digest(paths) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


def test_the_undo_is_the_inverse_of_calstis_dark_and_flat(archive):
    flt = products(archive)["flt"]
    with fits.open(flt) as hdul:
        primary, header = hdul[0].header, hdul["SCI", 1].header
        sci, err, dq = imset(flt)
    oref = [archive / "oref"]
    dark = dark_for(
        read_dark(archive / "oref" / "syn_pipe_drk.fits"), "d", primary, header, sci.shape
    )
    flat = flat_field(primary, header, sci.shape, oref)
    bpix = bad_pixel_dq(primary, header, sci.shape, oref)
    gain = float(primary["ATODGAIN"])
    blt = remove_dark_and_flat(
        sci, err, dq, header, dark, flat, gain, protected_dq=bpix, clear_dq=CR_FLAG
    )
    again = apply_dark_and_flat(*blt, header, dark, flat, gain)
    assert np.mean(again[0] == sci) > 0.9999, "SCI does not come back through calstis' arithmetic"
    assert np.allclose(again[1], err, rtol=1e-5, atol=0), "ERR does not come back"
    # every bit comes back but the CR flag, which the undo clears and only a rejection sets
    assert np.array_equal(again[2], dq & ~np.int16(CR_FLAG))
    assert not (blt[2] & CR_FLAG).any() and not (blt[2] & (dark[2] & ~bpix)).any()


def test_without_the_correction_the_path_is_the_pipeline_calibration(
    archive, tmp_path, monkeypatch
):
    """CTI correction replaced by the identity: the CR rejection of the undone image sets
    and the dark and flat redone must give what the native dark swap makes of the pipeline
    products (calstis rejected the same image sets)."""
    from stisdarks.cti import correct

    monkeypatch.setattr(correct, "correct_imset", lambda sci, err, *a: (sci, err))
    written = run(archive, tmp_path / "cti")
    p = products(archive)
    swap = {k: tmp_path / f"swap_{k}.fits" for k in KINDS}
    native.recalibrate(
        p["raw"], p["flt"], p["crj"], p["sx1"], archive / "weekdark.fits",
        archive / "oref" / "syn_pipe_drk.fits", swap, oref_dir=archive / "oref", wav=None,
        obs_id=OBS, new_name="w.fits",
    )  # fmt: skip
    ours, theirs = imset(written["crj"]), imset(swap["crj"])
    close = np.isclose(ours[0], theirs[0], rtol=1e-5, atol=1e-4)
    assert close.mean() > 0.9999, f"_crc SCI: {close.mean():.6f} of pixels agree"
    assert np.allclose(ours[1], theirs[1], rtol=1e-4), "_crc ERR"
    assert np.array_equal(ours[2], theirs[2]), "_crc DQ"
    for k in (1, 2):
        ours, theirs = imset(written["flt"], k), imset(swap["flt"], k)
        assert np.isclose(ours[0], theirs[0], rtol=1e-5, atol=1e-4).mean() > 0.9999
        assert np.array_equal(ours[2], theirs[2]), f"_flc DQ {k} (the CR flags)"
    a, b = fits.getdata(written["sx1"], 1), fits.getdata(swap["sx1"], 1)
    assert np.all(np.abs(a["FLUX"] - b["FLUX"]) <= 0.01 * b["ERROR"])


def test_the_products_are_cti_corrected_and_the_inputs_untouched(archive, tmp_path):
    inputs = [*products(archive).values(), archive / "weekdark.fits"]
    before = digest(inputs)
    written = run(archive, tmp_path / "out")
    assert digest(inputs) == before
    assert set(written) == set(KINDS)
    for kind, path in written.items():
        header = fits.getheader(path)
        assert header["PCTECORR"] == "COMPLETE" and header["SDCTIENG"] == "native", kind
        assert Path(header["PCTETAB"]).name == default_pctetab().name
        assert header["DARKFILE"] == f"{OBS}_weekdark.fits" and header["FILENAME"] == path.name
        assert header["CTECORR"] != "COMPLETE"
    flc, flt = imset(written["flt"]), imset(products(archive)["flt"])
    changed = np.abs(flc[0] - flt[0]) > 1e-3 * np.maximum(np.abs(flt[0]), 1)
    assert changed.mean() > 0.01, "the correction changed nothing"
    assert (
        fits.getheader(written["crj"], 1)["MEANDARK"]
        != fits.getheader(products(archive)["crj"], 1)["MEANDARK"]
    )
    assert not list(tmp_path.rglob("*.tmp*")) and not list(tmp_path.rglob(".tmp*"))


def test_an_image_gets_its_flc_and_crc_only(archive, tmp_path):
    written = run(archive, tmp_path / "img", sx1=False)
    assert set(written) == {"flt", "crj"}
    assert sorted(p.name for p in (tmp_path / "img").iterdir()) == [
        f"{OBS}_crj.fits",
        f"{OBS}_flt.fits",
    ]


@pytest.mark.skipif(importlib.util.find_spec("stis_cti") is None, reason="needs stis_cti")
def test_the_stis_cti_backend_gives_the_native_products(archive, tmp_path):
    make_weekdark(archive / "oref" / "syn_pipe_drk.fits", tmp_path / "w.fits", engine="stis_cti")
    shutil.copyfile(tmp_path / "w.fits", archive / "weekdark_stis_cti.fits")
    a = run(archive, tmp_path / "native")
    backup = archive / "weekdark.fits"
    saved = backup.read_bytes()
    try:
        shutil.copyfile(tmp_path / "w.fits", backup)
        b = run(archive, tmp_path / "stis_cti")
    finally:
        backup.write_bytes(saved)
    assert fits.getval(b["crj"], "SDCTIENG") == "stis_cti"
    for kind in ("flt", "crj"):
        for x, y in zip(imset(a[kind]), imset(b[kind]), strict=True):
            assert np.array_equal(x, y), kind


def _flt_with(archive: Path, tmp_path: Path, **cards) -> Path:
    flt = tmp_path / f"{OBS}_flt.fits"
    shutil.copyfile(products(archive)["flt"], flt)
    with fits.open(flt, mode="update") as hdul:
        for key, value in cards.items():
            hdul[0].header[key] = value
    return flt


BAD_FLT = [
    pytest.param({"FLATCORR": "OMIT"}, "is not flat-fielded (FLATCORR=OMIT)", id="no-flat"),
    pytest.param(
        {"PFLTFILE": "oref$gone_pfl.fits"},
        "its flat field PFLTFILE=oref$gone_pfl.fits is not among the reference files",
        id="flat-not-found",
    ),
    pytest.param(
        {"PCTECORR": "COMPLETE"}, "is already CTI-corrected (PCTECORR=COMPLETE)", id="corrected"
    ),
    pytest.param({"DARKCORR": "OMIT"}, "records no dark (DARKCORR=OMIT", id="no-darkcorr"),
    pytest.param({"DARKFILE": "N/A"}, "records no dark (DARKCORR=COMPLETE, DARKFILE=N/A)", id="no-darkfile"),
]  # fmt: skip


@pytest.mark.parametrize(("cards", "message"), BAD_FLT)
def test_a_flt_the_undo_cannot_use_is_refused_in_one_line(archive, tmp_path, cards, message):
    flt = _flt_with(archive, tmp_path, **cards)
    out = tmp_path / "out"
    with pytest.raises(InputFileError) as info:
        run(archive, out, flt=flt)
    text = str(info.value)
    assert "\n" not in text and text.startswith(f"{OBS}_flt.fits"), text
    assert message in text, text
    assert any(fix in text for fix in ("download", "sync the references", "calibrator:")), text
    assert not out.exists() or not any(out.iterdir()), "something was written"


def test_a_missing_pipeline_dark_is_refused_in_one_line(archive, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(InputFileError, match=r"^odemo1010_flt\.fits: its dark .* does not exist"):
        run(archive, out, pipeline_dark=tmp_path / "gone_drk.fits")
    assert not any(out.iterdir())


def test_the_cti_calibrator_follows_the_calibrator_choice(monkeypatch):
    import stisdarks.hstcal as hstcal

    monkeypatch.setattr(hstcal, "has_calstis", lambda: False)
    assert calibrators.chosen_calibrator("cti:native") == ("native-cti", native_cti)
    assert calibrators.chosen_calibrator("cti:auto")[0] == "native-cti"
    assert calibrators.chosen_calibrator("cti")[0] == "native-cti"
    settings.require_cti_tools("auto", "auto")  # no hstcal needed
    settings.require_cti_tools("native", "native")
    with pytest.raises(ConfigError, match="calibrator: calstis makes the CTI-corrected science"):
        settings.require_cti_tools("auto", "calstis")
    monkeypatch.setattr(hstcal, "has_calstis", lambda: True)
    assert calibrators.chosen_calibrator("cti:auto")[0] == "cti"
    assert calibrators.chosen_calibrator("cti:native")[0] == "native-cti"


def test_the_native_cti_calibrator_has_the_calibrator_interface():
    import inspect

    reference = calibrators.calibrator_module("native")
    for func in calibrators.INTERFACE:
        assert inspect.signature(getattr(native_cti, func)) == inspect.signature(
            getattr(reference, func)
        )
