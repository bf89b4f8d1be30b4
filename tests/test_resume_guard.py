"""A run never exits 0 with a result it was asked for missing (the Snakefile's onsuccess check)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from stisdarks.runner import check_results, missing_results

from workflow_helpers import copy_workflow, demo_config, snakemake

HERE = Path(__file__).resolve().parent


def test_missing_results_in_order_each_once(tmp_path):
    (tmp_path / "a").write_text("x")
    wanted = [tmp_path / "b", tmp_path / "a", tmp_path / "c", tmp_path / "b"]
    assert missing_results(wanted) == [str(tmp_path / "b"), str(tmp_path / "c")]


def test_check_results_is_silent_when_all_are_there(tmp_path, capsys):
    (tmp_path / "a").write_text("x")
    check_results([tmp_path / "a"], argv=["snakemake"])
    assert capsys.readouterr().err == ""


def test_check_results_names_what_is_missing_and_the_command(tmp_path, capsys):
    wanted = [tmp_path / f"r{i}.fits" for i in range(5)]
    with pytest.raises(SystemExit) as exc:
        check_results(wanted, argv=["/x/bin/snakemake", "--configfile", "my target.yaml"])
    assert exc.value.code == 1
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("stisdarks: error: the run ended with 5 of its results missing (")
    assert f"{tmp_path / 'r0.fits'}, " in lines[0] and "and 2 more" in lines[0]
    assert lines[0].endswith("snakemake --configfile 'my target.yaml'")


@pytest.mark.slow
def test_a_run_that_loses_its_jobs_fails_and_the_rerun_finishes(tmp_path):
    """Snakemake made to drop every job after the science_facts checkpoint (as its bug does):
    the run ends with exit 1 and one line; the same command again builds everything."""
    workdir = copy_workflow(tmp_path / "w")
    demo_config(workdir)
    args = ["--configfile", "test.yaml", "--cores", "2"]
    lost = subprocess.run(
        [sys.executable, str(HERE / "snakemake_dropping_jobs.py"), *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert lost.returncode == 1, lost.stderr[-3000:]
    errors = [line for line in lost.stderr.splitlines() if line.startswith("stisdarks: error:")]
    assert len(errors) == 1, lost.stderr[-3000:]
    assert "results/odemo1010/summary.json" in errors[0]
    assert errors[0].endswith(
        "run the same command again to make them: " + "snakemake " + " ".join(args)
    )
    assert not (workdir / "results/odemo1010/summary.json").exists()

    snakemake(workdir, *args)
    assert (workdir / "results/odemo1010/summary.json").is_file()
    assert (workdir / "results/summary.csv").is_file()


@pytest.mark.slow
def test_until_asks_for_part_of_the_run(tmp_path):
    """--until stops early on purpose: the check stays silent."""
    workdir = copy_workflow(tmp_path / "w")
    demo_config(workdir)
    proc = snakemake(workdir, "--configfile", "test.yaml", "--cores", "2", "--until", "references")
    assert "stisdarks: error" not in proc.stderr
    assert not (workdir / "results/odemo1010/summary.json").exists()
