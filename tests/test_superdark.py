"""Native basedark/weekdark vs refstis + calstis (hstcal 3.5.0) on the golden set; engines; inputs."""

from __future__ import annotations

import hashlib
import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

import stisdarks
from stisdarks import engines
from stisdarks.engines.common import check_dark_inputs
from stisdarks.engines.native import ClippedStats, make_basedark, make_weekdark, medfilt_5x5
from stisdarks.errors import StisDarksError
from stisdarks.fitsio import ext_data

GOLDEN = Path(__file__).parent / "data" / "golden"
MANIFEST = json.loads((GOLDEN / "manifest.json").read_text())
INPUTS = [GOLDEN / "inputs" / name for name in MANIFEST["inputs"]]
WEEK = [GOLDEN / "inputs" / name for name in MANIFEST["week"]]


@pytest.fixture(autouse=True)
def golden_oref(monkeypatch):
    monkeypatch.setenv("oref", str(GOLDEN / "oref") + "/")


def digest(paths) -> dict[str, str]:
    return {str(p): hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in paths}


def fraction_close(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.mean(np.abs(a - b) <= 1e-4 * np.abs(b) + 1e-6))


def compare_with_golden(mine: Path, reference: Path) -> None:
    with fits.open(mine) as a, fits.open(reference) as b:
        for ext in ("SCI", "ERR"):
            assert fraction_close(ext_data(a[ext]), ext_data(b[ext])) >= 0.9999, ext
        assert np.mean(ext_data(a["DQ"]) == ext_data(b["DQ"])) >= 0.9999
        ha, hb = a[0].header, b[0].header
        keys = {k for k in hb if k not in ("HISTORY", "COMMENT", "")}
        assert keys <= set(ha), f"missing keywords {keys - set(ha)}"
        for key in keys - {"FILENAME"}:
            assert ha[key] == hb[key], key
        # the input list and every refstis HISTORY line, then our own provenance line
        assert list(ha["HISTORY"])[: len(hb["HISTORY"])] == list(hb["HISTORY"])


def test_native_basedark_matches_refstis_calstis(tmp_path):
    before = digest(INPUTS)
    out = make_basedark(INPUTS, tmp_path / "basedark.fits")
    assert digest(INPUTS) == before, "an input was modified"
    compare_with_golden(out, GOLDEN / "basedark.fits")


def test_native_weekdark_matches_refstis_calstis(tmp_path):
    before = digest([*WEEK, GOLDEN / "basedark.fits"])
    out = make_weekdark(WEEK, GOLDEN / "basedark.fits", tmp_path / "weekdark.fits")
    assert digest([*WEEK, GOLDEN / "basedark.fits"]) == before
    compare_with_golden(out, GOLDEN / "weekdark.fits")


def test_engine_switch(monkeypatch, tmp_path):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert engines.resolve_engine("auto") == "native"
    with pytest.raises(StisDarksError, match="cs0.e not found on PATH; install hstcal") as err:
        engines.make_basedark(INPUTS, tmp_path / "b.fits", engine="refstis")
    assert "\n" not in str(err.value) and not (tmp_path / "b.fits").exists()
    with pytest.raises(StisDarksError, match="unknown engine"):
        engines.resolve_engine("fast")
    monkeypatch.setattr(shutil, "which", lambda name: "/opt/hstcal/bin/cs0.e")
    assert engines.resolve_engine("auto") == "refstis"


def test_refstis_engine_works_on_copies_only(tmp_path, monkeypatch):
    """The refstis path runs refstis on copies in a scratch directory and never on the inputs."""
    seen = {}

    def fake_refstis_basedark(files, out):  # stands in for refstis only to record what it was given
        seen["files"] = list(files)
        shutil.copyfile(GOLDEN / "basedark.fits", out)

    import refstis.basedark

    monkeypatch.setattr(refstis.basedark, "make_basedark", fake_refstis_basedark)
    monkeypatch.setattr(shutil, "which", lambda name: "/opt/hstcal/bin/cs0.e")
    out = engines.make_basedark(INPUTS, tmp_path / "out" / "basedark.fits", engine="refstis")
    assert out.is_file()
    assert all(Path(f).parent != GOLDEN / "inputs" for f in seen["files"])
    assert [Path(f).name for f in seen["files"]] == [p.name for p in INPUTS]
    assert list((tmp_path / "out").iterdir()) == [out], "the scratch directory was left behind"


def flt_copy(tmp_path: Path, name: str, **keys) -> Path:
    path = tmp_path / name
    shutil.copyfile(INPUTS[0], path)
    with fits.open(path, mode="update") as hdul:
        for key, value in keys.items():
            hdul[0].header[key] = value
    return path


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"DETECTOR": "FUV-MAMA"}, "is not a STIS CCD file"),
        ({"TARGNAME": "HD12345"}, "is not a dark"),
        ({"CCDGAIN": 4}, "inputs mix CCD modes"),
        ({"CCDAMP": "A"}, "inputs mix CCD modes"),
        ({"BLEVCORR": "PERFORM", "BIASCORR": "PERFORM"}, "is not bias-subtracted"),
    ],
)
def test_bad_inputs_are_one_line(tmp_path, keys, message):
    bad = flt_copy(tmp_path, "obad00000q_flt.fits", **keys)
    with pytest.raises(StisDarksError, match=message) as err:
        check_dark_inputs([INPUTS[1], bad])
    assert "\n" not in str(err.value)


def test_too_few_image_sets_and_missing_file(tmp_path):
    with pytest.raises(StisDarksError, match="at least 2"):
        check_dark_inputs([INPUTS[0]])
    with pytest.raises(StisDarksError, match="does not exist"):
        check_dark_inputs([INPUTS[0], tmp_path / "nope_flt.fits"])


def test_refstis_engine_leaves_inputs_byte_identical(tmp_path, monkeypatch):
    def edits_its_inputs(files, out):  # refstis scales its inputs in place: here, on the copies
        for f in files:
            with fits.open(f, mode="update") as h:
                h["SCI"].data *= 2
        shutil.copyfile(GOLDEN / "basedark.fits", out)

    import refstis.basedark

    monkeypatch.setattr(refstis.basedark, "make_basedark", edits_its_inputs)
    monkeypatch.setattr(shutil, "which", lambda name: "/opt/hstcal/bin/cs0.e")
    before = digest(INPUTS)
    engines.make_basedark(INPUTS, tmp_path / "basedark.fits", engine="refstis")
    assert digest(INPUTS) == before


needs_hstcal = pytest.mark.skipif(
    shutil.which("cs0.e") is None, reason="hstcal's cs0.e is not on PATH"
)


@needs_hstcal
def test_refstis_engine_agrees_with_the_golden_files(tmp_path):
    """The real refstis + calstis, run by the engine adapter, remakes the golden superdarks."""
    base = engines.make_basedark(INPUTS, tmp_path / "basedark.fits", engine="refstis")
    compare_with_golden(base, GOLDEN / "basedark.fits")
    week = engines.make_weekdark(
        WEEK, GOLDEN / "basedark.fits", tmp_path / "weekdark.fits", engine="refstis"
    )
    compare_with_golden(week, GOLDEN / "weekdark.fits")


@needs_hstcal
def test_refstis_weekdark_of_darks_without_dq_flags(tmp_path):
    """calstis writes an all-zero DQ header-only; refstis alone then fails, the adapter does not."""
    clean = []
    same = ext_data(fits.open(WEEK[0])["SCI", 1], np.float32)  # nothing to reject: DQ stays 0
    for path in WEEK:
        dest = tmp_path / path.name
        shutil.copyfile(path, dest)
        with fits.open(dest, mode="update") as hdul:
            hdul["SCI", 1].data = same
            hdul["DQ", 1].data = np.zeros(same.shape, np.int16)
        clean.append(dest)
    before = digest(clean)
    out = engines.make_weekdark(
        clean, GOLDEN / "basedark.fits", tmp_path / "weekdark.fits", engine="refstis"
    )
    assert digest(clean) == before
    with fits.open(out) as hdul:
        dq = ext_data(hdul["DQ", 1])
        assert dq.shape == ext_data(hdul["SCI", 1]).shape and np.any(dq & 16)


def test_each_engine_records_itself_in_the_dark(tmp_path, monkeypatch):
    """SDENGINE names the engine that built a basedark/weekdark (summary.json reads it back)."""
    native = make_weekdark(WEEK, GOLDEN / "basedark.fits", tmp_path / "native.fits")
    assert fits.getval(native, "SDENGINE") == "native"
    assert fits.getval(native, "SDVERS") == stisdarks.__version__

    def fake_refstis_weekdark(files, out, basedark):  # stands in for refstis: a refstis-made file
        shutil.copyfile(GOLDEN / "weekdark.fits", out)

    import refstis.weekdark

    monkeypatch.setattr(refstis.weekdark, "make_weekdark", fake_refstis_weekdark)
    monkeypatch.setattr(shutil, "which", lambda name: "/opt/hstcal/bin/cs0.e")
    assert "SDENGINE" not in fits.getheader(GOLDEN / "weekdark.fits")
    out = engines.make_weekdark(
        WEEK, GOLDEN / "basedark.fits", tmp_path / "weekdark.fits", engine="refstis"
    )
    assert fits.getval(out, "SDENGINE") == "refstis"
    assert fits.getval(out, "SDVERS") == stisdarks.__version__


def clipped_cases():
    rng = np.random.default_rng(2)
    with fits.open(GOLDEN / "basedark.fits") as hdul:
        yield ext_data(hdul["SCI"], np.float32)
    dark = rng.normal(0.004, 0.0008, 20000).astype(np.float32)
    dark[rng.integers(20000, size=300)] += rng.uniform(0.01, 5, 300).astype(np.float32)
    yield dark
    yield rng.standard_cauchy(4001).astype(np.float32)  # odd size, heavy tails
    yield np.round(rng.normal(0, 3, 5000)).astype(np.float32)  # many ties
    yield np.array([np.nan, 1, 2, np.inf, -np.inf, 3, 3, 3, -0.0, 0.0], np.float32)
    yield np.full(7, np.nan, np.float32)


@pytest.mark.parametrize(("sigma", "maxiters"), [(5, 50), (3, 40), (5, 40), (2, 1), (1.5, 100)])
def test_clipped_stats_are_astropys_sigma_clipped_stats(sigma, maxiters):
    from astropy.stats import sigma_clipped_stats

    for data in clipped_cases():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            want = sigma_clipped_stats(data, sigma=sigma, maxiters=maxiters)
        got = ClippedStats(data)(sigma, maxiters)
        for g, w in zip(got, want, strict=True):
            assert type(g) is type(w)
            assert np.asarray(g).tobytes() == np.asarray(w).tobytes(), (data.size, got, want)


def test_medfilt_5x5_is_scipys_medfilt():
    from scipy.signal import medfilt

    rng = np.random.default_rng(4)
    image = rng.normal(0.004, 0.001, (70, 90)).astype(np.float32)
    image[rng.integers(70, size=50), rng.integers(90, size=50)] = 3.0
    image[5, 5] = np.nan
    want = medfilt(image, (5, 5))
    got = medfilt_5x5(image)
    assert got.dtype == want.dtype and got.tobytes() == want.tobytes()
