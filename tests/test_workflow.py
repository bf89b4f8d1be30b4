"""The whole workflow, run by Snakemake on a small synthetic archive, checked by content.

One module-scoped run builds everything (a 128-row demo with 16 darks); the tests then
read its outputs and ask Snakemake dry runs what a change would rebuild.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from stisdarks.archive.local import read_index

from workflow_helpers import REPO, copy_workflow, demo_config, planned_jobs, snakemake

pytestmark = pytest.mark.slow

OBS = "odemo1010"


@pytest.fixture(scope="module")
def demo(demo_run) -> Path:
    return demo_run


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def test_every_artifact_of_the_design_exists(demo):
    period = read_json(demo / f"results/{OBS}/period.json")
    key = period["key"]
    expected = [
        *(f"resources/archive/{OBS}/{OBS}_{k}.fits" for k in ("raw", "wav", "flt", "crj", "sx1")),
        f"results/{OBS}/science.json",
        f"results/{OBS}/period.json",
        f"results/periods/{key}/darks.csv",
        f"results/periods/{key}/darks_used.csv",
        f"results/periods/{key}/basedark.fits",
        f"results/{OBS}/week.csv",
        f"results/{OBS}/weekdark.fits",
        f"results/{OBS}/references.json",
        *(f"results/{OBS}/recal/{OBS}_{k}.fits" for k in ("flt", "crj", "sx1")),
        *(
            f"results/{OBS}/figures/{name}.png"
            for name in (
                "basedark",
                "weekdark",
                "weekdark_over_pipeline",
                "crj_comparison",
                "spectrum",
                "truth",
            )
        ),
        f"results/{OBS}/summary.json",
    ]
    missing = [p for p in expected if not (demo / p).is_file()]
    assert not missing
    for png in (demo / f"results/{OBS}/figures").glob("*.png"):
        data = png.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000, png.name
    assert not list(demo.rglob(".tmp-*")), "a temporary file was left behind"


def test_period_and_dark_selection(demo):
    truth = read_json(demo / "resources/demo_archive/truth.json")
    period = read_json(demo / f"results/{OBS}/period.json")
    assert period["source"].startswith("table:")  # the package table knows the notebook's period
    key = period["key"]
    used = (demo / f"results/periods/{key}/darks_used.csv").read_text().splitlines()[1:]
    index = read_index(demo / "resources/demo_archive")
    n_good = truth["n_darks"]
    assert len(used) == n_good  # every 1100 s gain-1 amp-D dark of the period, no distractor
    assert sum(r["target"] == "DARK" for r in index) > n_good  # the archive holds distractors
    # the week: observation start - 3 days .. period end
    week = (demo / f"results/{OBS}/week.csv").read_text().splitlines()[1:]
    starts = [float(row.split(",")[1]) for row in week]
    science = read_json(demo / f"results/{OBS}/science.json")
    assert starts and min(starts) >= science["start_mjd"] - 3 and max(starts) <= period["end_mjd"]


def test_weekdark_flags_the_weeks_hot_pixels(demo):
    """>= 95 % of the hot pixels present in the week are flagged, late ones included.

    "Present in the week": switched on before the first dark of the week, so that it is hot
    in every dark of the week. STScI's CRREJTAB combines a few long darks with the minimum
    initial guess, so a pixel that turned hot part-way through the week is rejected like a
    cosmic ray (in calstis as here).
    """
    truth = read_json(demo / "resources/demo_archive/truth.json")
    week = sorted(
        float(row.split(",")[1])
        for row in (demo / f"results/{OBS}/week.csv").read_text().splitlines()[1:]
    )
    with fits.open(demo / f"results/{OBS}/weekdark.fits") as hdul:
        dq = hdul["DQ"].data
        assert hdul[0].header["TASKNAME"] == "WEEKDARK"
    present = [h for h in truth["hot_pixels"] if h["onset_mjd"] <= week[0]]
    late = [h for h in present if h["onset_mjd"] > truth["pipeline_dark_mjd"]]
    assert len(present) > 100 and len(late) >= 5
    flagged = np.mean([bool(dq[h["y"], h["x"]] & 16) for h in present])
    assert flagged >= 0.95, f"weekdark flags only {flagged:.1%} of the week's hot pixels"
    # the demo's detector trails charge: the faintest hot pixels (~110 e- in a dark) lose
    # half of it to the traps and may fall under the weekdark's 5 sigma; all others count
    assert np.mean([bool(dq[h["y"], h["x"]] & 16) for h in late]) >= 0.95
    assert all(dq[h["y"], h["x"]] & 16 for h in late if h["rate"] >= 0.15), (
        "a hot pixel newer than the pipeline dark was missed"
    )


def test_recalibration_removes_hot_pixels_from_the_extraction_region(demo):
    summary = read_json(demo / f"results/{OBS}/summary.json")
    region = summary["science_extraction_region"]
    assert region["hot_pixels_recalibrated"] < region["hot_pixels_pipeline"]
    assert summary["hot_pixels"]["weekdark"] > summary["hot_pixels"]["pipeline_dark"]
    with fits.open(demo / f"results/{OBS}/recal/{OBS}_crj.fits") as hdul:
        assert "weekdark" in hdul[0].header["DARKFILE"]


def test_the_demo_is_measured_against_its_truth(demo):
    """The demo's detector trails charge; without CTI correction the spectrum stays low and
    the weekdark, made of trailed darks like the pipeline's, trails its hot pixels too."""
    truth = read_json(demo / f"results/{OBS}/summary.json")["cti"]["truth"]
    spectrum, darks = truth["spectrum"], truth["dark_trails"]
    for who in ("pipeline", "recalibrated"):
        assert -0.1 < spectrum[who]["median_relative"] < -0.01, spectrum
        assert spectrum[who]["columns"] > 500  # of 1024: DQ-flagged ones left out
    for dark in ("pipeline_dark", "weekdark"):
        assert darks[dark]["hot_pixels"] >= 5 and darks[dark]["trail"] > 0.03, darks
        assert 0.6 < darks[dark]["peak"] < 0.95, darks
    with open(demo / "results/summary.csv") as fh:
        row = next(csv.DictReader(fh))
    assert float(row["flux_vs_truth_recalibrated"]) == pytest.approx(
        spectrum["recalibrated"]["median_relative"], abs=1e-5
    )
    assert float(row["trail_weekdark"]) == pytest.approx(darks["weekdark"]["trail"], abs=1e-5)


def test_downloads_are_never_modified(demo):
    archive = demo / "resources/demo_archive"
    for path in (demo / "resources/archive").rglob("*.fits"):
        source = next(archive.rglob(path.name))
        assert path.read_bytes() == source.read_bytes(), path.name


def test_summary_names_the_engine_and_calibrator_that_built_the_products(demo, tmp_path):
    """Read back from the products' headers (SDENGINE, SDCALIB), not resolved again."""
    from stisdarks import __version__, stages

    summary = read_json(demo / f"results/{OBS}/summary.json")
    key = read_json(demo / f"results/{OBS}/period.json")["key"]
    darks = {
        "basedark": demo / f"results/periods/{key}/basedark.fits",
        "weekdark": demo / f"results/{OBS}/weekdark.fits",
    }
    recal = {k: demo / f"results/{OBS}/recal/{OBS}_{k}.fits" for k in ("flt", "crj", "sx1")}
    engine = fits.getval(darks["weekdark"], "SDENGINE")
    calibrator = fits.getval(recal["crj"], "SDCALIB")
    assert {fits.getval(p, "SDENGINE") for p in darks.values()} == {engine}
    assert {fits.getval(p, "SDCALIB") for p in recal.values()} == {calibrator}
    # and the version of stisdarks that wrote them
    assert {fits.getval(p, "SDVERS") for p in [*darks.values(), *recal.values()]} == {__version__}
    assert (summary["engine"], summary["calibrator"]) == (engine, calibrator)
    # products made by the other engine/calibrator (as by an earlier run with hstcal)
    other = {"native": "refstis", "refstis": "native"}[engine]
    copies = {}
    for name, path in {**darks, "recal_crj": recal["crj"]}.items():
        copies[name] = tmp_path / path.name
        shutil.copyfile(path, copies[name])
    fits.setval(copies["basedark"], "SDENGINE", value=other)
    fits.setval(copies["recal_crj"], "SDCALIB", value="calstis-elsewhere")
    inputs = {
        "science": demo / f"results/{OBS}/science.json",
        "period": demo / f"results/{OBS}/period.json",
        "darks_used": demo / f"results/periods/{key}/darks_used.csv",
        "week": demo / f"results/{OBS}/week.csv",
        "references": demo / f"results/{OBS}/references.json",
        "pipeline_crj": demo / f"resources/archive/{OBS}/{OBS}_crj.fits",
        "pipeline_sx1": demo / f"resources/archive/{OBS}/{OBS}_sx1.fits",
        "recal_sx1": recal["sx1"],
        **copies,
    }
    data = read_json(stages.summary(tmp_path / "summary.json", **inputs))
    assert data["engine"] == f"basedark: {other}; weekdark: {engine}"
    assert data["calibrator"] == "calstis-elsewhere"


def test_second_run_has_nothing_to_do(demo):
    proc = snakemake(demo, "--configfile", "test.yaml", "--cores", "2")
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_deleting_an_intermediate_rebuilds_only_what_depends_on_it(demo, tmp_path):
    """Snakemake 9 leaves a deleted intermediate alone while everything after it is up to date;
    asked for by name it is rebuilt alone, identical, so nothing after it needs redoing."""
    work = tmp_path / "w"
    shutil.copytree(demo, work, symlinks=True)
    weekdark = f"results/{OBS}/weekdark.fits"
    before = fits.getdata(work / weekdark, "SCI")
    (work / weekdark).unlink()
    assert planned_jobs(snakemake(work, "-n", "--configfile", "test.yaml")) == {}
    assert set(planned_jobs(snakemake(work, "-n", weekdark, "--configfile", "test.yaml"))) == {
        "weekdark"
    }
    snakemake(work, weekdark, "--cores", "2", "--configfile", "test.yaml")
    np.testing.assert_array_equal(fits.getdata(work / weekdark, "SCI"), before)
    # same content (Snakemake compares checksums), so the recalibration and figures stand
    assert planned_jobs(snakemake(work, "-n", "--configfile", "test.yaml")) == {}
    key = read_json(work / f"results/{OBS}/period.json")["key"]
    basedark = f"results/periods/{key}/basedark.fits"
    (work / basedark).unlink()
    jobs = planned_jobs(snakemake(work, "-n", basedark, "--configfile", "test.yaml"))
    assert set(jobs) == {"basedark"}, "rebuilding the basedark must not download anything again"
    # the basedark and darks_used.csv are final products: a plain rerun rebuilds them
    (work / basedark).with_name("darks_used.csv").unlink()
    jobs = planned_jobs(snakemake(work, "-n", "--configfile", "test.yaml"))
    assert jobs.get("basedark") == 1 and "period_darks" not in jobs


def test_changing_week_days_rebuilds_the_weekdark_not_the_basedark(demo, tmp_path):
    work = tmp_path / "w"
    shutil.copytree(demo, work, symlinks=True)
    demo_config(work, name="wider.yaml", darks={"week_days": 5})
    jobs = planned_jobs(snakemake(work, "-n", "--configfile", "wider.yaml"))
    assert {"weekdark", "recalibrate", "summary"} <= set(jobs)
    assert not {
        "basedark",
        "download_science",
        "period_darks",
        "demo_archive",
    } & set(jobs)


def test_config_typo_fails_with_a_schema_message(tmp_path):
    work = copy_workflow(tmp_path)
    demo_config(work, darks={"weekdays": 3})
    proc = snakemake(work, "-n", "--configfile", "test.yaml", check=False)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "weekdays" in out and "Additional properties are not allowed" in out
    demo_config(work, name="badid.yaml", targets=[{"obs_id": "not-an-id"}])
    proc = snakemake(work, "-n", "--configfile", "badid.yaml", check=False)
    assert proc.returncode != 0 and "does not match" in proc.stdout + proc.stderr


def test_real_config_dry_run_and_lint(tmp_path):
    proc = snakemake(REPO, "-n", "--configfile", "config/config.yaml")
    jobs = planned_jobs(proc)
    assert {"download_science", "science_facts"} <= set(jobs)
    lint = snakemake(REPO, "--lint", "--configfile", "config/config.yaml")
    assert "Congratulations" in lint.stdout + lint.stderr
    # the README's demo config is plannable in a fresh clone (a programme: the archive, then
    # its expansion; the programme runs through MAST in tests/test_workflow_programme.py, the
    # binned demo's config in tests/test_workflow_binned.py)
    work = copy_workflow(tmp_path / "clone")
    jobs = planned_jobs(snakemake(work, "-n", "--configfile", "config/demo.yaml"))
    assert {"demo_archive", "programme"} <= set(jobs), jobs
    # the CTI demo's (run whole, small, by tests/test_workflow_cti.py under -m cti)
    jobs = planned_jobs(snakemake(work, "-n", "--configfile", "config/demo_cti.yaml"))
    assert {"demo_archive", "download_science", "science_facts"} <= set(jobs), jobs


def test_html_report_has_every_figure_captioned(demo, tmp_path):
    report = tmp_path / "report.html"
    snakemake(demo, "--configfile", "test.yaml", "--report", str(report))
    html = report.read_text(errors="replace")
    for name in (
        "basedark.png",
        "weekdark.png",
        "weekdark_over_pipeline.png",
        "crj_comparison.png",
        "spectrum.png",
        "truth.png",
    ):
        assert name in html, name
    for caption in (
        "monthly",
        "diverging colour map centred on 1",
        "zoomed automatically",
        "summary.json",
        "the truth the archive started from",
    ):
        assert caption in html, caption


def test_slurm_profile_dry_run():
    pytest.importorskip(
        "snakemake_executor_plugin_slurm",
        reason="the SLURM executor plugin is not installed: pip install -e '.[slurm]' "
        "(.ci/run installs it and runs this test after the suite)",
    )
    proc = snakemake(
        REPO, "-n", "--workflow-profile", "profiles/slurm", "--configfile", "config/config.yaml"
    )
    assert "download_science" in planned_jobs(proc)
