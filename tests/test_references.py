"""Reference files: a local archive's oref/, CRDS caches laid out as CRDS lays them out, and the errors."""

from __future__ import annotations

import hashlib
import pprint
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from astropy.io import fits

from stisdarks.errors import StisDarksError
from stisdarks.references import (
    apply_bestrefs,
    fetch_reference,
    oref_dir,
    reference_dir,
    sync_references,
)
from stisdarks.synthetic import generate_archive

#: CDBS-style STIS names (rootname ending in "o"), as CRDS files them under references/hst/stis
DARK = "21a1200fo_drk.fits"
CRR = "j3m1403io_crr.fits"


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return generate_archive(tmp_path_factory.mktemp("refs") / "a", size=64, n_darks=4, seed=2)


def _rmap(kind: str, reference: str) -> str:
    return f"""header = {{
    'classes' : ('Match', 'UseAfter'),
    'derived_from' : 'stisdarks tests',
    'filekind' : '{kind.upper()}',
    'instrument' : 'STIS',
    'mapping' : 'REFERENCE',
    'name' : 'hst_stis_{kind}_0001.rmap',
    'observatory' : 'HST',
    'parkey' : (('DETECTOR',), ('DATE-OBS', 'TIME-OBS')),
    'sha1sum' : 'x',
}}

selector = Match({{
    ('CCD',) : UseAfter({{
        '1997-01-01 00:00:00' : '{reference}',
    }}),
}})
"""


def crds_cache(cache: Path, root: Path, *, with_dark: bool = True) -> Path:
    """A CRDS cache as a synced CRDS leaves it, without any server: rules, config, references.

    ``mappings/hst`` (a pmap, the STIS imap, DARKFILE and CRREJTAB rmaps with valid
    checksums), ``config/hst/server_config`` and ``references/hst/stis/`` — no ``oref``.
    """
    from crds.refactoring.checksum import update_checksum

    maps = cache / "mappings" / "hst"
    stis = cache / "references" / "hst" / "stis"
    cfg = cache / "config" / "hst"
    for d in (maps, stis, cfg):
        d.mkdir(parents=True)
    (maps / "hst_0001.pmap").write_text(
        "header = {\n    'derived_from' : 'stisdarks tests',\n    'mapping' : 'PIPELINE',\n"
        "    'name' : 'hst_0001.pmap',\n    'observatory' : 'HST',\n    'parkey' : ('INSTRUME',),\n"
        "    'sha1sum' : 'x',\n}\n\nselector = {\n    'STIS' : 'hst_stis_0001.imap',\n}\n"
    )
    (maps / "hst_stis_0001.imap").write_text(
        "header = {\n    'derived_from' : 'stisdarks tests',\n    'instrument' : 'STIS',\n"
        "    'mapping' : 'INSTRUMENT',\n    'name' : 'hst_stis_0001.imap',\n    'observatory' : 'HST',\n"
        "    'parkey' : ('REFTYPE',),\n    'sha1sum' : 'x',\n}\n\nselector = {\n"
        "    'crrejtab' : 'hst_stis_crrejtab_0001.rmap',\n    'darkfile' : 'hst_stis_darkfile_0001.rmap',\n}\n"
    )
    (maps / "hst_stis_darkfile_0001.rmap").write_text(_rmap("darkfile", DARK))
    (maps / "hst_stis_crrejtab_0001.rmap").write_text(_rmap("crrejtab", CRR))
    for mapping in maps.iterdir():
        update_checksum(str(mapping))
    info = dict(observatory="hst", operational_context="hst_0001.pmap", edit_context="hst_0001.pmap",
                bad_files="", bad_files_list=[], force_remote_mode=False, last_synced="2024-01-01 00:00:00")  # fmt: skip
    (cfg / "server_config").write_text(pprint.pformat(info))
    for ref in (root / "oref").iterdir():  # the types these rules leave to the header
        if ref.name != "syn_pipe_drk.fits":
            shutil.copyfile(ref, stis / ref.name)
    if with_dark:
        shutil.copyfile(root / "oref" / "syn_pipe_drk.fits", stis / DARK)
    return cache


def test_local_archive_references_are_copied_into_the_cache(root, tmp_path):
    raw = root / "science" / "odemo1010_raw.fits"
    before = hashlib.sha256(raw.read_bytes()).hexdigest()
    cache = tmp_path / "crds"
    refs = sync_references(raw, cache, archive_oref=root / "oref")
    stis = cache / "references" / "hst" / "stis"
    assert (
        refs["DARKFILE"]
        == oref_dir(cache) / "syn_pipe_drk.fits"
        == reference_dir(cache) / "syn_pipe_drk.fits"
    )
    assert refs["DARKFILE"].parent.resolve() == stis.resolve(), (
        "not where CRDS keeps STIS references"
    )
    assert (cache / "references" / "hst" / "oref").resolve() == stis.resolve(), (
        "oref does not lead to stis/"
    )
    assert {"CCDTAB", "CRREJTAB", "BIASFILE", "PFLTFILE"} <= set(refs)
    assert all(p.is_file() for p in refs.values())
    assert hashlib.sha256(raw.read_bytes()).hexdigest() == before, "the raw file was modified"
    # once the cache records its layout, finding the directory does not import crds (1 s)
    probe = (
        "import sys; from stisdarks.references import oref_dir; "
        f"print(oref_dir({str(cache)!r})); print('crds' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.split() == [str(stis.absolute()), "False"]


def test_offline_cache_works_and_names_what_is_missing(root, tmp_path):
    raw = root / "science" / "odemo1010_raw.fits"
    cache = tmp_path / "crds"
    with pytest.raises(
        StisDarksError,
        match=r"14 references \(j3m1403io_crr.fits, .* more\) are not in the CRDS cache .*crds.mode is local",
    ) as err:
        sync_references(raw, cache, mode="local")
    assert "\n" not in str(err.value)
    shutil.copytree(root / "oref", oref_dir(cache), dirs_exist_ok=True)
    (oref_dir(cache) / "syn_bia.fits").unlink()
    with pytest.raises(StisDarksError, match="syn_bia.fits is not in the CRDS cache"):
        sync_references(raw, cache, mode="local")
    shutil.copy(root / "oref" / "syn_bia.fits", oref_dir(cache))
    refs = sync_references(raw, cache, mode="local")
    assert refs["DARKFILE"].name == "syn_pipe_drk.fits"
    assert fetch_reference("oref$syn_pipe_drk.fits", cache, mode="local").is_file()
    with pytest.raises(StisDarksError, match="not in the CRDS cache"):
        fetch_reference("oref$nope_drk.fits", cache, mode="local")


def test_a_cache_with_an_oref_directory_of_its_own_still_works(root, tmp_path):
    """A cache an older stisdarks (or a user) filled under references/hst/oref, a real directory."""
    raw = root / "science" / "odemo1010_raw.fits"
    cache = tmp_path / "crds"
    legacy = cache / "references" / "hst" / "oref"
    shutil.copytree(root / "oref", legacy)
    refs = sync_references(raw, cache, mode="local")
    stis = (cache / "references" / "hst" / "stis").resolve()
    assert oref_dir(cache).resolve() == stis and not legacy.is_symlink()
    assert all(p.is_file() and p.parent.resolve() == stis for p in refs.values()), (
        "calstis' oref lacks them"
    )
    assert fetch_reference("oref$syn_pipe_drk.fits", cache, mode="local") == refs["DARKFILE"]


def test_fresh_crds_cache_bestrefs_from_crds_rules_offline(root, tmp_path):
    """CRDS (offline) picks the references from its rules and its STIS directory serves as oref."""
    cache = crds_cache(tmp_path / "crds", root)
    assert not (cache / "references" / "hst" / "oref").exists()
    raw = root / "science" / "odemo1010_raw.fits"
    refs = sync_references(raw, cache, mode="local")
    stis = (cache / "references" / "hst" / "stis").resolve()
    assert refs["DARKFILE"] == stis / DARK and refs["CRREJTAB"] == stis / CRR, (
        "CRDS' choice not used"
    )
    assert all(p.is_file() and p.parent.resolve() == stis for p in refs.values())
    assert oref_dir(cache).resolve() == stis
    oref = cache / "references" / "hst" / "oref"
    assert oref.is_symlink() and oref.resolve() == stis, "CRDS' legacy oref link is missing"
    assert fetch_reference(f"oref${DARK}", cache, mode="local") == stis / DARK
    assert fits.getval(raw, "DARKFILE") == "oref$syn_pipe_drk.fits", "the raw file was modified"


def test_crds_rules_naming_a_reference_absent_from_the_cache(root, tmp_path):
    cache = crds_cache(tmp_path / "crds", root, with_dark=False)
    with pytest.raises(StisDarksError, match=f"{DARK} is not in the CRDS cache .*stis") as err:
        sync_references(root / "science" / "odemo1010_raw.fits", cache, mode="local")
    assert "\n" not in str(err.value)


def test_crds_error_count_is_not_ignored(root, tmp_path):
    cache = crds_cache(tmp_path / "crds", root)
    rmap = cache / "mappings" / "hst" / "hst_stis_darkfile_0001.rmap"
    rmap.write_text(
        rmap.read_text().replace(DARK, "21a1200go_drk.fits")
    )  # checksum no longer matches
    with pytest.raises(
        StisDarksError, match=r"CRDS reported \d+ error\(s\) .*sync the cache again"
    ) as err:
        sync_references(root / "science" / "odemo1010_raw.fits", cache, mode="local")
    assert "\n" not in str(err.value)


def test_unreachable_crds_server_is_one_line_not_systemexit(root, tmp_path):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(
        StisDarksError,
        match=f"CRDS could not reach its server http://localhost:{port} .*check crds.server .*crds.mode: local",
    ) as err:
        sync_references(root / "science" / "odemo1010_raw.fits", tmp_path / "crds", mode="auto",
                        server_url=f"http://localhost:{port}")  # fmt: skip
    assert "\n" not in str(err.value)


def test_bestrefs_are_written_into_a_copy_only(root, tmp_path):
    copy = tmp_path / "odemo1010_raw.fits"
    shutil.copy(root / "science" / "odemo1010_raw.fits", copy)
    apply_bestrefs(copy, {"DARKFILE": tmp_path / "odemo1010_wkd_drk.fits"})

    assert fits.getval(copy, "DARKFILE") == "oref$odemo1010_wkd_drk.fits"
    assert (
        fits.getval(root / "science" / "odemo1010_raw.fits", "DARKFILE") == "oref$syn_pipe_drk.fits"
    )
