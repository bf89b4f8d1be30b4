"""Kill a real workflow run at a chosen moment, recover as the README says, compare the results.

A :class:`KillPoint` says when to kill: while a write of a given kind is held before its
rename (the atomic writer's test hook ``STISDARKS_TEST_PAUSE_BEFORE_RENAME``, see
:mod:`stisdarks.atomic`: a held write cannot finish before the kill, so nothing depends on
timing), or a given number of seconds after the start. :func:`run_until_killed` starts
``snakemake`` in its own process group and SIGKILLs the whole group (Snakemake and every
job) at that moment; :func:`recover` runs the README's "When a run is killed" commands
(``--unlock``, then the same command). :func:`result_digest` hashes every result a run
leaves (FITS data unit by unit, tables column by column; other files byte for byte, the
working directory's own path written as ``<workdir>``), so two runs in different
directories compare equal when their results are.

Used by tests/test_killpoints.py (the stress test), tests/test_crash.py and
tests/test_slurm.py.
"""

from __future__ import annotations

import glob
import hashlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits

from stisdarks.atomic import PAUSE_HOOK

#: what a run leaves that the comparison covers (relative to the working directory)
RESULT_DIRS = ("results", "resources")
#: files that differ between identical runs by design (lock files, CRDS' cache settings)
VOLATILE = (".stisdarks.lock", "ref_cache_subdir_mode")


@dataclass(frozen=True)
class KillPoint:
    """When to kill a run.

    Attributes
    ----------
    name : str
        What is under way at that moment (the test's id).
    held : str, optional
        Glob (relative to the working directory) of the destinations whose rename is held.
    temporaries : str, optional
        Glob of the temporaries whose appearance triggers the kill (those of ``held``).
    after : float, optional
        Otherwise: kill this many seconds after the start.
    """

    name: str
    held: str | None = None
    temporaries: str | None = None
    after: float | None = None


@dataclass
class Killed:
    """What :func:`run_until_killed` saw."""

    temporaries: list[Path]  #: the temporaries of the held write present at the kill
    finished: bool  #: the run ended by itself before the kill (a late timed point)
    returncode: int | None


def snakemake_command(configfile: str, *extra: str) -> list[str]:
    """The README's command: ``snakemake --configfile FILE --cores 2``."""
    return [sys.executable, "-m", "snakemake", "--configfile", configfile, "--cores", "2", *extra]


def run_until_killed(
    workdir: Path,
    point: KillPoint,
    command: list[str],
    log: Path,
    *,
    timeout: float = 300,
    env: dict[str, str] | None = None,
) -> Killed:
    """Run ``command`` in ``workdir`` and SIGKILL its process group at ``point``."""
    env = dict(os.environ if env is None else env)
    if point.held:
        env[PAUSE_HOOK] = f"{glob.escape(str(workdir.resolve()))}/{point.held}"
    start = time.monotonic()
    deadline = start + timeout
    with open(log, "w") as out:
        proc = subprocess.Popen(
            command,
            cwd=workdir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            while proc.poll() is None and time.monotonic() < deadline:
                if point.temporaries and list(workdir.glob(point.temporaries)):
                    break
                if point.after is not None and time.monotonic() - start >= point.after:
                    break
                time.sleep(0.02)
        finally:
            finished = proc.poll() is not None
            if not finished:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    left = sorted(workdir.glob(point.temporaries)) if point.temporaries else []
    return Killed(left, finished, proc.returncode)


def run(workdir: Path, command: list[str], timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``command`` in ``workdir`` to its end (output captured)."""
    return subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=timeout)


def recover(workdir: Path, command: list[str], configfile: str) -> subprocess.CompletedProcess:
    """README, "When a run is killed": ``snakemake --unlock``, then the same command again."""
    unlock = run(
        workdir, [sys.executable, "-m", "snakemake", "--unlock", "--configfile", configfile]
    )
    assert unlock.returncode == 0, unlock.stderr[-3000:]
    return run(workdir, command)


def _fits_digest(path: Path) -> str:
    """Hash of a FITS file's data: each HDU's array, or each table column, in order."""
    h = hashlib.sha256()
    with fits.open(path) as hdul:
        for hdu in hdul:
            data = hdu.data
            if data is None:
                h.update(b"<none>")
            elif getattr(data.dtype, "names", None):
                for name in data.dtype.names:
                    h.update(name.encode())
                    h.update(np.ascontiguousarray(data[name]).tobytes())
            else:
                h.update(np.ascontiguousarray(data).tobytes())
    return h.hexdigest()


def result_digest(workdir: Path) -> dict[str, str]:
    """``{path relative to workdir: hash}`` of every result file (temporaries included)."""
    out: dict[str, str] = {}
    prefix = str(workdir.resolve()).encode()
    for top in RESULT_DIRS:
        for path in sorted((workdir / top).rglob("*")):
            if not path.is_file() or path.name in VOLATILE:
                continue
            rel = str(path.relative_to(workdir))
            if path.suffix == ".fits" and not path.name.startswith(".tmp-"):
                out[rel] = _fits_digest(path)
            else:
                data = path.read_bytes().replace(prefix, b"<workdir>")
                out[rel] = hashlib.sha256(data).hexdigest()
    return out


def differences(got: dict[str, str], want: dict[str, str]) -> list[str]:
    """What differs between two digests: missing, extra and changed files (empty: identical)."""
    out = [f"missing {p}" for p in sorted(want.keys() - got.keys())]
    out += [f"extra {p}" for p in sorted(got.keys() - want.keys())]
    out += [f"differs {p}" for p in sorted(want.keys() & got.keys()) if got[p] != want[p]]
    return out


def temporaries_in(workdir: Path) -> list[str]:
    """Every temporary file or directory left anywhere under ``workdir``'s results."""
    return sorted(
        str(p.relative_to(workdir)) for top in RESULT_DIRS for p in (workdir / top).rglob(".tmp-*")
    )
