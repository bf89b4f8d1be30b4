"""A STIS CCD image (OBSTYPE = IMAGING, no ``_sx1``) through the library.

The synthetic image (``generate_archive(..., science_kind="image")``), its native
recalibration, its facts, its figure and its summary; with hstcal's ``cs0.e`` on ``PATH``,
the image's pipeline products are what calstis makes of its ``_raw`` and the native
recalibration equals calstis' to the tolerances the spectra get (``docs/imaging.md``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from product_checks import IMAGE_SET_KEYS, assert_calstis_products, assert_recalibrations_agree

from stisdarks import stages
from stisdarks.archive.local import read_index
from stisdarks.darkswap import dark_scale_factor
from stisdarks.science import science_facts
from stisdarks.summary import image_hot_pixels, image_noise
from stisdarks.synthetic import generate_archive, imaging
from stisdarks.synthetic.headers import CALSTIS_STEPS

OBS = "odemo1010"
SIZE = 128
needs_calstis = pytest.mark.skipif(
    shutil.which("cs0.e") is None, reason="hstcal's cs0.e is not on PATH"
)


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return generate_archive(
        tmp_path_factory.mktemp("img") / "a", size=SIZE, n_darks=4, seed=5, science_kind="image"
    )


@pytest.fixture(scope="module")
def truth(root) -> dict:
    return json.loads((root / "truth.json").read_text())


def science(root: Path) -> dict[str, Path]:
    return {k: root / "science" / f"{OBS}_{k}.fits" for k in ("raw", "flt", "crj")}


def _late_hot_pixels(truth: dict) -> list[dict]:
    """Hot pixels born after the pipeline dark was made and before the observation."""
    return [
        h for h in truth["hot_pixels"]
        if truth["pipeline_dark_mjd"] < h["onset_mjd"] <= truth["obs_mjd"]
    ]  # fmt: skip


@pytest.fixture(scope="module")
def weekdark(root, truth, tmp_path_factory) -> Path:
    """The pipeline dark plus the hot pixels born since: what a perfect week of darks would give."""
    path = tmp_path_factory.mktemp("wk") / "weekdark.fits"
    shutil.copy(root / "oref" / "syn_pipe_drk.fits", path)
    with fits.open(path, mode="update") as h:
        for hot in _late_hot_pixels(truth):
            h["SCI"].data[hot["y"], hot["x"]] += np.float32(hot["rate"])
            h["DQ"].data[hot["y"], hot["x"]] |= 16
        h[0].header["TASKNAME"] = "WEEKDARK"
    return path


@pytest.fixture(scope="module")
def workdir(root, weekdark, tmp_path_factory) -> Path:
    """science.json, references.json and the native recalibration, through the stages."""
    work = tmp_path_factory.mktemp("work")
    p = science(root)
    stages.write_science_facts(p["raw"], p["flt"], p["crj"], work / "science.json")
    refs = {"oref": str(root / "oref"), "pipeline_darkfile": "oref$syn_pipe_drk.fits",
            "pipeline_dark": str(root / "oref" / "syn_pipe_drk.fits"), "bestrefs": {}}  # fmt: skip
    (work / "references.json").write_text(json.dumps(refs))
    outputs = {k: work / "recal" / f"{OBS}_{k}.fits" for k in ("flt", "crj")}
    written = stages.recalibrate(p, weekdark, work / "references.json", outputs, obs_id=OBS,
                                 calibrator="native")  # fmt: skip
    assert written == outputs
    return work


# ------------------------------------------------------------------ the synthetic image
def test_image_products_headers_and_index(root):
    assert sorted(p.name for p in (root / "science").glob("*.fits")) == [
        f"{OBS}_{k}.fits" for k in ("crj", "flt", "raw")
    ]
    rows = [r for r in read_index(root) if r["obs_id"] == OBS]
    assert sorted(r["kind"] for r in rows) == ["crj", "flt", "raw"]
    assert {(r["obstype"], r["obsmode"], r["target"]) for r in rows} == {
        ("IMAGING", "ACCUM", "SYNTH-FIELD")
    }
    p = science(root)
    with fits.open(p["raw"]) as raw:
        h = raw[0].header
        assert (h["OBSTYPE"], h["OPT_ELEM"], h["APERTURE"], h["CRSPLIT"], h["NEXTEND"]) == (
            "IMAGING", "MIRVIS", "50CCD", 2, 6,
        )  # fmt: skip
        assert (
            "WAVECAL" not in h and "CENWAVE" not in h and h["DARKFILE"] == "oref$syn_pipe_drk.fits"
        )
        performed = {k for k in CALSTIS_STEPS if h[k] == "PERFORM"}
        assert performed == set(imaging.PERFORMED)
        assert h["X2DCORR"] == h["GEOCORR"] == h["X1DCORR"] == h["PHOTCORR"] == "OMIT"
        assert raw["SCI", 1].data.dtype.kind == "u" and raw["SCI", 1].data.shape == (SIZE, 1060)
        raw_sci = raw["SCI", 1].header
    for kind in ("flt", "crj"):
        with fits.open(p[kind]) as prod:
            assert prod[0].header["DARKCORR"] == prod[0].header["CRCORR"] == "COMPLETE"
            assert prod[0].header["OBSTYPE"] == "IMAGING"
            sci = prod["SCI", 1].header
            # BLEVCORR trimmed 18 overscan columns: the WCS reference pixel moved with LTV
            assert sci["CRPIX1"] == raw_sci["CRPIX1"] - 18 == sci["LTV1"] + 512.5
            assert sci["CRPIX2"] == raw_sci["CRPIX2"] == sci["LTV2"] + 512.5
            assert sci["CTYPE1"] == "RA---TAN" and sci["CD2_2"] > 0 > sci["CD1_1"]
    crj = fits.getheader(p["crj"])
    assert crj["SKYSUB"] == "mode" and crj["SKYSUM"] > 0 and crj["REJ_RATE"] > 0
    # the stars are there: the brightest peaks near 2·10⁴ DN per exposure
    data = fits.getdata(p["crj"], "SCI")
    star = imaging.STARS[0]
    y, x = round(star.fy * (SIZE - 1)), round(star.fx * 1023)
    assert data[y - 1 : y + 2, x - 1 : x + 2].max() > 2e4 > 1e3 > np.median(data)


def test_science_kind_changes_only_the_science(root, tmp_path):
    """The same seed gives the same darks and references whatever the science kind."""
    spec = generate_archive(tmp_path / "s", size=SIZE, n_darks=4, seed=5)
    for name in ("darks/odark002q_flt.fits", "oref/syn_pipe_drk.fits", "oref/syn_pfl.fits"):
        assert (spec / name).read_bytes() == (root / name).read_bytes(), name
    assert fits.getval(spec / f"science/{OBS}_raw.fits", "OBSTYPE") == "SPECTROSCOPIC"
    with pytest.raises(ValueError, match="kind must be one of"):
        generate_archive(tmp_path / "x", size=SIZE, n_darks=1, science_kind="imaging")


def test_facts_record_the_obstype(root, workdir):
    p = science(root)
    assert science_facts(p["raw"], p["flt"], p["crj"])["obstype"] == "IMAGING"
    facts = json.loads((workdir / "science.json").read_text())
    assert facts["obstype"] == "IMAGING" and facts["opt_elem"] == "MIRVIS"
    assert facts["darkfile"] == "oref$syn_pipe_drk.fits" and facts["nimsets"] == 2


# ------------------------------------------------------------------ recalibration
def test_native_recalibration_removes_the_weekdark_hot_pixels(root, truth, workdir):
    p = science(root)
    recal = {k: workdir / "recal" / f"{OBS}_{k}.fits" for k in ("flt", "crj")}
    assert sorted(x.name for x in (workdir / "recal").iterdir()) == sorted(
        x.name for x in recal.values()
    )
    flat = fits.getdata(root / "oref" / "syn_pfl.fits", "SCI")
    dark_header = fits.getheader(root / "oref" / "syn_pipe_drk.fits")
    late = _late_hot_pixels(truth)
    assert len(late) >= 20
    for kind, nimsets in (("crj", 1), ("flt", 2)):
        with fits.open(p[kind]) as old, fits.open(recal[kind]) as new:
            assert new[0].header["SDCALIB"] == "native"
            assert new[0].header["DARKFILE"] == f"{OBS}_weekdark.fits"
            for k in range(1, nimsets + 1):
                h = old["SCI", k].header
                f = dark_scale_factor(h["OCCDHTAV"], h["EXPSTART"], dark_header)
                delta = old["SCI", k].data - new["SCI", k].data
                changed = np.zeros(delta.shape, bool)
                for hot in late:
                    y, x = hot["y"], hot["x"]
                    want = np.float32(hot["rate"]) * f * h["EXPTIME"] / flat[y, x]
                    assert delta[y, x] == pytest.approx(want, rel=2e-3, abs=0.02)
                    assert new["DQ", k].data[y, x] & 16
                    changed[y, x] = True
                assert np.all(delta[~changed] == 0)
    # hot in the pipeline _crj, gone from the recalibrated one
    old, new = fits.getdata(p["crj"], "SCI"), fits.getdata(recal["crj"], "SCI")
    noise = image_noise(fits.getdata(recal["crj"], "ERR"), new)
    before, after = image_hot_pixels(old, noise), image_hot_pixels(new, noise)
    planted = np.zeros(old.shape, bool)
    for hot in late:
        planted[hot["y"], hot["x"]] = True
    assert np.count_nonzero(before & planted) >= 15
    assert np.count_nonzero(after & planted) <= 1
    # nothing new is made hot; the detector keeps local maxima, so a spike beside a removed hot
    # pixel (a cosmic ray in both images, say) is found once the hot pixel no longer hides it
    for y, x in zip(*np.nonzero(after & ~before), strict=True):
        assert new[y, x] == old[y, x], (y, x)
        assert planted[max(y - 1, 0) : y + 2, max(x - 1, 0) : x + 2].any(), (y, x)


def test_an_sx1_output_needs_an_sx1(root, workdir, weekdark):
    from stisdarks.errors import InputFileError

    outputs = {k: workdir / "other" / f"{OBS}_{k}.fits" for k in ("flt", "crj", "sx1")}
    with pytest.raises(InputFileError, match="image"):
        stages.recalibrate(science(root), weekdark, workdir / "references.json", outputs,
                           obs_id=OBS, calibrator="native")  # fmt: skip


# ------------------------------------------------------------------ hot pixels, figure, summary
def test_image_hot_pixels_are_not_stars_or_galaxies(root, workdir):
    crj = workdir / "recal" / f"{OBS}_crj.fits"
    data = fits.getdata(crj, "SCI").astype(np.float64)
    noise = image_noise(fits.getdata(crj, "ERR"), data)
    ny, nx = data.shape
    centres = [(s.fy * (ny - 1) + 0.23, s.fx * (nx - 1) - 0.31) for s in imaging.STARS]
    centres += [(g.fy * (ny - 1), g.fx * (nx - 1)) for g in imaging.GALAXIES]
    ys, xs = np.nonzero(image_hot_pixels(data, noise))
    for cy, cx in centres:
        assert np.all(np.hypot(ys - cy, xs - cx) > 4)
    # a hot pixel on the sky is found, a star of the same peak is not
    y0, x0 = 60, 520
    assert not image_hot_pixels(data, noise)[y0 - 3 : y0 + 4, x0 - 3 : x0 + 4].any()
    hot, star = data.copy(), data.copy()
    sky = np.median(data[y0 - 2 : y0 + 3, x0 - 2 : x0 + 3])  # 8 sigma above the sky, whatever
    hot[y0, x0] = sky + 8 * noise[y0, x0]  # the noise left in the pixel itself
    stamp = np.zeros((ny, nx))
    imaging._add_star(stamp, y0, x0, 1.0)
    star += stamp * (40 * noise[y0, x0] / stamp.max())
    assert image_hot_pixels(hot, noise)[y0, x0]
    assert not image_hot_pixels(star, noise)[y0 - 3 : y0 + 4, x0 - 3 : x0 + 4].any()


def test_image_figure(root, workdir):
    assert stages.FIGURE_INPUTS["image"] == ("pipeline_crj", "recal_crj")
    out = workdir / "figures" / "image_comparison.png"
    out.parent.mkdir(exist_ok=True)
    done = stages.figures(OBS, {"image": out}, pipeline_crj=science(root)["crj"],
                          recal_crj=workdir / "recal" / f"{OBS}_crj.fits")  # fmt: skip
    assert done == {"image": out}
    assert out.read_bytes()[:4] == b"\x89PNG" and out.stat().st_size > 20_000


def test_summary_counts_drop_over_the_whole_image(root, workdir, weekdark, truth):
    work = workdir
    (work / "period.json").write_text(
        json.dumps({**truth["period"], "source": "synthetic archive"})
    )
    for name in ("darks_used.csv", "week.csv"):
        (work / name).write_text("rootname\nodark002q\nodark003q\n")
    out = work / "summary.json"
    stages.summary(out, science=work / "science.json", period=work / "period.json",
                   darks_used=work / "darks_used.csv", week=work / "week.csv", basedark=weekdark,
                   weekdark=weekdark, references=work / "references.json",
                   pipeline_crj=science(root)["crj"], recal_crj=work / "recal" / f"{OBS}_crj.fits")  # fmt: skip
    data = json.loads(out.read_text())
    assert data["kind"] == "image" and data["calibrator"] == "native"
    assert "spectrum_change" not in data and "science_extraction_region" not in data
    counts = data["science_image"]
    assert counts["pixels"] == (SIZE - 4) * (1024 - 4)
    assert counts["hot_pixels_recalibrated"] < counts["hot_pixels_pipeline"]
    assert (
        counts["removed"] == counts["hot_pixels_pipeline"] - counts["hot_pixels_recalibrated"] >= 15
    )
    assert "sharper than a star" in counts["definition"]


# ------------------------------------------------------------------ against hstcal's calstis
def _run_cs0(root: Path, workdir: Path) -> Path:
    shutil.copyfile(root / f"science/{OBS}_raw.fits", workdir / f"{OBS}_raw.fits")
    env = {**__import__("os").environ, "oref": f"{root / 'oref'}/"}
    proc = subprocess.run(["cs0.e", f"{OBS}_raw.fits"], cwd=workdir, env=env, capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "ERROR" not in proc.stdout
    return workdir


@needs_calstis
@pytest.mark.parametrize(
    "readout",
    [None, {"size": 1024}, {"size": 1024, "science_bin": (2, 1), "science_gain": 4},
     {"size": 96, "science_rows": 48, "science_gain": 4}],
    ids=["subarray", "full-frame", "binned-2x1-gain4", "science-subarray-of-the-darks-gain4"],
)  # fmt: skip
def test_calstis_makes_the_image_products(root, tmp_path_factory, readout):
    """The image's _crj and _flt are what cs0.e makes of its _raw, and it makes nothing else."""
    if readout is not None:
        root = generate_archive(tmp_path_factory.mktemp("ro") / "a", n_darks=2, seed=8,
                                science_kind="image", **readout)  # fmt: skip
    out = _run_cs0(root, tmp_path_factory.mktemp("cs0"))
    assert sorted(p.name for p in out.glob(f"{OBS}_*.fits")) == [
        f"{OBS}_{k}.fits" for k in ("crj", "flt", "raw")
    ]
    for kind, nimsets in (("crj", 1), ("flt", 2)):
        mine, ref = root / f"science/{OBS}_{kind}.fits", out / f"{OBS}_{kind}.fits"
        assert_calstis_products(
            mine, ref, nimsets, (*IMAGE_SET_KEYS, "CRPIX1", "CRPIX2", "CD1_1", "CD2_2")
        )
        if kind == "crj":
            for key in ("SKYSUM", "REJ_RATE"):
                assert fits.getval(mine, key) == pytest.approx(fits.getval(ref, key), rel=1e-6), key


@needs_calstis
@pytest.mark.parametrize(
    "readout",
    [
        {"size": 48},
        {"size": 96, "science_rows": 48, "science_gain": 4},
        {"size": 1024, "science_bin": (2, 1), "science_gain": 4},
    ],
    ids=["same-readout", "subarray-of-the-darks-gain4", "binned-2x1-gain4"],
)
def test_native_image_recalibration_equals_calstis(tmp_path, monkeypatch, readout):
    """Native dark swap vs calstis run now, on an image, to the spectra's tolerances.

    calstis gets a raw with GEOCORR = PERFORM, as MAST's images have (and IDCTAB = N/A):
    the recalibration sets it OMIT in its copy, since only the _flt and _crj are wanted.
    """
    from stisdarks.calibrators import recalibrate
    from stisdarks.engines.native import make_basedark, make_weekdark

    root = generate_archive(tmp_path / "a", n_darks=6, seed=23, science_kind="image", **readout)
    oref = root / "oref"
    monkeypatch.setenv("oref", f"{oref}/")
    darks = sorted((root / "darks").glob("odark*_flt.fits"))
    make_basedark(darks, tmp_path / "basedark.fits")
    week = make_weekdark(darks[-3:], tmp_path / "basedark.fits", tmp_path / "weekdark.fits")
    p = science(root)
    raw = tmp_path / f"{OBS}_raw.fits"
    shutil.copy(p["raw"], raw)
    fits.setval(raw, "GEOCORR", value="PERFORM")
    common = dict(raw=raw, flt=p["flt"], crj=p["crj"], sx1=None, weekdark=week,
                  pipeline_dark=oref / "syn_pipe_drk.fits", oref_dir=oref, obs_id=OBS)  # fmt: skip
    native = recalibrate(**common, outdir=tmp_path / "native", calibrator="native")
    calstis = recalibrate(**common, outdir=tmp_path / "calstis", calibrator="calstis")
    assert set(native) == set(calstis) == {"flt", "crj"}
    assert fits.getval(calstis["crj"], "GEOCORR") == "OMIT"
    changed = 0
    for kind, nimsets in (("flt", 2), ("crj", 1)):
        changed += assert_recalibrations_agree(native[kind], calstis[kind], p[kind], nimsets)
    assert changed >= 10  # the weekdark changed the image: the comparison could fail
