"""A programme (proposal 16196) over two anneal periods, through a local MAST-shaped server.

The archive is the README demo's (``config/demo.yaml``'s ``archive.demo.programme``, small):
a spectrum and an image share the first period's basedark, a spectrum has the second
period to itself, and three observations no custom dark serves are listed as skipped. It
is published on a MAST-shaped server (tests/mast_server.py), so astroquery's real code
lists the programme and fetches every file; CRDS runs offline on a pre-populated cache
(``crds.mode: local``), as a user without network would. The same configuration with the
generated local archive is the README's first command (its plan: tests/test_workflow.py).
"""

from __future__ import annotations

import csv
import json
import shutil

import pytest
import yaml

from stisdarks.synthetic import generate_archive

from mast_server import MastServer, MastState
from workflow_helpers import REPO, SMALL_DEMO, copy_workflow, planned_jobs, snakemake

pytestmark = pytest.mark.slow

PROCESSED = {"odemo1010": "spectrum", "odemo1030": "image", "odemo2010": "spectrum"}
SKIPPED = {
    "odmam1010": "FUV-MAMA",
    "odacq1010": "target acquisition",
    "odsgl1010": "single exposure",
}


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """The demo's programme archive (small) on a MAST-shaped server."""
    demo = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())["archive"]["demo"]
    programme = {k: tuple(v) if isinstance(v, list) else v for k, v in demo["programme"].items()}
    root = generate_archive(tmp_path_factory.mktemp("mast") / "archive", **SMALL_DEMO, **programme)
    state = MastState()
    state.add_archive(root)
    with MastServer(state) as server:
        yield root, server


@pytest.fixture(scope="module")
def programme_run(published, tmp_path_factory):
    root, server = published
    work = copy_workflow(tmp_path_factory.mktemp("programme"))
    shutil.copytree(root / "oref", work / "resources/crds/references/hst/stis")  # a CRDS cache
    config = {
        "targets": [{"proposal": 16196}],
        "archive": {"kind": "mast", "server": server.url, "retries": 2},
        "periods": {"tables": [str(root / "anneal_periods.csv")]},
        "crds": {"mode": "local"},
    }
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


def test_every_file_is_fetched_once_and_darks_are_checked_on_their_headers(
    published, programme_run
):
    root, server = published
    downloads = server.state.downloads
    assert set(downloads.values()) == {1}, f"a file was downloaded twice: {downloads}"
    period_darks = {k for k in downloads if k.startswith(("odark", "odsec"))}
    assert len(period_darks) == 16 + 14, "every long dark of both periods is fetched"
    # 60 s darks, and long darks before and after the periods: dropped on the archive's metadata
    assert not any(k.startswith(("odsht", "odout")) for k in downloads)
    assert not any(k.startswith(("odmam", "odacq", "odsgl")) for k in downloads), (
        "skipped: not fetched"
    )
    assert "odemo1030_sx1.fits" not in downloads and "odemo1030_wav.fits" not in downloads
    for used in (programme_run / "results/periods").glob("*/darks_used.csv"):
        text = used.read_text()
        assert "odgn4" not in text and "odamp" not in text, (
            "gain-4/amp-A darks are dropped on their headers"
        )


def test_a_rerun_has_nothing_to_do_and_fetches_nothing(published, programme_run):
    _, server = published
    before = sum(server.state.downloads.values())
    proc = snakemake(programme_run, "-n", "--configfile", "programme.yaml")
    assert planned_jobs(proc) == {}, proc.stdout[-2000:]
    proc = snakemake(programme_run, "--configfile", "programme.yaml", "--cores", "2")
    assert "Nothing to be done" in proc.stdout + proc.stderr
    assert sum(server.state.downloads.values()) == before, "the second run downloaded something"
