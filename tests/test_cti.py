"""CTI correction of files: one dark, many darks, superdark keywords, which data it serves, the
CTI calibrator.

The darks and science are the synthetic archive's at 128 rows, full-width strips flagged as
full frame (``SUBARRAY = F``, :func:`strip`): the correction's every code path at 1/8 of a
full frame's cost (a real subarray is refused: its rows are not the CCD's). The native
backend runs everywhere; the comparisons with stis_cti itself run where it is installed
(the ``stis_cti`` extra).
"""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from stisdarks import cti
from stisdarks.atomic import TEMP_PREFIX
from stisdarks.errors import InputFileError, StisDarksError
from stisdarks.synthetic import generate_archive

STIS_CTI = pytest.mark.skipif(
    importlib.util.find_spec("stis_cti") is None,
    reason="needs stis_cti (pip install -e '.[stis-cti]')",
)
OBS, IMAGE = "odemo1010", "odimg1010"
HSTCAL = pytest.mark.skipif(shutil.which("cs0.e") is None, reason="needs hstcal's cs0.e on PATH")


def digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(TEMP_PREFIX))


def strip(src: Path, dest: Path) -> Path:
    """A copy of a 128-row file of the synthetic archive flagged as full frame."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest != src:
        shutil.copyfile(src, dest)
    with fits.open(dest, mode="update") as hdul:
        hdul[0].header["SUBARRAY"] = False
    return dest


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    root = generate_archive(
        tmp_path_factory.mktemp("cti") / "a", size=128, n_darks=3, seed=5, image_obs_ids=(IMAGE,)
    )
    for path in [*(root / "darks").glob("odark*_flt.fits"), *(root / "science").glob("*.fits")]:
        strip(path, path)
    return root


@pytest.fixture(scope="module")
def corrected(archive, tmp_path_factory) -> list[Path]:
    """Two darks corrected by :func:`cti.correct_dark` (native), in time order."""
    out = tmp_path_factory.mktemp("cte")
    names = ("odark000q", "odark001q")
    return [cti.correct_dark(archive / "darks" / f"{n}_flt.fits", out / f"{n}_cte.fits") for n in names]  # fmt: skip


def test_the_shipped_pctetab():
    table = cti.default_pctetab()
    assert table.name == "a02_stis_pcte.fits" and table.parent.name == "data"
    assert table.parent.parent.name == "stisdarks", "the package's own copy"
    assert cti.pctetab_version(table) == "0.2"
    assert cti.pctetab_validity(table) == [(50000.0, 62000.0)]
    assert cti.cte_name("odark000q_flt.fits") == "odark000q_cte.fits"


def test_correct_dark_corrects_a_copy_and_leaves_the_input(archive, corrected, tmp_path):
    src = archive / "darks" / "odark000q_flt.fits"
    before = digest(src)
    again = cti.correct_dark(src, tmp_path / "again_cte.fits")
    assert digest(src) == before and leftovers(tmp_path) == []
    with fits.open(again) as new, fits.open(src) as old:
        assert not np.array_equal(new["SCI"].data, old["SCI"].data)  # it corrected
        assert new["SCI"].data.dtype == old["SCI"].data.dtype
        assert np.array_equal(new["DQ"].data, old["DQ"].data)
        header = new[0].header
        assert header["PCTECORR"] == "COMPLETE" and header["SDCTIENG"] == "native"
        assert header["FILENAME"] == "again_cte.fits"
        assert header["PCTETAB"] == str(cti.default_pctetab())
        assert all(key in header for key in cti.PCTE_KEYWORDS)
    with fits.open(again) as a, fits.open(corrected[0]) as b:  # deterministic
        assert np.array_equal(a[1].data, b[1].data) and np.array_equal(a[2].data, b[2].data)


@STIS_CTI
def test_native_and_stis_cti_write_the_same_file(archive, corrected, tmp_path):
    """correct_dark with each backend, and stis_cti's CteCorr by hand: the same data, the same
    keywords (only SDCTIENG, ours, names the backend)."""
    from stis_cti import StisPixCteCorr

    src = archive / "darks" / "odark000q_flt.fits"
    theirs = cti.correct_dark(src, tmp_path / "stis_cti" / "odark000q_cte.fits", engine="stis_cti")
    by_hand = tmp_path / "hand" / src.name
    by_hand.parent.mkdir()
    shutil.copyfile(src, by_hand)
    fits.setval(by_hand, "PCTETAB", value=str(cti.default_pctetab()))
    StisPixCteCorr.CteCorr(str(by_hand), outFits=str(tmp_path / "hand" / "out.fits"))
    for ref_path in (theirs, tmp_path / "hand" / "out.fits"):
        with fits.open(ref_path) as ref, fits.open(corrected[0]) as new:
            for a, b in zip(ref, new, strict=True):
                if a.data is not None:
                    assert a.data.dtype == b.data.dtype and np.array_equal(a.data, b.data)
            for key in (*cti.PCTE_KEYWORDS, "ATODGAIN"):
                assert new[0].header[key] == ref[0].header[key], key
                assert type(new[0].header[key]) is type(ref[0].header[key]), key
    assert fits.getval(theirs, "SDCTIENG") == "stis_cti"


def test_correct_darks_keeps_what_is_done_and_sweeps_a_killed_write(archive, corrected, tmp_path):
    darks = [archive / "darks" / f"odark00{i}q_flt.fits" for i in range(3)]
    out = tmp_path / "cte"
    out.mkdir()
    shutil.copyfile(corrected[0], out / "odark000q_cte.fits")  # done by an earlier run
    (out / ".tmp-odark001q_cte-abc123.fits").write_bytes(b"half")  # a killed run's write
    kept = (out / "odark000q_cte.fits").stat().st_mtime_ns
    written = cti.correct_darks(darks, out)
    assert [p.name for p in written] == [f"odark00{i}q_cte.fits" for i in range(3)]
    assert (out / "odark000q_cte.fits").stat().st_mtime_ns == kept
    assert leftovers(out) == []
    assert np.array_equal(fits.getdata(written[1], 1), fits.getdata(corrected[1], 1))
    # another table, or another backend, is not "the same correction": redone
    assert not cti.is_corrected_with(written[0], cti.default_pctetab(), "stis_cti")
    assert cti.is_corrected_with(written[0], cti.default_pctetab(), "native")


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"DETECTOR": "FUV-MAMA"}, "not a STIS CCD image-set file"),
        ({"TEXPSTRT": None}, "TEXPSTRT"),
        ({"TEXPSTRT": 62001.0, "TDATEOBS": "2028-01-01"}, "CHG_LEAK"),
        ({"CCDAMP": "A"}, "amplifier A"),
        ({"CCDAMP": "ABCD"}, "amplifier ABCD"),
        ({"CCDGAIN": 2}, "gain 2"),
        ({"TEXPSTRT": 54526.5}, "observed 2008-03-01, before 2009-05-01"),
        ({"SUBARRAY": True}, "a subarray"),
        ({"BINAXIS1": 2}, "binned 2x1"),
        ({"PCTECORR": "COMPLETE"}, "already has the pixel-based CTI correction"),
        ({"NAN": True}, "NaN or infinite pixels in SCI,1"),
    ],
)
def test_correct_dark_refuses_what_ctecorr_cannot_do(archive, tmp_path, change, words):
    src = tmp_path / "in" / "odark002q_flt.fits"
    src.parent.mkdir()
    shutil.copyfile(archive / "darks" / src.name, src)
    with fits.open(src, mode="update") as hdul:
        for key, value in change.items():
            if key == "NAN":
                hdul["SCI"].data[5, 7] = np.nan
            elif value is None:
                del hdul[0].header[key]
            else:
                hdul[0].header[key] = value
    before = digest(src)
    dest = tmp_path / "out" / "odark002q_cte.fits"
    with pytest.raises(InputFileError, match=words) as err:
        cti.correct_dark(src, dest)
    assert "\n" not in str(err.value) and src.name in str(err.value)
    assert not dest.exists() and (not dest.parent.exists() or leftovers(dest.parent) == [])
    assert digest(src) == before


@pytest.mark.parametrize(
    ("table", "words"),
    [
        ("missing.fits", "does not exist"),
        ("text.fits", "cannot be read as FITS"),
        ("empty.fits", "has no"),
    ],
)
def test_correct_dark_refuses_a_bad_pctetab(archive, tmp_path, table, words):
    (tmp_path / "text.fits").write_text("not FITS")
    fits.PrimaryHDU().writeto(tmp_path / "empty.fits")
    src = archive / "darks" / "odark002q_flt.fits"
    dest = tmp_path / "out" / "odark002q_cte.fits"
    with pytest.raises(InputFileError, match=words) as err:
        cti.correct_dark(src, dest, pctetab=tmp_path / table)
    assert "\n" not in str(err.value) and table in str(err.value)
    assert not dest.exists()


def test_correct_dark_refuses_a_raw(archive, tmp_path):
    with pytest.raises(InputFileError, match="1024 columns"):
        cti.correct_dark(archive / "science" / f"{OBS}_raw.fits", tmp_path / "x_cte.fits")
    assert list(tmp_path.iterdir()) == []


def test_a_failing_ctecorr_leaves_neither_dest_nor_scratch(archive, tmp_path, monkeypatch):
    from stisdarks.cti import native

    def crash(path, out, *, threads=1):
        shutil.copyfile(path, out)  # as CteCorr does before it fails
        raise StisDarksError("CteCorr failed on odark002q_flt.fits: a test")

    monkeypatch.setattr(native, "ctecorr", crash)
    dest = tmp_path / "odark002q_cte.fits"
    with pytest.raises(StisDarksError, match="CteCorr failed on odark002q_flt.fits"):
        cti.correct_dark(archive / "darks" / "odark002q_flt.fits", dest)
    assert list(tmp_path.iterdir()) == []


@STIS_CTI
def test_stamp_superdark_as_stis_cti_copy_dark_keywords(corrected, tmp_path):
    from stisdarks.engines import make_basedark

    stis_cti_module = sys.modules["stis_cti.stis_cti"]
    basedark = make_basedark(corrected, tmp_path / "basedark.fits", engine="native")
    last = fits.getheader(corrected[-1], 0)
    for basedark_name in (None, "basedark.fits"):
        ours, theirs = tmp_path / "ours.fits", tmp_path / "theirs.fits"
        shutil.copyfile(basedark, ours)
        shutil.copyfile(basedark, theirs)
        with fits.open(ours, mode="update") as hdul:  # an open HDUList, as before a rename
            cti.stamp_superdark(hdul, last, basedark=basedark_name)
        stis_cti_module.copy_dark_keywords(
            str(theirs), last, "unused", history=None, basedark=basedark_name
        )
        a, b = fits.getheader(ours, 0), fits.getheader(theirs, 0)

        def cards(h):
            skip = ("HISTORY", "SDCTIENG")  # SDCTIENG: ours, which backend corrected
            return [(c.keyword, c.value, c.comment) for c in h.cards if c.keyword not in skip]

        assert cards(a) == cards(b)
        assert a["SDCTIENG"] == "native"
        assert a["PCTEFRAC"] == last["PCTEFRAC"] and a["PCTECORR"] == "COMPLETE"
        keys = list(a.keys())
        assert keys.index("PCTECORR") == keys.index("DRK_VS_T") + 1
        assert any("CTI-corrected component darks" in h for h in a["HISTORY"])
    cti.stamp_superdark(ours, last)  # a path works too
    with pytest.raises(StisDarksError, match="not CTI-corrected"):
        cti.stamp_superdark(ours, fits.getheader(basedark, 0))


BASE = dict(
    TELESCOP="HST", INSTRUME="STIS", DETECTOR="CCD", TDATEOBS="2021-05-05", TTIMEOBS="12:30:22",
    OBSMODE="ACCUM", CCDAMP="D", CCDGAIN=1, CCDOFFST=3, SUBARRAY=False, SIZAXIS2=1024,
    BINAXIS1=1, BINAXIS2=1,
)  # fmt: skip
CASES = [
    ({}, None),
    ({"CCDGAIN": 4}, None),
    ({"TDATEOBS": "2009-05-01", "TTIMEOBS": "00:00:00"}, None),
    ({"TDATEOBS": "2009-04-30", "TTIMEOBS": "23:59:59"}, "observed 2009-04-30, before 2009-05-01"),
    ({"TDATEOBS": "2008-03-01"}, "observed 2008-03-01, before 2009-05-01"),
    ({"CCDGAIN": 2}, "gain 2"),
    ({"CCDAMP": "A"}, "amplifier A (stis_cti corrects amp D only)"),
    ({"CCDOFFST": 0}, "CCDOFFST 0"),
    ({"OBSMODE": "ACQ"}, "a target acquisition"),
    ({"OBSMODE": "ACQ/PEAK"}, "a target acquisition"),
    ({"SUBARRAY": True, "SIZAXIS2": 128}, "a subarray (128 rows)"),
    ({"BINAXIS1": 2}, "binned 2x1"),
    ({"BINAXIS1": 2, "BINAXIS2": 2}, "binned 2x2"),
    ({"DETECTOR": "FUV-MAMA"}, "not an HST/STIS CCD observation (STIS FUV-MAMA)"),
]


@pytest.mark.parametrize(("change", "reason"), CASES)
def test_cti_refusal_agrees_with_viable_ccd_file(tmp_path, change, reason):
    header = fits.Header({**BASE, **change})
    path = tmp_path / "x_raw.fits"
    fits.PrimaryHDU(header=header).writeto(path)
    assert cti.cti_refusal(fits.getheader(path)) == reason
    if importlib.util.find_spec("stis_cti") is not None:
        from stis_cti.stis_cti import viable_ccd_file

        assert (reason is None) == viable_ccd_file(str(path))


def test_cti_refusal_without_tdateobs_uses_texpstrt(archive):
    dated = {k: v for k, v in BASE.items() if not k.startswith("T") or k == "TELESCOP"}
    assert cti.cti_refusal(fits.Header({**dated, "TEXPSTRT": 54526.5})) == (
        "observed 2008-03-01, before 2009-05-01"
    )
    assert cti.cti_refusal(fits.Header({**dated, "TEXPSTRT": 59339.5})) is None
    assert "no observation date" in cti.cti_refusal(fits.Header(dated))
    with fits.open(archive / "science" / f"{OBS}_raw.fits") as raw:
        header = raw[0].header.copy()
        header.remove("SIZAXIS2")
        header["SUBARRAY"] = True
        assert cti.cti_refusal(header, raw["SCI", 1].header) == "a subarray (128 rows)"


def _recalibrate(archive: Path, tmp_path: Path, obs: str, spectrum: bool) -> dict[str, Path]:
    from stisdarks.calibrators import cti as cti_calibrator

    science = archive / "science"
    inputs = [science / f"{obs}_{k}.fits" for k in ("raw", "flt", "crj", "sx1", "wav")]
    inputs = [p for p in inputs if p.exists()]
    before = {p: digest(p) for p in inputs}
    names = {"flt": "flc", "crj": "crc", "sx1": "s1c"} if spectrum else {"flt": "flc", "crj": "crc"}
    out = {k: tmp_path / f"{obs}_{v}.fits" for k, v in names.items()}
    written = cti_calibrator.recalibrate(
        science / f"{obs}_raw.fits", science / f"{obs}_flt.fits", science / f"{obs}_crj.fits",
        science / f"{obs}_sx1.fits" if spectrum else None, archive / "oref" / "syn_pipe_drk.fits",
        archive / "oref" / "syn_pipe_drk.fits", out, oref_dir=archive / "oref",
        wav=science / f"{obs}_wav.fits" if spectrum else None, obs_id=obs,
        new_name=f"{obs}_weekdark.fits",
    )  # fmt: skip
    assert written == out and {p: digest(p) for p in inputs} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in out.values())
    for path in out.values():
        header = fits.getheader(path, 0)
        assert header["FILENAME"] == path.name
        assert header["PCTECORR"] == "COMPLETE" and header["CTECORR"] == "OMIT"
        assert header["PCTETAB"] == str(cti.default_pctetab())
        assert header["DARKFILE"] == f"oref${obs}_weekdark.fits"
        assert header["DARKCORR"] == "COMPLETE"
    return out


@HSTCAL
def test_the_cti_calibrator_on_a_spectrum(archive, tmp_path):
    out = _recalibrate(archive, tmp_path, OBS, spectrum=True)
    with fits.open(out["crj"]) as crc, fits.open(archive / "science" / f"{OBS}_crj.fits") as crj:
        assert crc["SCI"].data.shape == crj["SCI"].data.shape
        assert np.isfinite(crc["SCI"].data).all()
        assert not np.array_equal(crc["SCI"].data, crj["SCI"].data)
    assert fits.getheader(out["sx1"], 0)["X1DCORR"] == "COMPLETE"


@HSTCAL
def test_the_cti_calibrator_on_an_image(archive, tmp_path):
    out = _recalibrate(archive, tmp_path, IMAGE, spectrum=False)
    assert fits.getval(out["flt"], "NEXTEND") == fits.getval(
        archive / "science" / f"{IMAGE}_flt.fits", "NEXTEND"
    )
