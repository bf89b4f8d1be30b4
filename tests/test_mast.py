"""The MAST archive through astroquery's real code, against a local MAST-shaped server."""

from __future__ import annotations

import hashlib

import pytest

from stisdarks.archive.mast import MastArchive
from stisdarks.errors import ArchiveError, StisDarksError
from stisdarks.periods import find_period
from stisdarks.synthetic import generate_archive

from mast_server import MastServer, MastState

OBS = "odemo1010"


@pytest.fixture(scope="module")
def archive_dir(tmp_path_factory):
    return generate_archive(tmp_path_factory.mktemp("mast") / "archive", size=64, n_darks=10, seed=5,
                            extra_obs_ids=("odemo1020",))  # fmt: skip


@pytest.fixture
def server(archive_dir):
    state = MastState()
    state.add_archive(archive_dir)
    state.add_observation(obs_id="omama1010", obsid="3000000001", instrument_name="STIS/FUV-MAMA",
                          target_name="STAR", t_min=59330.0, t_max=59330.1, t_exptime=600.0)  # fmt: skip
    with MastServer(state) as srv:
        yield srv


def mast(server, **kw) -> MastArchive:
    return MastArchive(server=server.url, retries=kw.pop("retries", 3), backoff=0.01, **kw)


def test_find_science_uses_the_local_server(server):
    obs = mast(server).find_science(OBS)
    assert obs.detector == "CCD" and set(obs.products) == {"raw", "wav", "flt", "crj", "sx1"}
    assert obs.products["sx1"].uri == f"mast:HST/product/{OBS}_sx1.fits"
    assert any(p.endswith("/columnsconfig") for p in server.state.requests)
    assert any(p.endswith("/api/v0/invoke") for p in server.state.requests)


def test_unknown_and_mama_observations_are_one_line(server):
    with pytest.raises(ArchiveError, match="was not found in MAST") as err:
        mast(server).find_science("onope0000")
    assert "\n" not in str(err.value)
    with pytest.raises(ArchiveError, match="only STIS CCD observations are supported"):
        mast(server).find_science("omama1010")


def test_list_darks_by_window_and_exposure_time(server, archive_dir):
    period = find_period(59330.0)
    darks = mast(server).list_darks(period.start_mjd, period.end_mjd, 1100.0, 1.0)
    roots = {d.rootname for d in darks}
    assert {f"odark{i:03d}q" for i in range(10)} <= roots
    assert not any(
        r.startswith(("odsht", "odout")) for r in roots
    )  # 60 s darks, outside the period
    assert any(
        r.startswith("odgn4") for r in roots
    )  # MAST does not list the gain: the header check drops it
    assert all(d.ccdamp is None and d.product.size for d in darks)
    assert mast(server).list_darks(50000.0, 50010.0) == []


def test_downloads_once_and_resume(server, tmp_path):
    archive = mast(server)
    period = find_period(59330.0)
    darks = archive.list_darks(period.start_mjd, period.end_mjd)
    paths = archive.download_many([d.product for d in darks], tmp_path, max_workers=3)
    assert len(paths) == len(darks) and all(p.is_file() for p in paths)
    assert set(server.state.downloads.values()) == {1}
    again = mast(server).download_many([d.product for d in darks], tmp_path)
    assert sorted(again) == sorted(paths) and set(server.state.downloads.values()) == {1}, (
        "re-downloaded"
    )


@pytest.mark.parametrize("fault", ["500", "truncate", "drop"])
def test_transient_faults_are_retried(server, tmp_path, fault, archive_dir):
    obs = mast(server).find_science(OBS)
    product = obs.products["crj"]
    server.state.faults[product.filename] = [fault]
    path = mast(server).download(product, tmp_path / product.filename)
    assert server.state.downloads[product.filename] == 2
    assert hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(
        (archive_dir / "science" / product.filename).read_bytes()).digest()  # fmt: skip
    assert not list(tmp_path.glob(".tmp-*"))


def test_persistent_failure_is_one_line_and_keeps_valid_files(server, tmp_path):
    archive = mast(server, retries=2)
    obs = archive.find_science(OBS)
    good = archive.download(obs.products["flt"], tmp_path / obs.products["flt"].filename)
    before = good.read_bytes()
    bad = obs.products["raw"]
    server.state.faults[bad.filename] = ["500", "500"]
    with pytest.raises(ArchiveError, match="could not download .* after 2 attempts") as err:
        archive.download(bad, tmp_path / bad.filename)
    assert "\n" not in str(err.value)
    assert not (tmp_path / bad.filename).exists() and good.read_bytes() == before


def test_a_corrupt_file_on_disk_is_fetched_again(server, tmp_path):
    archive = mast(server)
    product = archive.find_science(OBS).products["sx1"]
    dest = tmp_path / product.filename
    dest.write_bytes(b"SIMPLE  = garbage" * 10)
    archive.download(product, dest)
    assert server.state.downloads[product.filename] == 1 and dest.stat().st_size == product.size


def test_period_without_darks_gives_the_selection_error(server, tmp_path):
    from stisdarks import stages
    from stisdarks.science import write_json

    write_json(
        tmp_path / "period.json", {"start_mjd": 50000.0, "end_mjd": 50028.0, "source": "config"}
    )
    write_json(
        tmp_path / "science.json", {"ccdgain": 1, "ccdamp": "D", "binaxis1": 1, "binaxis2": 1}
    )
    with pytest.raises(StisDarksError, match="at least 2 are needed"):
        stages.period_darks(mast(server), tmp_path / "period.json", tmp_path / "science.json",
                            tmp_path / "darks.csv", exptime=1100.0, exptime_tolerance=1.0)  # fmt: skip
    assert not (tmp_path / "darks.csv").exists()


def test_anneal_periods_from_the_anneal_monitor(server):
    for k, t in enumerate((59311.1, 59311.2, 59339.6, 59339.7, 59367.5)):
        server.state.add_observation(obs_id=f"oanl{k:05d}", obsid=f"40000000{k}", instrument_name="STIS/CCD",
                                     target_name="BIAS", t_min=t, t_max=t + 0.01, t_exptime=0.0,
                                     obs_title="CCD Hot Pixel Annealing")  # fmt: skip
    periods = mast(server).anneal_periods()
    assert [(p.start_mjd, p.end_mjd) for p in periods] == [(59311.1, 59339.6), (59339.6, 59367.5)]
    assert periods[0].source.startswith("archive:mast")
