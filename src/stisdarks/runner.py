"""Glue between a Snakemake ``script:`` job and a library stage.

Each script in ``scripts/`` is a thin adapter: it unpacks the ``snakemake`` object and
hands one stage function to :func:`run_stage`, which routes log records to the rule's
``log:`` file (and stderr), removes what an earlier, killed attempt of the job left
beside its outputs (:func:`stisdarks.atomic.remove_temporaries_of`), and turns a
:class:`~stisdarks.errors.StisDarksError` into one clear line and a non-zero exit
instead of a traceback.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from stisdarks.atomic import remove_temporaries_of
from stisdarks.errors import StisDarksError

__all__ = ["configure_logging", "clear_leftovers", "run_stage"]

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
    except PermissionError as exc:
        _fail(
            log,
            f"cannot write {exc.filename or 'an output'}: permission denied; make the directory writable",
        )


def _fail(log: logging.Logger, message: str) -> None:
    log.error("%s", message)
    print(f"stisdarks: error: {message}", file=sys.stderr, flush=True)
    sys.exit(1)
