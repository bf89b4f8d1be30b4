"""The local archive over the synthetic archive (its index.csv) or over a plain directory of files."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from astropy.io import fits

from stisdarks.archive.local import LocalArchive
from stisdarks.errors import ArchiveError, InputFileError
from stisdarks.periods import find_period
from stisdarks.synthetic import generate_archive


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return generate_archive(tmp_path_factory.mktemp("local") / "a", size=64, n_darks=8, seed=3)


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
    with pytest.raises(ArchiveError, match="is not in the local archive") as err:
        archive.find_science("odemo1011")
    assert "did you mean odemo1010" in str(err.value) and "\n" not in str(err.value)


def test_list_darks_returns_exactly_the_matching_set(root):
    archive = LocalArchive(root)
    truth = json.loads((root / "truth.json").read_text())
    start, end = truth["period"]["start_mjd"], truth["period"]["end_mjd"]
    darks = archive.list_darks(start, end)
    expected = {f"odark{i:03d}q" for i in range(8)} | {"odgn4000q", "odgn4001q", "odgn4002q"}
    expected |= {"odamp000q", "odamp001q"}  # gain/amp filtering is the selection's job
    assert {d.rootname for d in darks} == expected
    assert [d.start_mjd for d in darks] == sorted(d.start_mjd for d in darks)
    assert all(start <= d.start_mjd < end and d.exptime == 1100.0 for d in darks)
    assert {(d.ccdamp, d.binaxis1, d.binaxis2) for d in darks} == {("D", 1, 1), ("A", 1, 1)}
    assert all(d.product.kind == "flt" and Path(d.product.uri).is_file() for d in darks)
    assert {d.rootname for d in archive.list_darks(start, end, exptime=60.0)} == {
        "odsht000q", "odsht001q", "odsht002q"}  # fmt: skip
    wide = {d.rootname for d in archive.list_darks(start - 1, end + 1)}
    assert wide == expected | {"odout000q", "odout001q"}
    first = darks[0]
    assert {d.rootname for d in archive.list_darks(first.start_mjd, first.start_mjd + 1e-6)} == {
        first.rootname}  # fmt: skip
    assert archive.list_darks(first.start_mjd - 1e-6, first.start_mjd) == []  # end is exclusive


def test_reference_path_and_oref_dir(root):
    archive = LocalArchive(root)
    assert archive.reference_path("oref$syn_pipe_drk.fits") == root / "oref" / "syn_pipe_drk.fits"
    assert archive.reference_path("j3m1403io_crr.fits") == root / "oref" / "j3m1403io_crr.fits"
    assert archive.reference_path("oref$missing_drk.fits") is None
    assert archive.oref_dir == root / "oref"


def test_missing_root_is_a_clear_error(tmp_path):
    with pytest.raises(ArchiveError, match="does not exist"):
        LocalArchive(tmp_path / "nowhere")


def test_download_verifies_copies_and_never_modifies(root, tmp_path):
    archive = LocalArchive(root)
    product = archive.find_science("odemo1010").products["crj"]
    source = root / "science" / product.filename
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    dest = archive.download(product, tmp_path / product.filename)
    assert dest.read_bytes() == source.read_bytes()
    before = dest.stat().st_mtime_ns
    assert archive.download(product, dest) == dest and dest.stat().st_mtime_ns == before  # kept
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
    (plain / ".tmp-odark003q_flt-x1y2.fits").write_bytes(b"partial")  # an interrupted copy
    (plain / "notes.fits").write_bytes(b"")
    archive = LocalArchive(plain)
    obs = archive.find_science("odemo1010")
    assert set(obs.products) == {"raw", "flt"} and obs.detector == "CCD" and obs.exptime == 1800.0
    assert obs.start_mjd == pytest.approx(fits.getval(plain / "odemo1010_raw.fits", "TEXPSTRT"))
    dark = archive.list_darks(59000, 60000)[0]
    assert (dark.ccdgain, dark.ccdamp, dark.binaxis1, dark.proposid) == (1, "D", 1, 16511)
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


def test_a_period_job_fetches_its_darks_and_the_superdarks_find_them(root, tmp_path):
    """period_darks lists and fetches in one go (darks.csv written last); a dark deleted later
    is named with the fix that fetches it again, and only it."""
    from stisdarks.periods import period_to_json
    from stisdarks.science import science_facts, write_json
    from stisdarks.stages import dark_paths, period_darks

    archive = LocalArchive(root)
    science = {k: root / "science" / f"odemo1010_{k}.fits" for k in ("raw", "flt", "crj")}
    facts = science_facts(science["raw"], science["flt"], science["crj"])
    write_json(tmp_path / "science.json", facts)
    write_json(
        tmp_path / "period.json", period_to_json(find_period(facts["start_mjd"], archive=archive))
    )
    darks_csv, dark_dir = tmp_path / "darks.csv", tmp_path / "darks"
    period_darks(archive, tmp_path / "period.json", tmp_path / "science.json", darks_csv,
                 exptime=1100, exptime_tolerance=1, dark_dir=dark_dir, connections=3)  # fmt: skip
    paths = dark_paths(darks_csv, dark_dir)
    assert sorted(p.name for p in paths) == [f"odark{i:03d}q_flt.fits" for i in range(8)]
    assert sorted(p.name for p in dark_dir.iterdir()) == sorted(p.name for p in paths)
    paths[2].unlink()
    with pytest.raises(InputFileError, match="1 dark.s. listed in .* are missing") as err:
        dark_paths(darks_csv, dark_dir)
    assert paths[2].name in str(err.value) and "--forcerun period_darks" in str(err.value)
    mtimes = {p: p.stat().st_mtime_ns for p in paths if p.exists()}
    period_darks(archive, tmp_path / "period.json", tmp_path / "science.json", darks_csv,
                 exptime=1100, exptime_tolerance=1, dark_dir=dark_dir)  # fmt: skip
    assert paths[2].is_file() and all(p.stat().st_mtime_ns == t for p, t in mtimes.items())


def test_read_index_root_file_or_one_per_directory(tmp_path):
    """An index at the root wins; else the index of each directory below it, together."""
    from stisdarks.archive.local import read_index

    root = tmp_path / "a"
    assert read_index(root) is None
    for sub, obs in (("x", "o1"), ("y", "o2")):
        (root / sub).mkdir(parents=True)
        (root / sub / "index.csv").write_text(f"obs_id,kind\n{obs},raw\n")
    assert [r["obs_id"] for r in read_index(root)] == ["o1", "o2"]
    (root / "index.csv").write_text("obs_id,kind\no3,flt\n")
    assert [r["obs_id"] for r in read_index(root)] == ["o3"]
