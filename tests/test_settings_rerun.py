"""Every setting reaches its jobs through Snakemake: an edit reruns what it changes, and only that.

Each case edits one kind of setting of the finished small demo and asks Snakemake (a dry
run) what it would do: the jobs that use the setting must be planned, the jobs upstream of
them must not.
"""

from __future__ import annotations

import json
import re
import shutil

import pytest
import yaml

from workflow_helpers import demo_config, planned_jobs, snakemake

pytestmark = pytest.mark.slow

FETCHING = {"download_science", "download_spectrum", "references", "science_facts", "period_darks"}
DARKS = {"basedark", "weekdark"}

CASES = {
    # where the data come from: everything that fetched, and what follows (not the demo archive);
    # a dry run lists the jobs up to the science_facts checkpoint, which then runs again
    # (download_spectrum and references are planned from its new science.json, after it)
    "archive": (
        {"archive": {"kind": "mast", "server": "http://127.0.0.1:9"}},
        {"download_science", "science_facts"},
        {"demo_archive"},
    ),
    # how to fetch (time-out, attempts) changes no product: nothing to do
    "archive transport": ({"archive": {"timeout": 30, "retries": 9}}, set(), None),
    "engine": ({"engine": "native"}, DARKS, FETCHING),
    "cosmic-ray parameters": ({"crreject": {"crsigmas": "6,5,4"}}, DARKS, FETCHING),
    "calibrator": ({"calibrator": "native"}, {"recalibrate"}, FETCHING | DARKS),
    # the pipeline's week instead of ± days: the week's darks, not the period's basedark
    "week": ({"darks": {"week": "pipeline"}}, {"weekdark"}, FETCHING | {"basedark"}),
    "hot-pixel threshold": (
        {"hot_pixel_threshold": 0.2},
        {"summary", "overview"},
        FETCHING | DARKS | {"recalibrate", "dark_figures", "science_figures"},
    ),
}


@pytest.fixture(scope="module")
def demo(demo_run, tmp_path_factory):
    """One copy of the finished demo for every case (dry runs change no product)."""
    work = tmp_path_factory.mktemp("settings") / "w"
    shutil.copytree(demo_run, work, symlinks=True)
    return work


@pytest.mark.parametrize("case", list(CASES))
def test_an_edited_setting_reruns_exactly_what_uses_it(demo, case):
    overrides, planned, untouched = CASES[case]
    demo_config(demo, name="edited.yaml", **overrides)  # archive: merged key by key
    jobs = set(planned_jobs(snakemake(demo, "-n", "--configfile", "edited.yaml"))) - {"all"}
    if untouched is None:
        assert jobs == set(), f"{case}: {sorted(jobs)} would rerun"
        return
    assert planned <= jobs, f"{case}: {sorted(planned - jobs)} would not rerun"
    assert not jobs & untouched, f"{case}: {sorted(jobs & untouched)} would rerun too"


def test_a_science_setting_regenerates_the_science_half_alone(demo):
    """``archive.demo.science`` is read by the science half of the demo archive only: editing
    it plans that half again, not the month of darks (rule demo_archive, ``{part}``)."""
    path = demo_config(demo, name="science.yaml")
    config = yaml.safe_load(path.read_text())
    demo_settings = config["archive"]["demo"]
    demo_settings["science"] = {**(demo_settings.get("science") or {}), "ccdgain": 4}
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    text = "".join(snakemake(demo, "-n", "--configfile", "science.yaml").stdout)
    halves = set(re.findall(r"output: \S+/(science|darks)/index\.csv", text))
    assert halves == {"science"}, f"planned halves: {sorted(halves)}"


def test_the_same_settings_in_another_order_rerun_nothing(demo):
    """Snakemake compares params by their repr: keys written in another order, or a default
    written out, are the same settings and must rerun nothing."""
    path = demo_config(demo, name="reordered.yaml")
    config = yaml.safe_load(path.read_text())
    config["crds"] = {"mode": "auto", **dict(reversed(list(config["crds"].items())))}
    names = ("crsigmas", "crradius", "crthresh", "initgues", "scalense", "badinpdq")
    config["crreject"] = {name: None for name in reversed(names)}  # the schema's defaults
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    jobs = set(planned_jobs(snakemake(demo, "-n", "--configfile", "reordered.yaml"))) - {"all"}
    assert jobs == set(), f"{sorted(jobs)} would rerun"


def test_a_new_period_is_built_by_the_next_run(demo_run, tmp_path):
    """A target's period edited after a finished run: the science_facts checkpoint runs again,
    and the graph after it is built from its new period.json, never from the old one (which
    used to stop the run with "no target of the config lies in period <the old one>")."""
    work = tmp_path / "w"
    shutil.copytree(demo_run, work, symlinks=True)
    before = json.loads((work / "results/odemo1010/period.json").read_text())["key"]
    period = {"start": "2021-04-08 00:00:00", "end": "2021-05-05 14:00:22"}
    demo_config(work, name="period.yaml", period=period)
    snakemake(work, "--configfile", "period.yaml", "--cores", "2")
    after = json.loads((work / "results/odemo1010/period.json").read_text())["key"]
    assert after.startswith("2021-04-08T000000") and after != before
    assert (work / f"results/periods/{after}/basedark.fits").is_file()
    summary = json.loads((work / "results/odemo1010/summary.json").read_text())
    assert summary["period"]["start"] == period["start"], summary["period"]
    assert planned_jobs(snakemake(work, "-n", "--configfile", "period.yaml")) == {}


def test_a_detector_without_cti_reaches_every_product(demo_run, tmp_path):
    """``archive.demo.cti_trails`` changes the data, not the files' names or sizes: the
    archive's index lists each file's MD5, so the next run fetches the changed files again
    (science and darks) and remakes everything made from them, never mixing the two."""
    work = tmp_path / "w"
    shutil.copytree(demo_run, work, symlinks=True)
    before = json.loads((work / "results/odemo1010/summary.json").read_text())["cti"]["truth"]
    path = demo_config(work, name="flat.yaml")
    config = yaml.safe_load(path.read_text())
    config["archive"]["demo"]["cti_trails"] = False
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    snakemake(work, "--configfile", "flat.yaml", "--cores", "2")
    archive = work / "resources/demo_archive"
    for fetched in (work / "resources/archive").rglob("*.fits"):
        assert fetched.read_bytes() == next(archive.rglob(fetched.name)).read_bytes(), fetched
    after = json.loads((work / "results/odemo1010/summary.json").read_text())["cti"]["truth"]
    for who in ("pipeline", "recalibrated"):  # no traps: the spectrum is whole, both ways
        assert before["spectrum"][who]["median_relative"] < -0.01
        assert abs(after["spectrum"][who]["median_relative"]) < 0.01, after["spectrum"]
    for dark in ("pipeline_dark", "weekdark"):  # and no trails in either dark
        assert abs(after["dark_trails"][dark]["trail"]) < 0.01, after["dark_trails"]
    assert planned_jobs(snakemake(work, "-n", "--configfile", "flat.yaml")) == {}
