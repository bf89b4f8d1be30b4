"""The cluster profile (profiles/slurm) on a real SLURM scheduler: the same results as locally.

Needs SLURM's client commands and a node that shares this filesystem, e.g. the single-node
test cluster of ``tests/slurm_cluster.sh`` (as root: ``bash tests/slurm_cluster.sh``; see
docs/cluster.md). Skipped otherwise. The small demo is run once locally (the session's
``demo_run``: ``copy_workflow`` + ``demo_config``) and once, on a copy of that workflow and
config, through the profile; then the products are compared and the rules that went through
``sbatch`` are checked against the Snakefile's ``localrules``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from astropy.io import fits

from kill_harness import differences, result_digest, temporaries_in
from workflow_helpers import WORKFLOW_PARTS, snakemake

pytestmark = [pytest.mark.slow, pytest.mark.slurm]

#: the plugin's delay before its first status check, and after each job that finishes (its
#: default, 40 s, only makes the test slower)
STATUS_DELAY = 5
#: a safety net only: the small demo takes a few minutes through the scheduler
TIMEOUT = 1800


def _run(*cmd: str, timeout: float = 60) -> subprocess.CompletedProcess | None:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return None


def _min_job_age() -> int | None:
    """MinJobAge (s): how long slurmctld still lists a finished job (``squeue``)."""
    proc = _run("scontrol", "show", "config")
    m = re.search(r"^MinJobAge\s*=\s*(\d+)", proc.stdout if proc else "", re.MULTILINE)
    return int(m.group(1)) if m else None


def _status_args() -> list[str]:
    """How the plugin learns job states here (skips the test if it could not).

    The plugin asks ``sacct`` whenever it is installed; without slurmdbd ``sacct`` fails and
    the plugin would wait forever, so use ``squeue``, which the plugin keeps only if
    slurmctld remembers finished jobs for 3 status delays (MinJobAge).
    """
    sacct = _run("sacct", "--noheader", "-X", "--format=JobIdRaw", "--starttime", "now-1hours")
    if sacct is not None and sacct.returncode == 0:
        return []
    age = _min_job_age()
    if age is None or age < 3 * STATUS_DELAY:
        pytest.skip(
            f"sacct does not work (no slurmdbd) and MinJobAge={age} s is too short for squeue"
        )
    return ["--slurm-status-command", "squeue"]


@pytest.fixture(scope="module")
def cluster() -> None:
    missing = [c for c in ("sbatch", "sinfo", "squeue", "scontrol") if shutil.which(c) is None]
    if missing:
        pytest.skip(
            f"no SLURM here ({', '.join(missing)} not found); as root: bash tests/slurm_cluster.sh"
        )
    # (with slurmctld down, sinfo retries for a while)
    proc = _run("sinfo", "--noheader", "--responding", "--format=%T", timeout=20)
    states = set(proc.stdout.split()) if proc and proc.returncode == 0 else set()
    if not states & {"idle", "mixed", "allocated", "completing"}:
        pytest.skip(
            f"no SLURM node answers (sinfo: {sorted(states) or 'nothing'}); "
            "as root: bash tests/slurm_cluster.sh"
        )
    pytest.importorskip("snakemake_executor_plugin_slurm")


@pytest.fixture(scope="module")
def local_run(cluster, request) -> Path:
    """The session's local run of the small demo (``demo_run``), once SLURM is known to answer."""
    return request.getfixturevalue("demo_run")


def _cancel_jobs_in(workdir: Path) -> None:
    """Cancel what is left of the run's SLURM jobs (after a timeout or a failure)."""
    proc = _run("squeue", "--noheader", "--format=%i|%Z")
    rows = (line.split("|", 1) for line in (proc.stdout if proc else "").splitlines())
    ids = [i for i, wd in rows if Path(wd.strip()) == workdir.resolve()]
    if ids:
        _run("scancel", *ids)


def _copy_of(local_run: Path, workdir: Path) -> Path:
    """The local run's workflow and config (not its results), so both run the same workflow
    even if the repository changed in between."""
    workdir.mkdir(parents=True, exist_ok=True)
    for part in (*WORKFLOW_PARTS, "test.yaml"):
        if (local_run / part).is_dir():
            shutil.copytree(local_run / part, workdir / part)
        elif (local_run / part).exists():
            shutil.copy2(local_run / part, workdir / part)
    return workdir


def _profile_args() -> list[str]:
    """The README's cluster command's arguments (docs/cluster.md), status checks made quick."""
    return [
        "--configfile",
        "test.yaml",
        "--workflow-profile",
        "profiles/slurm",
        "--jobs",
        "2",
        "--slurm-init-seconds-before-status-checks",
        str(STATUS_DELAY),
        *_status_args(),
    ]


@pytest.fixture(scope="module")
def slurm_run(local_run, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """A workflow copy on which the small demo ran through ``--workflow-profile profiles/slurm``."""
    workdir = _copy_of(local_run, tmp_path_factory.mktemp("slurm"))
    try:
        # keep SLURM's log of every job, to tell which rules went through sbatch
        proc = snakemake(workdir, *_profile_args(), "--slurm-keep-successful-logs", timeout=TIMEOUT)
    finally:
        _cancel_jobs_in(workdir)
    return workdir, proc


def _running_job_of(workdir: Path) -> tuple[str, str, str] | None:
    """(SLURM job id, its node, its rule's job name) of a job of this run that is running."""
    proc = _run("squeue", "--noheader", "--states=RUNNING", "--format=%i|%N|%Z|%k")
    for line in (proc.stdout if proc else "").splitlines():
        job, node, where, comment = (f.strip() for f in line.split("|", 3))
        if Path(where) == workdir.resolve():
            return job, node, comment
    return None


def localrules(workdir: Path) -> set[str]:
    """The rule names of the Snakefile's ``localrules:`` (one block, or one line)."""
    text = (workdir / "Snakefile").read_text()
    m = re.search(r"^localrules:(.*?)(?:\n\s*\n|\Z)", text, re.MULTILINE | re.DOTALL)
    assert m, "the Snakefile has no localrules"
    return set(re.findall(r"\w+", m.group(1)))


def executed(proc: subprocess.CompletedProcess) -> dict[str, set[str]]:
    """Rule names Snakemake ran, by where: ``local`` (this machine) or ``remote`` (SLURM)."""
    text = proc.stdout + proc.stderr
    found = re.findall(r"^(local)?(?:rule|checkpoint) (\w+):$", text, re.MULTILINE)
    return {
        "local": {name for local, name in found if local},
        "remote": {name for local, name in found if not local},
    }


def products(workdir: Path, pattern: str) -> set[str]:
    return {str(p.relative_to(workdir)) for p in (workdir / "results").rglob(pattern)}


def normalised(value, workdir: Path):
    """JSON content with the run's own directory replaced (paths legitimately differ)."""
    if isinstance(value, dict):
        return {k: normalised(v, workdir) for k, v in value.items()}
    if isinstance(value, list):
        return [normalised(v, workdir) for v in value]
    if isinstance(value, str):
        return value.replace(str(workdir.resolve()), "<workdir>").replace(str(workdir), "<workdir>")
    return value


def test_the_profile_runs_through_slurm(slurm_run):
    workdir, proc = slurm_run
    assert "SLURM run ID" in proc.stdout + proc.stderr
    assert re.search(r"submitted with SLURM jobid \d+", proc.stdout + proc.stderr)
    assert not list(workdir.rglob(".tmp-*")), "a temporary file was left behind"


def test_downloads_stay_on_the_login_node(slurm_run):
    workdir, proc = slurm_run
    local = localrules(workdir)
    assert {"download_science", "period_darks", "references"} <= local
    ran = executed(proc)
    # SLURM's own log of each job: logs/slurm/rule_<name>/<wildcards>/<jobid>.log
    logs = sorted((workdir / "logs/slurm").glob("rule_*/**/*.log"))
    submitted = {p.relative_to(workdir / "logs/slurm").parts[0][len("rule_") :] for p in logs}
    n_submitted = len(re.findall(r"submitted with SLURM jobid", proc.stdout + proc.stderr))
    assert len(logs) == n_submitted > 0
    assert not submitted & local, f"local rules went through sbatch: {submitted & local}"
    assert ran["local"] <= local
    assert ran["local"] & {"download_science", "period_darks", "references"}
    assert submitted == ran["remote"], "every other rule ran through SLURM"
    assert {"basedark", "weekdark", "recalibrate"} <= submitted
    for log in logs:
        rule = log.relative_to(workdir / "logs/slurm").parts[0][len("rule_") :]
        text = log.read_text()
        assert re.search(rf"^(local)?(rule|checkpoint) {rule}:$", text, re.MULTILINE), log
        assert "Finished jobid" in text, log


def test_same_superdarks_and_products_as_a_local_run(slurm_run, local_run):
    workdir, _ = slurm_run
    fits_files = products(local_run, "*.fits")
    assert fits_files == products(workdir, "*.fits")
    superdarks = {f for f in fits_files if f.endswith(("/basedark.fits", "/weekdark.fits"))}
    assert len(superdarks) >= 2
    for name in sorted(fits_files):
        with fits.open(local_run / name) as ref, fits.open(workdir / name) as new:
            assert len(ref) == len(new), name
            for a, b in zip(ref, new, strict=True):
                assert (a.name, a.header.get("XTENSION")) == (b.name, b.header.get("XTENSION"))
                if a.data is None:
                    assert b.data is None, f"{name}[{a.name}]"
                else:
                    assert a.data.tobytes() == b.data.tobytes(), f"{name}[{a.name}] differs"


def test_same_summary_and_tables_as_a_local_run(slurm_run, local_run):
    workdir, _ = slurm_run
    documents = products(local_run, "*.json")
    assert documents == products(workdir, "*.json")
    assert any(d.endswith("/summary.json") for d in documents)
    for name in sorted(documents):
        ref = normalised(json.loads((local_run / name).read_text()), local_run)
        new = normalised(json.loads((workdir / name).read_text()), workdir)
        assert ref == new, name
    tables = products(local_run, "*.csv")
    assert tables == products(workdir, "*.csv")
    for name in sorted(tables):
        ref = normalised((local_run / name).read_text(), local_run)
        assert ref == normalised((workdir / name).read_text(), workdir), name


def test_every_figure_is_produced(slurm_run, local_run):
    workdir, _ = slurm_run
    figures = products(local_run, "*.png")
    assert figures == products(workdir, "*.png")
    assert {"basedark.png", "weekdark.png"} <= {Path(f).name for f in figures}
    for name in figures:
        data = (workdir / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000, name


@pytest.mark.parametrize("retries", [None, 0], ids=["profile-retries", "no-retries"])
def test_a_job_lost_with_its_node_gives_the_same_results(local_run, tmp_path, retries):
    """A node dies under a running job, which SLURM does not requeue (the test forbids it).
    With the profile's ``retries`` Snakemake submits the job again and the run finishes; with
    none the run fails, and after ``--unlock`` the same command finishes it. Either way every
    result equals the local run's."""
    workdir = _copy_of(local_run, tmp_path / "w")
    args = _profile_args() + ([] if retries is None else ["--retries", str(retries)])
    command = [sys.executable, "-m", "snakemake", *args]
    with open(tmp_path / "lost.log", "w") as log:
        proc = subprocess.Popen(command, cwd=workdir, stdout=log, stderr=subprocess.STDOUT)
    node = None
    try:
        deadline = time.monotonic() + TIMEOUT
        while proc.poll() is None and time.monotonic() < deadline:
            running = _running_job_of(workdir)
            if running:
                job, node, _ = running
                assert _run("scontrol", "update", f"jobid={job}", "requeue=0").returncode == 0
                down = _run(
                    "scontrol", "update", f"nodename={node}", "state=down", "reason=stisdarks-test"
                )
                assert down is not None and down.returncode == 0, down and down.stderr
                break
            time.sleep(0.5)
        log_text = lambda: (tmp_path / "lost.log").read_text()[-3000:]  # noqa: E731
        assert node, "no job of the run ran on SLURM:\n" + log_text()
        code = proc.wait(timeout=TIMEOUT)
        assert "NODE_FAIL" in (tmp_path / "lost.log").read_text(), log_text()
    finally:
        if proc.poll() is None:
            proc.kill()
        if node:
            _run("scontrol", "update", f"nodename={node}", "state=resume")
        _cancel_jobs_in(workdir)
    _wait_for_idle_node()
    if retries is None:
        assert code == 0, "the profile's retries did not finish the run:\n" + log_text()
    else:
        assert code != 0, "the run did not notice its job was lost"
        snakemake(workdir, "--unlock", "--configfile", "test.yaml")
        snakemake(workdir, *args, timeout=TIMEOUT)
    assert not temporaries_in(workdir), temporaries_in(workdir)
    assert not differences(result_digest(workdir), result_digest(local_run))


def _wait_for_idle_node(timeout: float = 120) -> None:
    """Wait until a node takes jobs again (after ``state=resume``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        proc = _run("sinfo", "--noheader", "--responding", "--format=%T")
        if proc and set(proc.stdout.split()) & {"idle", "mixed"}:
            return
        time.sleep(1)
    raise AssertionError("no SLURM node came back after state=resume")
