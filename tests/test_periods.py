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


# Anneal-programme exposures (start, end) on both sides of three anneals, shuffled: pre-anneal
# biases/darks over two orbits, the anneal (hours of warm CCD), post-anneal biases/darks.
ANNEAL_A = [(60000.00, 60000.01), (60000.02, 60000.03), (60000.07, 60000.08),  # pre
            (60000.55, 60000.56), (60000.60, 60000.61)]  # post  # fmt: skip
ANNEAL_B = [(60028.10, 60028.11), (60028.14, 60028.15), (60028.60, 60028.61), (60028.65, 60028.66)]
ANNEAL_C = [(60056.20, 60056.21), (60056.70, 60056.71)]


def test_periods_start_after_the_anneal_and_end_at_the_next_one():
    from stisdarks.periods import periods_from_anneal_exposures

    rows = ANNEAL_C + ANNEAL_A[::-1] + ANNEAL_B
    periods = periods_from_anneal_exposures(rows, "archive:test")
    assert [(p.start_mjd, p.end_mjd) for p in periods] == [
        (60000.55, 60028.15),
        (60028.60, 60056.21),
    ]
    first, second = periods
    assert not first.contains(60000.05), (
        "a pre-anneal exposure of anneal A starts the period it ends"
    )
    assert first.contains(60028.12) and first.contains(60028.14), (
        "just before anneal B: still un-annealed"
    )
    assert not first.contains(60028.3) and not second.contains(60028.3), (
        "the anneal itself is in a period"
    )
    assert second.contains(60028.60) and second.source == "archive:test"


def test_an_anneal_seen_from_one_side_leaves_its_span_out(caplog):
    from stisdarks.periods import periods_from_anneal_exposures

    post_only = [(60028.60, 60028.61), (60028.65, 60028.66)]  # no pause: where was the anneal?
    periods = periods_from_anneal_exposures(ANNEAL_A + post_only + ANNEAL_C, "archive:test")
    assert [(p.start_mjd, p.end_mjd) for p in periods] == [
        (60000.55, 60028.60),
        (60028.66, 60056.21),
    ]
    assert "show no anneal" in caplog.text
    assert (
        periods_from_anneal_exposures([], "x") == []
        and periods_from_anneal_exposures(ANNEAL_A, "x") == []
    )


def test_find_period_uses_the_anneal_not_the_pre_anneal_exposures():
    from stisdarks.periods import periods_from_anneal_exposures

    class Archive:
        def anneal_periods(self):
            return periods_from_anneal_exposures(ANNEAL_A + ANNEAL_B + ANNEAL_C, "archive:test")

    just_before_b = 60028.13  # between anneal B's pre-anneal exposures
    assert find_period(just_before_b, archive=Archive()).start_mjd == 60000.55
    assert find_period(60028.70, archive=Archive()).start_mjd == 60028.60
    with pytest.raises(StisDarksError, match="no known anneal period contains"):
        find_period(60028.3, archive=Archive())  # during the anneal


def test_anneal_programme_titles():
    from stisdarks.periods import is_anneal_programme

    assert is_anneal_programme("STIS CCD Hot Pixel Annealing") and is_anneal_programme(
        "CCD Anneal Monitor"
    )
    assert not is_anneal_programme("CCD Dark Monitor-Part 1") and not is_anneal_programme(None)
