"""Reference files: a local archive's oref/, an offline CRDS cache, and the errors without one."""

from __future__ import annotations

import hashlib
import shutil

import pytest

from stisdarks.errors import StisDarksError
from stisdarks.references import apply_bestrefs, fetch_reference, oref_dir, sync_references
from stisdarks.synthetic import generate_archive


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return generate_archive(tmp_path_factory.mktemp("refs") / "a", size=64, n_darks=4, seed=2)


def test_local_archive_references_are_copied_into_the_cache(root, tmp_path):
    raw = root / "science" / "odemo1010_raw.fits"
    before = hashlib.sha256(raw.read_bytes()).hexdigest()
    refs = sync_references(raw, tmp_path / "crds", archive_oref=root / "oref")
    assert refs["DARKFILE"] == oref_dir(tmp_path / "crds") / "syn_pipe_drk.fits"
    assert {"CCDTAB", "CRREJTAB", "BIASFILE", "PFLTFILE"} <= set(refs)
    assert all(p.is_file() for p in refs.values())
    assert hashlib.sha256(raw.read_bytes()).hexdigest() == before, "the raw file was modified"


def test_offline_cache_works_and_names_what_is_missing(root, tmp_path):
    raw = root / "science" / "odemo1010_raw.fits"
    cache = tmp_path / "crds"
    with pytest.raises(StisDarksError, match="crds.mode is local and .*syn_pipe_drk.fits") as err:
        sync_references(raw, cache, mode="local")
    assert "\n" not in str(err.value)
    shutil.copytree(root / "oref", oref_dir(cache), dirs_exist_ok=True)
    refs = sync_references(raw, cache, mode="local")
    assert refs["DARKFILE"].name == "syn_pipe_drk.fits"
    assert fetch_reference("oref$syn_pipe_drk.fits", cache, mode="local").is_file()
    with pytest.raises(StisDarksError, match="not in the CRDS cache"):
        fetch_reference("oref$nope_drk.fits", cache, mode="local")


def test_bestrefs_are_written_into_a_copy_only(root, tmp_path):
    copy = tmp_path / "odemo1010_raw.fits"
    shutil.copy(root / "science" / "odemo1010_raw.fits", copy)
    apply_bestrefs(copy, {"DARKFILE": tmp_path / "odemo1010_wkd_drk.fits"})
    from astropy.io import fits

    assert fits.getval(copy, "DARKFILE") == "oref$odemo1010_wkd_drk.fits"
    assert (
        fits.getval(root / "science" / "odemo1010_raw.fits", "DARKFILE") == "oref$syn_pipe_drk.fits"
    )
