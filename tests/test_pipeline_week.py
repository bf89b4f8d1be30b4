"""``darks.week: pipeline``: the darks of the pipeline's own week, grouped as stis_cti groups them."""

from __future__ import annotations

import json

import pytest
from astropy.io import fits

from stisdarks.archive import AnnealPeriod
from stisdarks.archive.local import LocalArchive
from stisdarks.errors import StisDarksError
from stisdarks.periods import PipelineWeek, period_to_json, pipeline_week, pipeline_weeks
from stisdarks.selection import read_dark_table, write_dark_table
from stisdarks.stages import week_list
from stisdarks.synthetic import generate_archive

PERIOD = AnnealPeriod(59300.0, 59330.0, "test")


def test_weeks_are_the_darkfiles_in_time_order_meeting_halfway():
    darks = [(59309.0, "oref$b_drk.fits"), (59301.0, "oref$a_drk.fits"), (59303.0, " oref$a_drk.fits"),
             (59310.0, "oref$b_drk.fits"), (59322.0, "oref$c_drk.fits")]  # fmt: skip
    assert pipeline_weeks(darks, PERIOD) == [
        # from the period's start; halfway between one week's last dark and the next one's
        # first (59303, 59309 and 59310, 59322); to the period's end
        PipelineWeek("oref$a_drk.fits", 59300.0, 59306.0),
        PipelineWeek("oref$b_drk.fits", 59306.0, 59316.0),
        PipelineWeek("oref$c_drk.fits", 59316.0, 59330.0),
    ]
    assert pipeline_week(59305.9, darks, PERIOD).darkfile == "oref$a_drk.fits"
    assert pipeline_week(59306.0, darks, PERIOD).darkfile == "oref$b_drk.fits"


def test_darks_without_a_pipeline_darkfile_cannot_make_pipeline_weeks():
    with pytest.raises(StisDarksError, match="name no pipeline DARKFILE.*darks.week: days"):
        pipeline_week(59305.0, [(59301.0, "N/A"), (59302.0, "")], PERIOD)
    with pytest.raises(StisDarksError, match="no pipeline week"):
        pipeline_week(59340.0, [(59301.0, "oref$a_drk.fits")], PERIOD)


def test_week_list_takes_the_darks_of_the_observations_pipeline_week(tmp_path):
    root = generate_archive(tmp_path / "archive", size=64, n_darks=12, seed=3)
    truth = json.loads((root / "truth.json").read_text())
    period = AnnealPeriod(truth["period"]["start_mjd"], truth["period"]["end_mjd"], "truth")
    darks = LocalArchive(root).list_darks(period.start_mjd, period.end_mjd)
    used = write_dark_table(tmp_path / "darks_used.csv", darks)
    (tmp_path / "period.json").write_text(json.dumps(period_to_json(period)))
    obs_mjd = truth["obs_mjd"]
    (tmp_path / "science.json").write_text(
        json.dumps({"obs_id": "odemo1010", "start_mjd": obs_mjd})
    )

    header_of = {
        d.product.filename: fits.getheader(root / "darks" / d.product.filename) for d in darks
    }
    week = pipeline_week(
        obs_mjd, [(d.start_mjd, header_of[d.product.filename]["DARKFILE"]) for d in darks], period
    )
    want = sorted(n for n, h in header_of.items() if h["DARKFILE"] == week.darkfile)
    assert len(want) >= 2

    out = week_list(
        used, tmp_path / "period.json", tmp_path / "science.json", tmp_path / "week.csv",
        week_days=3, min_week_darks=2, week="pipeline", dark_dir=root / "darks",
    )  # fmt: skip
    assert sorted(d.product.filename for d in read_dark_table(out)) == want
    # the notebook's week (± week_days) is another choice of darks
    days = week_list(
        used, tmp_path / "period.json", tmp_path / "science.json", tmp_path / "days.csv",
        week_days=6, min_week_darks=2,
    )  # fmt: skip
    assert all(abs(d.start_mjd - obs_mjd) <= 6 for d in read_dark_table(days))
