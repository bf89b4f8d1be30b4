"""The README's demo as it ships: a programme (proposal 16196) over two anneal periods.

A spectrum and an image share the first period's basedark, a spectrum has the second
period to itself, and three observations no custom dark serves are listed as skipped.
"""

from __future__ import annotations

import csv
import json

import pytest
import yaml

from workflow_helpers import REPO, SMALL_DEMO, copy_workflow, planned_jobs, snakemake

pytestmark = pytest.mark.slow

PROCESSED = {"odemo1010": "spectrum", "odemo1030": "image", "odemo2010": "spectrum"}
SKIPPED = {
    "odmam1010": "FUV-MAMA",
    "odacq1010": "target acquisition",
    "odsgl1010": "single exposure",
}


@pytest.fixture(scope="module")
def programme_run(tmp_path_factory):
    work = copy_workflow(tmp_path_factory.mktemp("programme"))
    config = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    config["archive"]["demo"].update(SMALL_DEMO)
    (work / "programme.yaml").write_text(yaml.safe_dump(config))
    snakemake(work, "--configfile", "programme.yaml", "--cores", "2")
    return work


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_the_programme_is_expanded_with_reasons(programme_run):
    rows = {
        r["obs_id"]: r for r in _rows(programme_run / "results/programmes/p16196/programme.csv")
    }
    assert {o for o, r in rows.items() if r["status"] == "process"} == set(PROCESSED)
    for obs, why in SKIPPED.items():
        assert rows[obs]["status"] == "skip" and why in rows[obs]["reason"], rows[obs]
    assert {rows[o]["kind"] for o in PROCESSED} == {"spectrum", "image"}


def test_one_basedark_per_period_shared_by_its_targets(programme_run):
    periods = {}
    for obs in PROCESSED:
        key = json.loads((programme_run / f"results/{obs}/period.json").read_text())["key"]
        periods.setdefault(key, []).append(obs)
    assert sorted(map(sorted, periods.values())) == [["odemo1010", "odemo1030"], ["odemo2010"]]
    built = sorted(
        p.parent.name for p in (programme_run / "results/periods").glob("*/basedark.fits")
    )
    assert built == sorted(periods)
    logs = list((programme_run / "logs/periods").glob("*/basedark.log"))
    assert len(logs) == 2, "each period's basedark is built once"


def test_the_image_is_recalibrated_without_a_spectrum(programme_run):
    image = programme_run / "results/odemo1030"
    assert {p.name for p in (image / "recal_image").glob("*.fits")} == {
        "odemo1030_flt.fits",
        "odemo1030_crj.fits",
    }
    downloaded = {p.name for p in (programme_run / "resources/archive/odemo1030").glob("*.fits")}
    assert downloaded == {"odemo1030_raw.fits", "odemo1030_flt.fits", "odemo1030_crj.fits"}
    figures = {p.name for p in (image / "figures").glob("*.png")}
    assert figures == {
        "basedark.png",
        "weekdark.png",
        "weekdark_over_pipeline.png",
        "image_comparison.png",
    }
    summary = json.loads((image / "summary.json").read_text())
    assert summary["kind"] == "image" and "spectrum_change" not in summary
    assert summary["science_image"]["removed"] > 0
    assert summary["cosmic_rays"]["status"] == "not_applicable"


def test_spectra_get_a_cosmic_ray_verdict(programme_run):
    for obs in ("odemo1010", "odemo2010"):
        summary = json.loads((programme_run / f"results/{obs}/summary.json").read_text())
        rays = summary["cosmic_rays"]
        assert summary["kind"] == "spectrum" and rays["status"] == "ok", rays["verdict"]
        assert 0 < rays["inside_fraction"] < 1 and 0 < rays["outside_fraction"] < 1
        assert rays["ratio"] == pytest.approx(rays["inside_fraction"] / rays["outside_fraction"])


def test_the_overview_table_and_figure(programme_run):
    rows = _rows(programme_run / "results/summary.csv")
    assert len(rows) == len(PROCESSED) + len(SKIPPED)
    done = {r["obs_id"]: r for r in rows if r["status"] == "processed"}
    assert {o: r["kind"] for o, r in done.items()} == PROCESSED
    for obs, row in done.items():
        summary = json.loads((programme_run / f"results/{obs}/summary.json").read_text())
        block = summary.get("science_extraction_region") or summary["science_image"]
        assert int(row["hot_pixels_before"]) == block["hot_pixels_pipeline"]
        assert int(row["hot_pixels_after"]) == block["hot_pixels_recalibrated"]
        assert int(row["darks_in_week"]) == summary["darks"]["week"]["n"]
    assert {r["obs_id"] for r in rows if r["status"] == "skipped"} == set(SKIPPED)
    assert (programme_run / "results/figures/overview.png").stat().st_size > 10_000


def test_a_rerun_has_nothing_to_do(programme_run):
    proc = snakemake(programme_run, "-n", "--configfile", "programme.yaml")
    assert planned_jobs(proc) == {}, proc.stdout[-2000:]
