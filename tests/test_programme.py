"""Programme targets: a proposal or a dataset list expanded, through the archive, to observations."""

from __future__ import annotations

import csv

import pytest

from stisdarks.archive.base import Product, ScienceObservation
from stisdarks.archive.local import LocalArchive
from stisdarks.errors import ConfigError, StisDarksError
from stisdarks.overview import COLUMNS, overview_rows, write_overview_table
from stisdarks.programme import (
    PROCESS,
    SKIP,
    classify,
    expand,
    expand_to_table,
    read_dataset_list,
    read_table,
    write_table,
)
from stisdarks.settings import programme_key, programme_targets, target_settings
from stisdarks.synthetic import generate_archive

from mast_server import MastServer, MastState

PROPOSAL = 16196


@pytest.fixture(scope="module")
def archive_root(tmp_path_factory):
    """Two spectra of the first period, a second period of 8 darks with one spectrum, and
    the three observations no custom dark serves."""
    return generate_archive(
        tmp_path_factory.mktemp("programme") / "archive", size=64, n_darks=16, seed=11,
        extra_obs_ids=("odemo1020",), second_period_darks=8, second_period_obs_ids=("odemo2010",),
        unprocessable=True,
    )  # fmt: skip


def _obs(**kw) -> ScienceObservation:
    products = {
        k: Product("oabc12340", k, f"oabc12340_{k}.fits", "x")
        for k in kw.pop("kinds", ("raw", "flt", "crj", "sx1"))
    }
    fields = dict(obs_id="oabc12340", instrument="STIS", detector="CCD", start_mjd=59330.0,
                  end_mjd=59330.1, exptime=1800.0, target="STAR", products=products,
                  obstype="SPECTROSCOPIC", obsmode="ACCUM")  # fmt: skip
    return ScienceObservation(**{**fields, **kw})


@pytest.mark.parametrize(
    ("changes", "kind", "reason"),
    [
        ({}, "spectrum", ""),
        ({"obstype": "IMAGING", "kinds": ("raw", "flt", "crj")}, "image", ""),
        ({"detector": "FUV-MAMA"}, "spectrum", "taken with the FUV-MAMA"),
        ({"obsmode": "ACQ/PEAK", "obstype": "IMAGING"}, "image", "target acquisition"),
        ({"kinds": ("raw", "flt")}, "spectrum", "single exposure"),
        ({"kinds": ("raw", "flt", "crj")}, "spectrum", "without _sx1"),
        ({"obstype": None}, "", "neither a spectrum nor an image"),
        ({"target": "BIAS"}, "spectrum", "calibration exposure"),
    ],
    ids=["spectrum", "image", "mama", "acquisition", "single", "no-sx1", "no-obstype", "bias"],
)
def test_classify_says_why_an_observation_is_skipped(changes, kind, reason):
    got_kind, got_reason = classify(_obs(**changes))
    assert got_kind == kind
    assert (reason in got_reason) if reason else got_reason == ""


def test_a_dataset_list_file(tmp_path):
    path = tmp_path / "mine.txt"
    path.write_text("# my targets\nODEMO1010\n\nodemo1020  # the day before\nodemo1010\n")
    assert read_dataset_list(path) == ["odemo1010", "odemo1020"]
    path.write_text("odemo1010\nnot-a-name\n")
    with pytest.raises(ConfigError, match=r"mine.txt:2: 'not-a-name' is not a STIS dataset name"):
        read_dataset_list(path)
    path.write_text("# nothing\n")
    with pytest.raises(ConfigError, match="names no dataset"):
        read_dataset_list(path)
    with pytest.raises(ConfigError, match="does not exist"):
        read_dataset_list(tmp_path / "absent.txt")


def test_a_proposal_expands_to_its_observations_grouped_by_period(archive_root):
    found = expand(LocalArchive(archive_root), proposal=PROPOSAL, from_archive=True)
    by_id = {c.obs_id: c for c in found}
    processed = [c.obs_id for c in found if c.status == PROCESS]
    assert sorted(processed) == ["odemo1010", "odemo1020", "odemo2010"]
    periods = {by_id[o].period for o in processed}
    assert len(periods) == 2 and by_id["odemo1010"].period == by_id["odemo1020"].period
    assert all(by_id[o].week_darks >= 2 for o in processed)
    skipped = {c.obs_id: c.reason for c in found if c.status == SKIP}
    assert "FUV-MAMA" in skipped["odmam1010"]
    assert "acquisition" in skipped["odacq1010"]
    assert "single exposure" in skipped["odsgl1010"]
    assert [c.start_mjd for c in found] == sorted(c.start_mjd for c in found)


def test_too_few_week_darks_and_unknown_datasets_are_skipped_not_errors(archive_root):
    archive = LocalArchive(archive_root)
    found = expand(archive, datasets=["odemo1010", "onope0000"], min_week_darks=50,
                   from_archive=True)  # fmt: skip
    reasons = {c.obs_id: c.reason for c in found}
    assert all(c.status == SKIP for c in found)
    assert (
        "long dark(s) in its week" in reasons["odemo1010"]
        and "min_week_darks is 50" in reasons["odemo1010"]
    )
    assert "not in the local archive" in reasons["onope0000"]


def test_a_programme_with_nothing_to_do_stops_in_one_line(archive_root, tmp_path):
    out = tmp_path / "programme.csv"
    with pytest.raises(StisDarksError) as err:
        expand_to_table(LocalArchive(archive_root), target={"datasets": _list(tmp_path, "odmam1010")},
                        output=out, from_archive=True)  # fmt: skip
    assert (
        "\n" not in str(err.value) and "FUV-MAMA" in str(err.value) and str(out) in str(err.value)
    )
    with pytest.raises(StisDarksError, match="no STIS observation of programme 999"):
        expand(LocalArchive(archive_root), proposal=999)


def _list(tmp_path, *names):
    path = tmp_path / "list.txt"
    path.write_text("\n".join(names) + "\n")
    return str(path)


def test_the_table_round_trips(archive_root, tmp_path):
    found = expand(LocalArchive(archive_root), proposal=PROPOSAL, from_archive=True)
    path = write_table(tmp_path / "programme.csv", found)
    assert read_table(path) == found


def test_mast_lists_the_same_programme_as_the_local_archive(archive_root):
    state = MastState()
    state.add_archive(archive_root)
    with MastServer(state) as server:
        from stisdarks.archive.mast import MastArchive

        mast = MastArchive(server=server.url, retries=2, backoff=0.01)
        via_mast = expand(mast, proposal=PROPOSAL, tables=[archive_root / "anneal_periods.csv"])
    via_local = expand(LocalArchive(archive_root), proposal=PROPOSAL, from_archive=True)
    assert [(c.obs_id, c.status, c.kind, c.period, c.week_darks) for c in via_mast] == [
        (c.obs_id, c.status, c.kind, c.period, c.week_darks) for c in via_local
    ]
    assert any("proposal_id" in r or "invoke" in r for r in state.requests)


def test_programme_settings_from_the_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "my targets.txt").write_text("odemo1010\n")
    config = {
        "darks": {"week_days": 3, "min_week_darks": 2},
        "targets": [{"obs_id": "odemo1010"}, {"proposal": PROPOSAL, "week_days": 5},
                    {"datasets": "lists/my targets.txt"}],
    }  # fmt: skip
    assert programme_key({"proposal": PROPOSAL}) == "p16196"
    assert programme_key({"datasets": "lists/my targets.txt"}) == "list-my_targets"
    assert programme_key({"obs_id": "odemo1010"}) is None
    assert list(programme_targets(config)) == ["p16196", "list-my_targets"]
    entry = programme_targets(config)["p16196"]
    assert target_settings(config, "odemo2010", entry)["week_days"] == 5.0
    assert target_settings(config, "odemo1010")["week_days"] == 3.0
    with pytest.raises(ConfigError, match="can only apply to one observation"):
        programme_targets({"targets": [{"proposal": 1, "period": {"start": "a", "end": "b"}}]})
    with pytest.raises(ConfigError, match="two targets name the programme p1"):
        programme_targets({"targets": [{"proposal": 1}, {"proposal": 1}]})
    with pytest.raises(ConfigError, match="the dataset list absent.txt does not exist"):
        programme_targets({"targets": [{"datasets": "absent.txt"}]})


def test_the_overview_lists_processed_and_skipped_observations(archive_root, tmp_path):
    import json

    programme = tmp_path / "p16196" / "programme.csv"
    programme.parent.mkdir()
    write_table(programme, expand(LocalArchive(archive_root), proposal=PROPOSAL, from_archive=True))
    summary = tmp_path / "summary.json"
    summary.write_text(json.dumps({
        "obs_id": "odemo1010", "period": {"start": "2021-04-07 02:35:41"},
        "darks": {"period": {"n": 8}, "week": {"n": 3}},
        "science_extraction_region": {"hot_pixels_pipeline": 9, "hot_pixels_recalibrated": 2, "removed": 7},
        "spectrum_change": {"rms_flux": 1e-17}, "engine": "native", "calibrator": "native",
    }))  # fmt: skip
    rows = overview_rows([summary], [programme])
    assert rows[0]["obs_id"] == "odemo1010" and rows[0]["programme"] == "p16196"
    assert (rows[0]["hot_pixels_before"], rows[0]["hot_pixels_after"]) == (9, 2)
    assert rows[0]["counted_over"] == "extraction box"
    assert {r["obs_id"] for r in rows if r["status"] == "skipped"} == {
        "odmam1010",
        "odacq1010",
        "odsgl1010",
    }
    path = write_overview_table(tmp_path / "summary.csv", rows)
    with open(path, newline="") as fh:
        table = list(csv.DictReader(fh))
    assert list(table[0]) == COLUMNS and len(table) == 4
