"""Atomic writes and the removal of what a killed writer left (stisdarks.atomic)."""

from __future__ import annotations

import glob
import logging
import os
import signal
import subprocess
import sys
import types

import pytest

from stisdarks import atomic
from stisdarks.atomic import (
    PAUSE_HOOK,
    TEMP_PREFIX,
    atomic_path,
    remove_temporaries_in,
    remove_temporaries_of,
    shared_atomic_path,
)
from stisdarks.runner import run_stage


def killed_mid_write(dest, shared: bool = False) -> str:
    """Fork a writer of ``dest``, SIGKILL it inside the write as a crash would; the temporary's name."""
    before = set(temporaries(dest.parent)) if dest.parent.is_dir() else set()
    pid = os.fork()
    if pid == 0:
        with (shared_atomic_path if shared else atomic_path)(dest) as tmp:
            tmp.write_text("half")
            os.kill(os.getpid(), signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status)
    (left,) = set(temporaries(dest.parent)) - before
    return left


def temporaries(directory):
    return sorted(p.name for p in directory.glob(".tmp-*"))


def test_atomic_path_renames_and_gives_the_umask_mode(tmp_path):
    old = os.umask(0o027)
    try:
        with atomic_path(tmp_path / "a.json") as tmp:
            assert tmp.name.startswith(".tmp-a-") and tmp.suffix == ".json"
            tmp.write_text("{}")
    finally:
        os.umask(old)
    assert (tmp_path / "a.json").read_text() == "{}" and not temporaries(tmp_path)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o640


def test_a_killed_writer_leaves_only_a_temporary(tmp_path):
    killed_mid_write(tmp_path / "a.fits")
    assert not (tmp_path / "a.fits").exists()
    assert len(temporaries(tmp_path)) == 1


def test_an_output_sweep_removes_its_own_temporaries_only(tmp_path):
    own = killed_mid_write(tmp_path / "a.fits")
    others = [
        killed_mid_write(tmp_path / name)
        for name in ("a-b.fits", "a.b.fits", "a_b.fits", "a.csv", "ab.fits", "b.fits")
    ]
    (tmp_path / "a.fits").write_text("finished")
    assert [p.name for p in remove_temporaries_of(tmp_path / "a.fits")] == [own]
    assert temporaries(tmp_path) == sorted(others)
    assert (tmp_path / "a.fits").read_text() == "finished"


def test_a_directory_sweep_is_recursive(tmp_path):
    killed_mid_write(tmp_path / "x.fits")
    killed_mid_write(tmp_path / "darks" / "y.fits")
    (tmp_path / "darks" / "y.fits").write_text("kept")
    assert len(remove_temporaries_in(tmp_path, recursive=True)) == 2
    assert not list(tmp_path.rglob(".tmp-*")) and (tmp_path / "darks" / "y.fits").exists()
    assert remove_temporaries_in(tmp_path / "missing") == []


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def test_run_stage_clears_its_outputs_leftovers_before_the_stage(tmp_path, restore_logging):
    out = tmp_path / "results" / "week.csv"
    killed_mid_write(out)
    other = killed_mid_write(tmp_path / "results" / "weekdark.fits")  # another job's output
    seen = []
    job = types.SimpleNamespace(log=[], rule="week_darks", output=[str(out)])
    run_stage(job, lambda: seen.append(temporaries(out.parent)))
    assert seen == [[other]]


def test_a_shared_write_removes_a_dead_writers_temporary(tmp_path):
    cache = tmp_path / "oref"
    killed_mid_write(cache / "x_ccd.fits", shared=True)
    assert len(temporaries(cache)) == 1
    with shared_atomic_path(cache / "y_crr.fits") as tmp:
        assert temporaries(cache) == [tmp.name]
        tmp.write_text("crr")
    assert not temporaries(cache) and (cache / "y_crr.fits").read_text() == "crr"
    assert (cache / atomic.LOCK_NAME).exists()


def test_a_shared_write_waits_for_a_live_writer(tmp_path):
    """A second writer (another process) blocks on the lock instead of removing our temporary."""
    cache = tmp_path / "oref"
    script = (
        "import sys; from pathlib import Path; from stisdarks.atomic import shared_atomic_path\n"
        "with shared_atomic_path(Path(sys.argv[1])) as tmp: tmp.write_text('b')"
    )
    with shared_atomic_path(cache / "a.fits") as tmp:
        tmp.write_text("a")
        other = subprocess.Popen([sys.executable, "-c", script, str(cache / "b.fits")])
        with pytest.raises(subprocess.TimeoutExpired):  # it can only end by not waiting
            other.wait(timeout=1)
        assert tmp.exists()
    assert other.wait(timeout=60) == 0
    assert (cache / "a.fits").read_text() == "a" and (cache / "b.fits").read_text() == "b"


@pytest.mark.parametrize("pattern", [None, "*/other/*"])
def test_the_pause_hook_is_a_no_op_unless_it_matches(tmp_path, monkeypatch, pattern):
    pauses = []
    monkeypatch.setattr(atomic.time, "sleep", pauses.append)
    if pattern is None:
        monkeypatch.delenv(PAUSE_HOOK, raising=False)
    else:
        monkeypatch.setenv(PAUSE_HOOK, pattern)
    with atomic_path(tmp_path / "a.txt") as tmp:
        tmp.write_text("a")
    assert not pauses
    monkeypatch.setenv(PAUSE_HOOK, f"{glob.escape(str(tmp_path))}/*.txt")
    with atomic_path(tmp_path / "b.txt") as tmp:
        tmp.write_text("b")
    assert len(pauses) == 1 and (tmp_path / "b.txt").exists()


def test_each_half_of_the_demo_archive_sweeps_only_what_it_owns(tmp_path):
    """The two halves are generated by two jobs at once: each removes the temporaries a
    killed run left in what it writes, never the other's (which may be under way)."""
    from stisdarks import stages

    root = tmp_path / "a"
    temps = {d: root / d / f"{TEMP_PREFIX}x-1.fits" for d in ("darks", "science", "oref")}
    temps["root"] = root / f"{TEMP_PREFIX}truth-1.json"
    for temp in temps.values():
        temp.parent.mkdir(parents=True, exist_ok=True)
        temp.write_bytes(b"partial")
    stages.demo_archive(root, size=64, n_darks=2, seed=1, parts=("darks",))
    assert not temps["darks"].exists()
    assert all(temps[k].exists() for k in ("science", "oref", "root"))
    stages.demo_archive(root, size=64, n_darks=2, seed=1, parts=("science",))
    assert not any(temp.exists() for temp in temps.values())
    assert (root / "darks" / "index.csv").is_file() and (root / "science" / "index.csv").is_file()
