"""CTI correction in the workflow (``cti: true``; docs/cti.md), run by Snakemake.

Without hstcal, ``calibrator: calstis`` with ``cti`` is refused before any job (its science
path runs ``basic2d`` and ``calstis``; ``auto`` and ``native`` correct the science natively,
``tests/test_native_cti.py``). With hstcal: a target stis_cti cannot serve (the small demo's
128-row subarray) stops or runs without CTI correction as ``cti.unsupported`` says; and
(marked ``cti``: minutes of CPU, run by ``.ci/run`` apart from the suite) a full-frame target
gets its darks corrected (one job for the period), the CTI basedark and weekdark with stis_cti's
keywords, and ``_flc``/``_crc``/``_s1c`` products corrected for CTI.
"""

from __future__ import annotations

import importlib.util
import json
import shutil

import pytest
import yaml
from astropy.io import fits

from stisdarks.cti import PCTE_KEYWORDS

from kill_harness import (
    KillPoint,
    differences,
    recover,
    result_digest,
    run_until_killed,
    snakemake_command,
    temporaries_in,
)
from workflow_helpers import copy_workflow, demo_config, planned_jobs, snakemake

pytestmark = pytest.mark.slow
needs_hstcal = pytest.mark.skipif(
    shutil.which("cs0.e") is None, reason="hstcal's cs0.e is not on PATH"
)

OBS = "odemo1010"


def _errors(proc) -> list[str]:
    return [line for line in proc.stderr.splitlines() if line.startswith("stisdarks: error:")]


def test_cti_through_calstis_without_hstcal_stops_before_any_job(tmp_path):
    """calibrator: calstis makes the CTI science with hstcal: without cs0.e, one line; auto
    and native correct it natively (tests/test_native_cti.py)."""
    work = copy_workflow(tmp_path / "w")
    demo_config(work, cti={"enabled": True}, calibrator="calstis")
    proc = snakemake(work, "--configfile", "test.yaml", "--cores", "2", check=False, hstcal=False)
    errors = _errors(proc)
    assert proc.returncode != 0 and len(errors) == 1, proc.stderr[-3000:]
    assert "calibrator: calstis needs hstcal's cs0.e on PATH" in errors[0]
    assert not (work / "resources").exists() and not (work / "results").exists()


@needs_hstcal
def test_a_target_stis_cti_cannot_serve_stops_or_runs_without(demo_run, tmp_path):
    work = tmp_path / "w"
    shutil.copytree(demo_run, work, symlinks=True)
    basedark = next((work / "results/periods").glob("*/basedark.fits"))
    built = basedark.stat().st_mtime_ns

    demo_config(work, name="stop.yaml", cti={"enabled": True, "unsupported": "stop"})
    proc = snakemake(work, "--configfile", "stop.yaml", "--cores", "2", check=False)
    errors = _errors(proc)
    assert proc.returncode != 0 and len(errors) == 1, proc.stderr[-3000:]
    assert f"{OBS}: stis_cti cannot correct it for CTI (a subarray (128 rows))" in errors[0]
    assert "set cti: false" in errors[0]

    demo_config(work, name="without.yaml", cti={"enabled": True})  # cti.unsupported: without
    proc = snakemake(work, "--configfile", "without.yaml", "--cores", "2")
    assert "processed without CTI correction" in proc.stdout + proc.stderr
    summary = json.loads((work / f"results/{OBS}/summary.json").read_text())
    cti = summary["cti"]
    assert {k: cti[k] for k in ("darks", "science", "refusal")} == {
        "darks": False, "science": False, "refusal": "a subarray (128 rows)"
    }  # fmt: skip
    # the demo archive keeps its truth: its detector trails charge, nothing here corrects it
    assert cti["truth"]["spectrum"]["recalibrated"]["median_relative"] < -0.01
    assert not (work / "resources/cte").exists(), "darks were corrected for a refused target"
    assert basedark.stat().st_mtime_ns == built, "the uncorrected basedark was rebuilt"


def assert_the_correction_shows(truth: dict) -> None:
    """What the CTI demo is for, measured against the synthetic archive's truth: the traps
    took charge from the pipeline's spectrum and the correction gave it back; the pipeline's
    dark (trailed darks) has hot-pixel trails and the weekdark of corrected darks has not."""
    pipeline, corrected = (
        truth["spectrum"][k]["median_relative"] for k in ("pipeline", "recalibrated")
    )
    assert pipeline < -0.02, truth["spectrum"]
    assert abs(corrected) < 0.4 * abs(pipeline), truth["spectrum"]
    dark, week = truth["dark_trails"]["pipeline_dark"], truth["dark_trails"]["weekdark"]
    assert dark["hot_pixels"] >= 20 and dark["trail"] > 0.03, dark
    assert week["trail"] < 0.25 * dark["trail"] and week["peak"] > dark["peak"] + 0.05, week


def _full_frame_cti(work):
    config = demo_config(work, cti={"enabled": True, "unsupported": "stop"}, engine="native")
    data = yaml.safe_load(config.read_text())
    data["archive"]["demo"].update(size=1024, n_darks=4)  # stis_cti corrects full frames only
    data["darks"]["week_days"] = 30
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    return work


@pytest.fixture(scope="module")
def cti_run(tmp_path_factory):
    """The full-frame CTI demo (4 darks), run once to the end."""
    work = _full_frame_cti(copy_workflow(tmp_path_factory.mktemp("cti") / "w"))
    proc = snakemake(work, "--configfile", "test.yaml", "--cores", "2", timeout=3000)
    return work, proc


@pytest.mark.cti
@needs_hstcal
def test_full_frame_target_is_corrected_for_cti(cti_run):
    work, proc = cti_run
    text = proc.stdout + proc.stderr
    darks = sorted((work / "resources/archive/darks").glob("odark*_flt.fits"))
    corrected = sorted((work / "resources/cte/darks").glob("*_cte.fits"))
    assert [p.name.replace("_cte", "_flt") for p in corrected] == [p.name for p in darks]
    assert text.count("rule cte_darks:") == 1, "one job for the period's darks"
    for path in corrected:
        assert fits.getval(path, "PCTECORR") == "COMPLETE"
        assert fits.getval(path, "SDCTIENG") == "native"
    basedark = next((work / "results/periods").glob("*/cti/basedark.fits"))
    weekdark = work / f"results/{OBS}/weekdark.fits"
    last = fits.getheader(corrected[-1])
    for product in (basedark, weekdark):
        header = fits.getheader(product)
        assert {k: header[k] for k in PCTE_KEYWORDS} == {k: last[k] for k in PCTE_KEYWORDS}
        assert header["SDCTIENG"] == "native"
    assert fits.getval(weekdark, "BASEDARK") == basedark.name
    assert [fits.getval(p, "FILENAME") for p in (basedark, weekdark)] == [
        p.name for p in (basedark, weekdark)
    ]
    recal = work / f"results/{OBS}/recal_cti"
    for kind in ("flc", "crc", "s1c"):
        header = fits.getheader(recal / f"{OBS}_{kind}.fits")
        assert header["PCTECORR"] == "COMPLETE" and header["DARKFILE"].endswith("weekdark.fits")
    summary = json.loads((work / f"results/{OBS}/summary.json").read_text())
    assert {k: summary["cti"][k] for k in ("darks", "science", "refusal")} == {
        "darks": True, "science": True, "refusal": None
    }  # fmt: skip
    assert summary["calibrator"] == "cti"
    assert_the_correction_shows(summary["cti"]["truth"])
    # a rerun corrects nothing again
    proc = snakemake(work, "--configfile", "test.yaml", "-n")
    assert planned_jobs(proc) == {}, proc.stdout[-2000:]


@pytest.mark.cti
def test_full_frame_target_without_hstcal_is_corrected_natively(tmp_path):
    """Without cs0.e (calibrator: auto) the darks, superdarks and science are all corrected
    natively: the products say native-cti and carry the correction's keywords."""
    work = _full_frame_cti(copy_workflow(tmp_path / "w"))
    snakemake(work, "--configfile", "test.yaml", "--cores", "2", timeout=3000, hstcal=False)
    recal = work / f"results/{OBS}/recal_cti"
    weekdark = fits.getheader(work / f"results/{OBS}/weekdark.fits")
    for kind in ("flc", "crc", "s1c"):
        header = fits.getheader(recal / f"{OBS}_{kind}.fits")
        assert header["SDCALIB"] == "native-cti" and header["PCTECORR"] == "COMPLETE", kind
        assert header["PCTETAB"] == weekdark["PCTETAB"] and header["SDCTIENG"] == "native"
    summary = json.loads((work / f"results/{OBS}/summary.json").read_text())
    assert summary["calibrator"] == "native-cti"
    assert {k: summary["cti"][k] for k in ("darks", "science", "refusal")} == {
        "darks": True,
        "science": True,
        "refusal": None,
    }
    assert_the_correction_shows(summary["cti"]["truth"])
    assert (work / f"results/{OBS}/figures/truth.png").stat().st_size > 20_000


@pytest.mark.cti
@pytest.mark.skipif(
    importlib.util.find_spec("stis_cti") is None, reason="needs stis_cti (pip install stis-cti)"
)
def test_the_stis_cti_engine_gives_the_native_engines_products(tmp_path):
    """The whole CTI demo with cti.engine: stis_cti (STScI's C for every correction: the
    darks and the science) ends with the same results as with the native engine, file for
    file: FITS data unit by unit, the rest byte for byte (the products' SDCTIENG aside,
    which names the engine, and the figures, whose titles do not)."""
    runs = {}
    for engine in ("native", "stis_cti"):
        work = _full_frame_cti(copy_workflow(tmp_path / engine))
        config = yaml.safe_load((work / "test.yaml").read_text())
        config["cti"]["engine"] = engine
        (work / "test.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        snakemake(work, "--configfile", "test.yaml", "--cores", "2", timeout=3000, hstcal=False)
        runs[engine] = work
    assert fits.getval(runs["stis_cti"] / f"results/{OBS}/weekdark.fits", "SDCTIENG") == "stis_cti"
    crc = runs["stis_cti"] / f"results/{OBS}/recal_cti/{OBS}_crc.fits"
    assert fits.getval(crc, "SDCTIENG") == "stis_cti"
    digests = {engine: result_digest(work) for engine, work in runs.items()}
    assert len(digests["native"]) > 20
    assert not differences(digests["stis_cti"], digests["native"])


@pytest.mark.cti
@needs_hstcal
def test_killed_while_a_dark_is_corrected_then_resumed(cti_run, tmp_path):
    """The kill point of the CTI path (docs/resume.md): SIGKILL while a corrected dark is
    held before its rename; --unlock and the same command end with the uninterrupted run's
    results, the darks corrected before the kill kept."""
    want = result_digest(cti_run[0])
    work = _full_frame_cti(copy_workflow(tmp_path / "w"))
    command = snakemake_command("test.yaml")
    point = KillPoint(
        "CTI dark correction", "resources/cte/darks/odark001q_cte.fits",
        "resources/cte/darks/.tmp-odark001q_cte-*",
    )  # fmt: skip
    killed = run_until_killed(work, point, command, tmp_path / "killed.log", timeout=2000)
    assert killed.temporaries, (tmp_path / "killed.log").read_text()[-3000:]
    first = work / "resources/cte/darks/odark000q_cte.fits"
    done_before = first.stat().st_mtime_ns if first.exists() else None
    resumed = recover(work, command, "test.yaml")
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    assert not temporaries_in(work), temporaries_in(work)
    assert not differences(result_digest(work), want)
    if done_before is not None:
        assert first.stat().st_mtime_ns == done_before, (
            "a dark corrected before the kill was redone"
        )
        log = next((work / "logs/periods").rglob("cte_darks.log")).read_text()
        assert "kept from an earlier run" in log
