"""Glue between a Snakemake ``script:`` job and a library stage.

Each script in ``scripts/`` is a thin adapter: it unpacks the ``snakemake`` object and
hands one stage function to :func:`run_stage`, which routes log records to the rule's
``log:`` file (and stderr), removes what an earlier, killed attempt of the job left
beside its outputs (:func:`stisdarks.atomic.remove_temporaries_of`), and turns a
:class:`~stisdarks.errors.StisDarksError` into one clear line and a non-zero exit
instead of a traceback; so are the operating-system errors a user can fix (disk full,
read-only file system, permission denied, an output that is a directory:
:func:`os_error_message`). :func:`check_workflow_config` does the same for the checks the
``Snakefile`` runs before any job, and :func:`check_results` for the end of a run that
Snakemake calls successful: a run never exits 0 with a result it was asked for missing.
"""

from __future__ import annotations

import errno
import logging
import os
import shlex
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from stisdarks.atomic import TEMP_PREFIX, remove_temporaries_of
from stisdarks.errors import StisDarksError

__all__ = [
    "configure_logging",
    "clear_leftovers",
    "os_error_message",
    "run_stage",
    "check_workflow_config",
    "end_promptly",
    "missing_results",
    "check_results",
]

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(log_file: str | Path | None = None, level: int = logging.INFO) -> None:
    """Send ``stisdarks`` log records to ``log_file`` (if given) and to stderr."""
    root = logging.getLogger()
    root.setLevel(level)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    stream = logging.StreamHandler(sys.stderr)
    stream.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root.addHandler(stream)
    if log_file:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        fh = logging.FileHandler(log_file, mode="w")
        fh.setFormatter(logging.Formatter(_FORMAT))
        root.addHandler(fh)
    # (astroquery and CRDS install their own logger classes: never create theirs first)
    for noisy in ("matplotlib", "urllib3", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def clear_leftovers(outputs: Iterable[str | Path]) -> None:
    """Remove the temporaries a killed earlier attempt of this job left for ``outputs``.

    Safe while other jobs write into the same directories: Snakemake gives each output
    exactly one producing job, so only this job writes (or wrote) these temporaries.
    """
    for output in outputs:
        remove_temporaries_of(output)


def run_stage(snakemake: Any, stage: Callable[..., Any], **kwargs: Any) -> Any:
    """Run ``stage(**kwargs)`` inside a Snakemake job.

    Before the stage starts, the temporaries that an interrupted earlier attempt of
    the job left beside its outputs are removed (:func:`clear_leftovers`).

    Parameters
    ----------
    snakemake : snakemake.script.Snakemake
        The object Snakemake injects into a ``script:``.
    stage : callable
        A function of :mod:`stisdarks.stages`.
    **kwargs
        Its arguments.
    """
    log_file = snakemake.log[0] if len(snakemake.log) else None
    configure_logging(log_file)
    log = logging.getLogger(f"stisdarks.rule.{snakemake.rule}")
    clear_leftovers(getattr(snakemake, "output", ()))
    try:
        return stage(**kwargs)
    except StisDarksError as exc:
        _fail(log, str(exc))
    except OSError as exc:
        outputs = [str(p) for p in getattr(snakemake, "output", ())]
        message = os_error_message(exc, outputs[0] if outputs else None)
        if message is None:
            raise
        _fail(log, message)


def _where(exc: OSError, output: str | os.PathLike | None) -> tuple[str, bool]:
    """The path an OS error is about (a temporary's directory rather than the temporary),
    and whether it is the output being written."""
    for name in (exc.filename2, exc.filename):
        if name is None:
            continue
        name = os.fsdecode(name)
        if os.path.basename(name).startswith(TEMP_PREFIX):
            return f"in {os.path.dirname(name) or '.'}", True
        return name, output is not None and os.path.abspath(name) == os.path.abspath(output)
    if output is not None:
        return os.fspath(output), True
    return "an output", True


def os_error_message(exc: OSError, output: str | os.PathLike | None = None) -> str | None:
    """One line naming an operating-system error a user can fix, and the fix; ``None`` otherwise.

    Parameters
    ----------
    exc : OSError
        The error: disk full, quota, read-only file system, permission denied, a path that
        is a directory or runs through a file, or an output directory in which no file can
        be created (e.g. ``/proc``).
    output : path-like, optional
        The output being written, named when the error carries no file name (a failed
        ``write`` does not).
    """
    where, is_output = _where(exc, output)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        what = "no space left on device" if exc.errno == errno.ENOSPC else "disk quota exceeded"
        return f"cannot write {where}: {what}; free some space (or write elsewhere) and rerun"
    if exc.errno == errno.EROFS:
        return f"cannot write {where}: read-only file system; write to a writable directory"
    if isinstance(exc, PermissionError):
        return f"cannot write {where}: permission denied; make the directory writable"
    if exc.errno == errno.EISDIR:
        return f"{where} is a directory; give a file name for the output"
    if exc.errno == errno.ENOTDIR:
        return f"{where}: part of the path is a file, not a directory; fix the path"
    if exc.errno == errno.ENOENT and is_output:
        return f"cannot write {where}: no such file or directory; give an output in a writable directory"
    return None


def check_workflow_config(config: dict[str, Any], *, uses_conda: bool = False) -> None:
    """Run :func:`stisdarks.settings.check_config` for the ``Snakefile``; one line and exit 1 if it fails.

    Called before any job runs, so a configuration that cannot work stops the workflow
    before anything is downloaded, and before Snakemake removes outputs it would rebuild.
    """
    from stisdarks.settings import check_config

    try:
        check_config(config, uses_conda=uses_conda)
    except StisDarksError as exc:
        print(f"stisdarks: error: {exc}", file=sys.stderr, flush=True)
        sys.exit(1)


def _fail(log: logging.Logger, message: str) -> None:
    log.error("%s", message)
    print(f"stisdarks: error: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def jobs_import_from(src: str) -> None:
    """Put ``src`` first on ``PYTHONPATH``, so the jobs Snakemake starts import this checkout.

    For ``--sdm conda``: the jobs' environment (``envs/stisdarks.yaml``) brings every
    dependency but not the package, which lives in the workflow's own ``src/``. Jobs inherit
    the variable (on SLURM too: ``sbatch`` exports the submitting environment).
    """
    current = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (src, current) if p)


def end_promptly() -> int:
    """Cancel the timers Snakemake's job-rate limiter leaves pending, so the run ends at once.

    Snakemake 9 arms a ``threading.Timer`` of ``--max-jobs-per-timespan``'s span (1 s by
    default) after each scheduling pass, to look again for jobs the rate limit held back.
    These timers are not daemons: Python waits for the last one before it exits, so a run
    that executed anything used to end up to a second after its last job. The ``Snakefile``
    calls this from ``onsuccess`` and ``onerror``, when the scheduler needs them no more.

    Returns
    -------
    int
        The number of timers cancelled.
    """
    import threading

    pending = [t for t in threading.enumerate() if isinstance(t, threading.Timer)]
    for timer in pending:
        timer.cancel()
    return len(pending)


def missing_results(expected: Iterable[str | os.PathLike]) -> list[str]:
    """The files of ``expected`` that are not on disk, in their order, each once."""
    return [p for p in dict.fromkeys(os.fspath(e) for e in expected) if not os.path.exists(p)]


def _command_line(argv: list[str]) -> str:
    """The command the user ran, as they would type it again (``snakemake ARGS``)."""
    return shlex.join(["snakemake", *argv[1:]])


def check_results(
    expected: Iterable[str | os.PathLike], *, argv: list[str] | None = None, shown: int = 3
) -> None:
    """End the run with one line and exit status 1 when a result it was asked for is missing.

    Snakemake can end a resumed run "100% done" with jobs it never ran (a checkpoint's
    update of the job graph can drop the jobs after it; docs/resume.md). The ``Snakefile``
    calls this from ``onsuccess`` with every file the run was asked for, so that such a run
    fails loudly instead of exiting 0: on a cluster or in a script nobody looks again.

    Parameters
    ----------
    expected : iterable of path-like
        The files the run was asked for (relative to the working directory).
    argv : list of str, optional
        The command line (default: ``sys.argv``), repeated in the message: running it again
        builds what is missing.
    shown : int
        How many missing files the line names before "and N more".
    """
    missing = missing_results(expected)
    if not missing:
        return
    names = ", ".join(missing[:shown]) + (
        f" and {len(missing) - shown} more" if len(missing) > shown else ""
    )
    command = _command_line(sys.argv if argv is None else argv)
    print(
        f"stisdarks: error: the run ended with {len(missing)} of its results missing "
        f"({names}); run the same command again to make them: {command}",
        file=sys.stderr,
        flush=True,
    )
    sys.exit(1)
