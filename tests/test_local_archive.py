"""The synthetic archive and the local archive over it (or over a plain directory of files)."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest
from astropy.io import fits

from stisdarks.archive.local import LocalArchive
from stisdarks.errors import ArchiveError, InputFileError
from stisdarks.periods import find_period
from stisdarks.synthetic import generate_archive


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return generate_archive(tmp_path_factory.mktemp("local") / "a", size=64, n_darks=8, seed=3)


def test_generation_is_deterministic(root, tmp_path):
    again = generate_archive(tmp_path / "b", size=64, n_darks=8, seed=3)
    for name in (
        "darks/odark005q_flt.fits",
        "science/odemo1010_crj.fits",
        "oref/syn_pipe_drk.fits",
    ):
        np.testing.assert_array_equal(fits.getdata(root / name, 1), fits.getdata(again / name, 1))
    other = generate_archive(tmp_path / "c", size=64, n_darks=8, seed=4)
    assert not np.array_equal(fits.getdata(root / "darks/odark005q_flt.fits", 1),
                              fits.getdata(other / "darks/odark005q_flt.fits", 1))  # fmt: skip


def test_hot_pixels_turn_on_and_the_pipeline_dark_misses_late_ones(root):
    truth = json.loads((root / "truth.json").read_text())
    pipe = fits.getdata(root / "oref/syn_pipe_drk.fits", "SCI")
    late = [h for h in truth["hot_pixels"] if h["onset_mjd"] > truth["pipeline_dark_mjd"]]
    early = [h for h in truth["hot_pixels"] if h["onset_mjd"] < truth["period"]["start_mjd"]]
    assert late and early
    assert all(pipe[h["y"], h["x"]] < 0.05 for h in late)
    assert np.median([pipe[h["y"], h["x"]] / h["rate"] for h in early]) == pytest.approx(
        1, rel=0.05
    )
    first = fits.open(root / "darks/odark000q_flt.fits")
    last = fits.open(root / "darks/odark007q_flt.fits")
    h = max(late, key=lambda h: h["rate"])
    t_first, t_last = first[0].header["TEXPSTRT"], last[0].header["TEXPSTRT"]
    if t_first < h["onset_mjd"] < t_last:
        assert last["SCI"].data[h["y"], h["x"]] > first["SCI"].data[h["y"], h["x"]] + 50


def test_headers_look_like_stis(root):
    hdr = fits.getheader(root / "darks/odark000q_flt.fits", 0)
    for key in ("ROOTNAME", "TEXPSTRT", "TEXPEND", "CCDGAIN", "ATODGAIN", "READNSE", "CCDAMP", "BINAXIS1",
                "PROPOSID", "PROPTTL1", "CRREJTAB"):  # fmt: skip
        assert key in hdr, key
    assert hdr["TARGNAME"] == "DARK" and hdr["BLEVCORR"] == "COMPLETE"
    raw = fits.open(root / "science/odemo1010_raw.fits")
    assert raw[0].header["CRSPLIT"] == 2 and raw["SCI", 2].data.shape == (64, 64 + 38)
    sx1 = fits.getdata(root / "science/odemo1010_sx1.fits", 1)
    for col in ("WAVELENGTH", "FLUX", "NET", "GROSS", "BACKGROUND", "EXTRLOCY", "EXTRSIZE"):
        assert col in sx1.columns.names


def test_local_archive_queries(root):
    archive = LocalArchive(root)
    obs = archive.find_science("odemo1010")
    assert set(obs.products) == {"raw", "wav", "flt", "crj", "sx1"} and obs.detector == "CCD"
    period = find_period(obs.start_mjd, archive=archive)
    darks = archive.list_darks(period.start_mjd, period.end_mjd)
    roots = {d.rootname for d in darks}
    assert {f"odark{i:03d}q" for i in range(8)} <= roots
    assert not any(r.startswith(("odsht", "odout")) for r in roots)  # 60 s; outside the period
    assert {d.ccdgain for d in darks if d.rootname.startswith("odgn4")} == {4}
    assert archive.anneal_periods()[0].start_mjd == pytest.approx(period.start_mjd)
    with pytest.raises(ArchiveError, match="is not in the local archive"):
        archive.find_science("odemo1011")


def test_download_verifies_copies_and_never_modifies(root, tmp_path):
    archive = LocalArchive(root)
    product = archive.find_science("odemo1010").products["crj"]
    source = root / "science" / product.filename
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    dest = archive.download(product, tmp_path / product.filename)
    assert dest.read_bytes() == source.read_bytes()
    dest.write_bytes(dest.read_bytes()[:2880])  # truncated on disk: fetched again
    archive.download(product, dest)
    assert dest.read_bytes() == source.read_bytes()
    assert hashlib.sha256(source.read_bytes()).hexdigest() == digest


def test_corrupt_archive_file_is_a_clear_error(root, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    bad = copy / "science" / "odemo1010_sx1.fits"
    bad.write_bytes(bad.read_bytes()[:1000])
    archive = LocalArchive(copy)
    with pytest.raises(InputFileError, match="the local archive's copy is bad") as err:
        archive.download(archive.find_science("odemo1010").products["sx1"], tmp_path / "x_sx1.fits")
    assert "\n" not in str(err.value) and not (tmp_path / "x_sx1.fits").exists()


def test_plain_directory_is_indexed_from_headers(root, tmp_path):
    plain = tmp_path / "downloads"
    plain.mkdir()
    for name in ("darks/odark001q_flt.fits", "darks/odark002q_flt.fits", "science/odemo1010_raw.fits",
                 "science/odemo1010_flt.fits"):  # fmt: skip
        shutil.copy(root / name, plain)
    archive = LocalArchive(plain)
    assert set(archive.find_science("odemo1010").products) == {"raw", "flt"}
    assert {d.rootname for d in archive.list_darks(59000, 60000)} == {"odark001q", "odark002q"}


def test_mama_observation_is_refused(root, tmp_path):
    plain = tmp_path / "mama"
    plain.mkdir()
    target = plain / "omama0010_raw.fits"
    shutil.copy(root / "science/odemo1010_raw.fits", target)
    with fits.open(target, mode="update") as h:
        h[0].header["DETECTOR"] = "FUV-MAMA"
        h[0].header["ROOTNAME"] = "omama0010"
    with pytest.raises(ArchiveError, match="only STIS CCD observations are supported"):
        LocalArchive(plain).find_science("omama0010")
