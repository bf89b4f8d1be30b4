"""A stage that cannot write its output (read-only directory) ends with one clear line."""

from __future__ import annotations

import os
import types

from stisdarks import stages
from stisdarks.runner import run_stage


def test_read_only_output_directory_is_one_line(tmp_path, capfd):
    src = tmp_path / "in.json"
    src.write_text("{}")
    readonly = tmp_path / "results"
    readonly.mkdir()
    readonly.chmod(0o555)
    fake = types.SimpleNamespace(log=[], rule="science_facts")

    def write_something(output):
        stages.write_json(output, {"a": 1})

    pid = os.fork()
    if pid == 0:  # the child drops root (root ignores permissions) and runs the stage
        code = 0
        try:
            if os.geteuid() == 0:
                os.setgid(65534)
                os.setuid(65534)
            run_stage(fake, write_something, output=readonly / "science.json")
        except SystemExit as exc:
            code = exc.code
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    err = capfd.readouterr().err
    readonly.chmod(0o755)
    assert os.waitstatus_to_exitcode(status) == 1
    lines = [line for line in err.splitlines() if line.startswith("stisdarks: error:")]
    assert len(lines) == 1 and "permission denied; make the directory writable" in lines[0]
    assert "Traceback" not in err and not list(readonly.iterdir())


def test_jobs_import_from_puts_the_checkout_first(monkeypatch, tmp_path):
    import os

    from stisdarks.runner import jobs_import_from

    monkeypatch.setenv("PYTHONPATH", "/elsewhere")
    jobs_import_from(str(tmp_path / "src"))
    assert os.environ["PYTHONPATH"].split(os.pathsep) == [str(tmp_path / "src"), "/elsewhere"]
    monkeypatch.delenv("PYTHONPATH")
    jobs_import_from(str(tmp_path / "src"))
    assert os.environ["PYTHONPATH"] == str(tmp_path / "src")


def test_end_promptly_cancels_pending_timers():
    """The Snakefile's onsuccess/onerror cancel Snakemake's pending re-scheduling timers: a
    non-daemon Timer would otherwise hold the interpreter open until it fires."""
    import threading

    from stisdarks.runner import end_promptly

    fired = threading.Event()
    timer = threading.Timer(60.0, fired.set)
    timer.start()
    assert end_promptly() >= 1
    timer.join(timeout=10.0)
    assert not timer.is_alive() and not fired.is_set()
