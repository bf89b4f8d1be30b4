"""Anneal periods: sources in order, boundaries, the week window of the notebook's case."""

from __future__ import annotations

import pytest
from astropy.time import Time

from stisdarks.archive import AnnealPeriod
from stisdarks.errors import StisDarksError
from stisdarks.periods import find_period, iso, load_period_table, period_to_json, week_window


def mjd(s: str) -> float:
    return float(Time(s, scale="utc").mjd)


OBS = mjd("2021-05-05 12:29:54")  # oeik1s030, the notebook's observation


def test_package_table_has_the_notebooks_period():
    period = find_period(OBS)
    assert (iso(period.start_mjd), iso(period.end_mjd)) == (
        "2021-04-07 02:35:41",
        "2021-05-05 14:00:22",
    )
    assert period.source == "table:anneal_periods.csv"


def test_week_window_is_clipped_to_the_period_end():
    lo, hi = week_window(OBS, find_period(OBS), 3.0)
    assert iso(lo) == "2021-05-02 12:29:54" and iso(hi) == "2021-05-05 14:00:22"
    lo, hi = week_window(mjd("2021-04-08 00:00:00"), find_period(OBS), 3.0)
    assert iso(lo) == "2021-04-07 02:35:41"


def test_config_override_wins_and_is_checked():
    period = find_period(
        OBS, override={"start": "2021-05-01 00:00:00", "end": "2021-05-06 00:00:00"}
    )
    assert period.source == "config" and iso(period.start_mjd) == "2021-05-01 00:00:00"
    with pytest.raises(StisDarksError, match="does not contain the observation"):
        find_period(OBS, override={"start": "2021-05-06 00:00:00", "end": "2021-05-20 00:00:00"})


def test_user_table_then_archive(tmp_path):
    table = tmp_path / "mine.csv"
    table.write_text("start,end,source\n2022-01-01 00:00:00,2022-01-29 00:00:00,my notes\n")
    assert find_period(mjd("2022-01-10 00:00:00"), tables=[table]).source == f"table:{table}"

    class Archive:
        def anneal_periods(self):
            return [
                AnnealPeriod(mjd("2023-03-01 00:00:00"), mjd("2023-03-29 00:00:00"), "archive:test")
            ]

    assert find_period(mjd("2023-03-10 00:00:00"), archive=Archive()).source == "archive:test"
    assert len(load_period_table([table])) == 2


def test_outside_and_on_a_boundary_are_one_line():
    with pytest.raises(StisDarksError, match="no known anneal period contains") as err:
        find_period(mjd("2019-01-01 00:00:00"))
    assert "nearest known: 2021-04-07 02:35:41" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(StisDarksError, match="falls on the anneal boundary"):
        find_period(mjd("2021-04-07 02:35:50"))


def test_bad_table_is_one_line(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("start,end,source\n2022-01-29 00:00:00,2022-01-01 00:00:00,reversed\n")
    with pytest.raises(StisDarksError, match="is not after start"):
        load_period_table([bad])
    with pytest.raises(StisDarksError, match="does not exist"):
        load_period_table([tmp_path / "missing.csv"])


def test_json_record():
    data = period_to_json(find_period(OBS))
    assert data["start"] == "2021-04-07 02:35:41" and data["source"].startswith("table:")
