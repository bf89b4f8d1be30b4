"""The bad-input catalogue, run through Snakemake: one clear line each, valid files kept."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import types
from pathlib import Path

import pytest

from workflow_helpers import REPO, demo_config, snakemake

pytestmark = pytest.mark.slow
OBS = "odemo1010"


def digests(root: Path, pattern: str) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.glob(pattern)
    }


@pytest.fixture
def work(demo_run, tmp_path):
    work = tmp_path / "w"
    shutil.copytree(demo_run, work, symlinks=True)
    return work


def fails_with(work: Path, config: str, message: str, *, hstcal: bool = True) -> str:
    proc = snakemake(work, "--configfile", config, "--cores", "2", check=False, hstcal=hstcal)
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if line.startswith("stisdarks: error:")]
    assert len(errors) == 1, proc.stderr[-3000:]
    assert message in errors[0], errors[0]
    assert "Traceback" not in proc.stderr
    return errors[0]


KEPT = ["resources/archive/**/*.fits", "results/periods/*/basedark.fits"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"targets": [{"obs_id": "odemo9999"}]}, "odemo9999 is not in the local archive"),
        ({"darks": {"min_week_darks": 20}}, "widen week_days or lower min_week_darks"),
        ({"period": {"start": "2021-04-10 00:00:00", "end": "2021-04-20 00:00:00"}},
         "does not contain the observation"),
    ],
    ids=["unknown-obs-id", "too-few-week-darks", "period-without-the-observation"],
)  # fmt: skip
def test_bad_configuration(work, overrides, message):
    before = {p: digests(work, p) for p in KEPT}
    demo_config(work, name="bad.yaml", **overrides)
    fails_with(work, "bad.yaml", message)
    assert {p: digests(work, p) for p in KEPT} == before, "a valid file was lost or changed"


def test_a_truncated_dark_is_named_then_fetched_again_as_the_message_says(work):
    """A dark damaged after its period was fetched: the basedark (when it must be rebuilt)
    names it in one line with the fix; that fix fetches only it, and the basedark is the same.
    (A deleted dark gets the same fix: tests/test_local_archive.py, ``dark_paths``.)"""
    dark = next((work / "resources/archive/darks").glob("odark003q_flt.fits"))
    basedark = next((work / "results/periods").glob("*/basedark.fits"))
    used = basedark.with_name("darks_used.csv")
    reference, used_reference = basedark.read_bytes(), used.read_bytes()
    dark.write_bytes(dark.read_bytes()[:5000])
    basedark.unlink()
    others = digests(work, "resources/archive/**/*.fits")
    target = str(basedark.relative_to(work))
    proc = snakemake(work, "--configfile", "test.yaml", "--cores", "2", target, check=False)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("stisdarks: error:")]
    assert proc.returncode != 0 and len(errors) == 1, proc.stderr[-3000:]
    assert "odark003q_flt.fits is truncated" in errors[0] and "--forcerun period_darks" in errors[0]
    assert digests(work, "resources/archive/**/*.fits") == others
    mtimes = {p: p.stat().st_mtime_ns for p in (work / "resources/archive/darks").glob("*.fits")}
    snakemake(
        work, "--configfile", "test.yaml", "--cores", "2", "--forcerun", "period_darks", target
    )
    assert dark.stat().st_size % 2880 == 0
    assert basedark.read_bytes() == reference and used.read_bytes() == used_reference
    refetched = [p.name for p, t in mtimes.items() if p.stat().st_mtime_ns != t]
    assert refetched == [dark.name], "valid darks were fetched again"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"crreject": {"crsigmas": "0,-1"}},
         "stisdarks: error: config crreject: crsigmas '0,-1' must be positive thresholds"),
        ({"crreject": {"scalense": -50}}, "-50 is less than the minimum of 0"),
    ],
    ids=["crsigmas", "scalense"],
)  # fmt: skip
def test_out_of_range_cr_parameters_stop_the_workflow_before_any_job(work, overrides, message):
    before = {p: digests(work, p) for p in KEPT}
    demo_config(work, name="bad.yaml", **overrides)
    proc = snakemake(work, "--configfile", "bad.yaml", "--cores", "2", check=False)
    assert proc.returncode != 0 and message in proc.stderr, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr and "Job stats" not in proc.stdout + proc.stderr
    assert {p: digests(work, p) for p in KEPT} == before


def test_schema_ranges_are_the_cli_ranges():
    """config/schema.yaml bounds the CR overrides exactly as stisdarks.crrejtab.check_overrides."""
    import yaml

    from stisdarks.crrejtab import _RANGES

    schema = yaml.safe_load((REPO / "config/schema.yaml").read_text())
    props = schema["properties"]["crreject"]["properties"]
    for key, (low, high, _) in _RANGES.items():
        assert (props[key]["minimum"], props[key]["maximum"]) == (low, high), key


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("engine", "refstis", "engine: refstis needs hstcal's cs0.e on PATH; install hstcal"),
        ("calibrator", "calstis", "calibrator: calstis needs hstcal's cs0.e on PATH"),
    ],
)
def test_hstcal_choice_without_hstcal_stops_before_any_download(work, key, value, message):
    """Checked when the workflow starts: no download, the old basedark kept."""
    dark = work / "resources/archive/darks/odark003q_flt.fits"
    dark.unlink()  # a run that went ahead would download it again (and rebuild the basedark)
    basedark = next((work / "results/periods").glob("*/basedark.fits"))
    reference = basedark.read_bytes()
    demo_config(work, name="hstcal.yaml", **{key: value})
    line = fails_with(work, "hstcal.yaml", message, hstcal=False)
    assert line.endswith(f"or set {key}: native") and "--engine" not in line
    assert not dark.exists() and basedark.read_bytes() == reference


# ---------------------------------------------------------------- OS errors in a stage


def _run_write_stage(tmp_path, out: Path) -> tuple[int, str]:
    """Run a real stage (``stages.write_json``, through ``atomic_path``) under ``run_stage``."""
    from stisdarks import stages
    from stisdarks.runner import run_stage

    fake = types.SimpleNamespace(
        log=[str(tmp_path / "x.log")], rule="science_facts", output=[str(out)]
    )
    with pytest.raises(SystemExit) as exit_info:
        run_stage(fake, stages.write_json, path=out, data={"a": 1})
    return exit_info.value.code


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (errno.ENOSPC, "no space left on device; free some space (or write elsewhere) and rerun"),
        (errno.EROFS, "read-only file system; write to a writable directory"),
    ],
    ids=["disk-full", "read-only"],
)
def test_disk_full_and_read_only_in_a_stage_are_one_line(
    tmp_path, capfd, monkeypatch, code, message
):
    out = tmp_path / "results" / "science.json"
    out.parent.mkdir()
    real_write = Path.write_text

    def write_text(self, *args, **kwargs):
        if self.parent == out.parent:  # the write fails as the kernel would make it fail
            raise OSError(code, os.strerror(code))
        return real_write(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", write_text)
    assert _run_write_stage(tmp_path, out) == 1
    err = capfd.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("stisdarks: error:")]
    assert lines == [f"stisdarks: error: cannot write {out}: {message}"], err
    assert "Traceback" not in err and not list(out.parent.iterdir()), "a temporary was left"


def test_an_output_that_is_a_directory_in_a_stage_is_one_line(tmp_path, capfd):
    out = tmp_path / "results" / "science.json"
    (out / "something").mkdir(parents=True)  # real: the rename onto it fails
    assert _run_write_stage(tmp_path, out) == 1
    err = capfd.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("stisdarks: error:")]
    assert lines == [f"stisdarks: error: {out} is a directory; give a file name for the output"]
    assert sorted(p.name for p in out.parent.iterdir()) == ["science.json"]


def test_an_unknown_os_error_is_not_hidden(tmp_path):
    from stisdarks.runner import run_stage

    def stage():
        raise OSError(errno.EIO, "Input/output error")

    fake = types.SimpleNamespace(log=[], rule="x", output=[])
    with pytest.raises(OSError, match="Input/output error"):
        run_stage(fake, stage)
