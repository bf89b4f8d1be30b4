"""The worker processes the cosmic-ray rejection shares its image sets and blocks among.

They are forked (Linux only: there a fork costs milliseconds and the workers inherit the
inputs; elsewhere, or with one worker, everything runs in the calling process). Threads
would not do: the passes are streams of NumPy calls on a few hundred kB each, and a second
thread waits for the GIL between them more than it computes (measured on 2 cores: two
threads were no faster than one).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

__all__ = ["worker_pool"]


@contextlib.contextmanager
def worker_pool(count: int) -> Iterator[Callable]:
    """``run(func, tasks)``: the results of ``func`` on each task, in order, computed by
    ``count`` forked processes (Linux) or here; it raises what the first failing task
    raised, as a loop would."""
    count = min(count, os.cpu_count() or 1)
    if count < 2 or sys.platform != "linux" or multiprocessing.current_process().daemon:
        yield lambda func, tasks: [func(t) for t in tasks]
        return

    def run(func: Callable, tasks: Sequence) -> list:
        # a worker that dies (killed, out of memory) raises BrokenProcessPool here, not a hang
        results = list(pool.map(_caught, [(func, t) for t in tasks]))
        for result in results:
            if isinstance(result, _Failed):
                raise result.error
        return results

    with ProcessPoolExecutor(count, mp_context=multiprocessing.get_context("fork")) as pool:
        yield run


@dataclass
class _Failed:
    """What a worker's task raised."""

    error: BaseException


def _caught(call: tuple[Callable, Any]) -> Any:
    func, task = call
    try:
        return func(task)
    except Exception as error:  # handed back, raised in order by the caller
        return _Failed(error)
