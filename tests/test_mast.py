"""The MAST archive through astroquery's real code, against a local MAST-shaped server."""

from __future__ import annotations

import hashlib
import time

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
    with pytest.raises(
        ArchiveError, match="download of .*_raw.fits failed after 2 attempts"
    ) as err:
        archive.download(bad, tmp_path / bad.filename)
    assert "\n" not in str(err.value)
    assert not (tmp_path / bad.filename).exists() and good.read_bytes() == before


def test_a_stalled_query_fails_within_the_timeout(server):
    server.state.faults["invoke"] = ["stall"]
    archive = mast(server, timeout=1.0, retries=1)
    start = time.monotonic()
    with pytest.raises(
        ArchiveError,
        match=r"MAST query failed after 1 attempt \(no answer within archive.timeout = 1 s\)",
    ) as err:
        archive.find_science(OBS)
    assert time.monotonic() - start < 3.0, "the timeout did not bound the query"
    assert "\n" not in str(err.value)


def test_a_stalled_download_times_out_and_is_retried(server, tmp_path):
    archive = mast(server, timeout=1.0, retries=2)
    product = archive.find_science(OBS).products["flt"]
    server.state.faults[product.filename] = ["stall"]
    start = time.monotonic()
    path = archive.download(product, tmp_path / product.filename)
    assert 1.0 <= time.monotonic() - start < 3.0
    assert server.state.downloads[product.filename] == 2 and path.stat().st_size == product.size


@pytest.mark.parametrize("status", ["404", "403", "401"])
def test_permanent_http_errors_are_not_retried(server, tmp_path, status):
    archive = mast(server, retries=4)
    product = archive.find_science(OBS).products["raw"]
    server.state.faults[product.filename] = [status]
    with pytest.raises(
        ArchiveError, match=f"download of {product.filename} failed \\(HTTP {status} from "
    ) as err:
        archive.download(product, tmp_path / product.filename)
    assert "\n" not in str(err.value) and "archive.server" in str(err.value)
    assert server.state.downloads[product.filename] == 1, "a permanent error was retried"
    assert not (tmp_path / product.filename).exists() and not list(tmp_path.glob(".tmp-*"))


def test_a_query_answered_404_is_tried_once(server):
    archive = mast(server, retries=4)
    server.state.faults["invoke"] = ["404"]
    with pytest.raises(
        ArchiveError, match="MAST query failed \\(HTTP 404 from .*check archive.server"
    ) as err:
        archive.find_science(OBS)
    assert "\n" not in str(err.value)
    assert sum(p.endswith("/api/v0/invoke") for p in server.state.requests) == 1


def test_retry_after_is_honoured_on_503_and_429(server, tmp_path):
    archive = mast(
        server, retries=2
    )  # back-off 0.01 s: any longer wait is the server's Retry-After
    product = archive.find_science(OBS).products["wav"]
    server.state.faults[product.filename] = ["503:1"]
    start = time.monotonic()
    archive.download(product, tmp_path / product.filename)
    assert time.monotonic() - start >= 1.0 and server.state.downloads[product.filename] == 2
    server.state.faults["invoke"] = ["429:1"]
    start = time.monotonic()
    assert mast(server, retries=2).find_science(OBS).obs_id == OBS
    assert time.monotonic() - start >= 1.0


def test_retry_after_is_capped(server, tmp_path):
    archive = mast(server, retries=2, max_retry_after=0.1)
    product = archive.find_science(OBS).products["sx1"]
    server.state.faults[product.filename] = ["503:3600"]
    start = time.monotonic()
    archive.download(product, tmp_path / product.filename)
    assert time.monotonic() - start < 2.0 and server.state.downloads[product.filename] == 2


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


def test_anneal_periods_from_the_anneal_programme(server, archive_dir):
    """Anneal-programme exposures on both sides of each anneal, through astroquery and the server."""
    from test_periods import ANNEAL_A, ANNEAL_B, ANNEAL_C

    dark_file = next((archive_dir / "darks").glob("odark*_flt.fits"))
    for k, (t0, t1) in enumerate(ANNEAL_A + ANNEAL_B + ANNEAL_C):
        obs_id, obsid = f"oanl{k:02d}010", f"40000000{k:02d}"
        target, exptime = ("DARK", 1100.0) if k % 2 else ("BIAS", 0.0)
        server.state.add_observation(obs_id=obs_id, obsid=obsid, instrument_name="STIS/CCD", target_name=target,
                                     t_min=t0, t_max=t1, t_exptime=exptime, proposal_id="16235",
                                     obs_title="STIS CCD Hot Pixel Annealing")  # fmt: skip
        server.state.add_product(obsid, obs_id, f"{obs_id}_flt.fits", dark_file)
    for k, t0 in enumerate(
        (60010.0, 60028.12)
    ):  # dark-monitor darks, the second just before anneal B
        obs_id, obsid = f"omon{k:02d}010", f"50000000{k:02d}"
        server.state.add_observation(obs_id=obs_id, obsid=obsid, instrument_name="STIS/CCD", target_name="DARK",
                                     t_min=t0, t_max=t0 + 0.013, t_exptime=1100.0, proposal_id="16402",
                                     obs_title="CCD Dark Monitor-Part 1")  # fmt: skip
        server.state.add_product(obsid, obs_id, f"{obs_id}_flt.fits", dark_file)
    archive = mast(server)
    periods = archive.anneal_periods()
    assert [(p.start_mjd, p.end_mjd) for p in periods] == [
        (60000.55, 60028.15),
        (60028.60, 60056.21),
    ]
    assert periods[0].source.startswith("archive:mast")
    period = find_period(
        60028.125, archive=archive
    )  # just before anneal B: the period anneal B ends
    assert (period.start_mjd, period.end_mjd) == (60000.55, 60028.15)
    darks = archive.list_darks(period.start_mjd, period.end_mjd)
    assert [d.rootname for d in darks] == ["omon00010", "omon01010"], (
        "anneal-programme darks are components"
    )
