"""The ``stisdarks`` command: real subprocess runs, one-line errors, nothing left behind."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from stisdarks.cli import main

from workflow_helpers import without_hstcal

GOLDEN = Path(__file__).parent / "data" / "golden"
INPUTS = sorted((GOLDEN / "inputs").glob("*_flt.fits"))
STISDARKS = shutil.which("stisdarks") or str(Path(sys.executable).parent / "stisdarks")


def cli(*args, env_oref=True, cwd=None, hstcal=True):
    """Run ``stisdarks ARGS``; ``hstcal=False`` hides hstcal's binaries from its PATH."""
    import os

    env = dict(os.environ) if hstcal else without_hstcal()
    if env_oref:
        env["oref"] = str(GOLDEN / "oref") + "/"
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return subprocess.run(
        [STISDARKS, *map(str, args)], capture_output=True, text=True, env=env, cwd=cwd
    )


def test_basedark_then_weekdark(tmp_path):
    base = tmp_path / "basedark.fits"
    proc = cli("basedark", "--engine", "native", "-o", base, *INPUTS)
    assert proc.returncode == 0, proc.stderr
    proc = cli("weekdark", "--basedark", base, "-o", tmp_path / "weekdark.fits", *INPUTS[-4:])
    assert proc.returncode == 0, proc.stderr
    with fits.open(tmp_path / "weekdark.fits") as h, fits.open(GOLDEN / "weekdark.fits") as ref:
        assert h[0].header["TASKNAME"] == "WEEKDARK"
        np.testing.assert_allclose(h["SCI"].data, ref["SCI"].data, rtol=1e-4, atol=1e-6)


def test_crreject_with_overrides(tmp_path):
    out = tmp_path / "x_crj.fits"
    proc = cli("crreject", "-o", out, "--crsigmas", "6,5", "--crradius", "1.0", *INPUTS[:3])
    assert proc.returncode == 0, proc.stderr
    hdr = fits.getheader(out)
    assert hdr["CRSIGMAS"] == "6,5" and hdr["CRRADIUS"] == 1.0 and hdr["CRCORR"] == "COMPLETE"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("basedark", "-o", "{out}", "missing_flt.fits", INPUTS[0]), "does not exist"),
        (("basedark", "-o", "{out}", INPUTS[0]), "at least 2"),
        (
            ("basedark", "-o", "{out}", "--engine", "refstis", *INPUTS[:2]),
            "cs0.e not found on PATH",
        ),
        (("crreject", "-o", "{out}", "--crsigmas", "5,,3", *INPUTS[:2]), "CRSIGMAS"),
        (("crreject", "-o", "{out}", "--crsigmas", "0,-1", *INPUTS[:2]), "positive thresholds"),
        (
            ("basedark", "-o", "{out}", "--crradius", "-3", *INPUTS[:2]),
            "crradius -3.0 is out of range",
        ),
        (
            ("weekdark", "--basedark", INPUTS[0], "-o", "{out}", "--scalense", "-50", *INPUTS[:2]),
            "scalense -50.0 is out of range",
        ),
        (("demo-archive", "{out}", "--science-binning", "2by1"), "write it as 1x1, 2x1"),
        (
            ("demo-archive", "{out}", "--size", "128", "--science-binning", "2x1"),
            "a binned readout must be the full frame",
        ),
        (
            ("demo-archive", "{out}", "--size", "64", "--science-rows", "96"),
            "must not exceed the archive's rows",
        ),
    ],
)
def test_errors_are_one_line_and_leave_nothing(tmp_path, args, message):
    out = tmp_path / "out.fits"
    proc = cli(*[str(a).format(out=out) for a in args], cwd=tmp_path, hstcal=False)
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if line.startswith("stisdarks: error:")]
    assert len(errors) == 1 and message in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists() and not list(tmp_path.glob(".tmp-*"))


def test_unreadable_crrejtab_is_one_line(tmp_path):
    oref = tmp_path / "oref"
    oref.mkdir()
    (oref / "crr.fits").write_bytes(b"garbage" * 500)
    import os

    env = dict(os.environ, oref=str(oref) + "/")
    proc = subprocess.run([STISDARKS, "basedark", "--engine", "native", "-o", str(tmp_path / "b.fits"),
                           *map(str, INPUTS[:3])],
                          capture_output=True, text=True, env=env)  # fmt: skip
    assert proc.returncode == 2 and "cannot read CRREJTAB" in proc.stderr
    assert not (tmp_path / "b.fits").exists()


def test_mixed_gain_is_one_line(tmp_path):
    odd = tmp_path / "oodd00000q_flt.fits"
    shutil.copyfile(INPUTS[0], odd)
    with fits.open(odd, mode="update") as h:
        h[0].header["CCDGAIN"] = 4
    proc = cli("basedark", "-o", tmp_path / "b.fits", odd, *INPUTS[1:3])
    assert proc.returncode == 2 and "mix CCD modes" in proc.stderr


@pytest.fixture(scope="module")
def small_archive(tmp_path_factory):
    """A 64-row synthetic archive written by ``stisdarks demo-archive`` (a real ``_raw`` in it)."""
    root = tmp_path_factory.mktemp("cli") / "demo"
    proc = cli("demo-archive", root, "--size", "64", "--n-darks", "6", "--seed", "3")
    assert proc.returncode == 0, proc.stderr
    return root


def test_demo_archive(small_archive):
    for half in ("science", "darks"):  # each half's index, written last, marks it complete
        assert (small_archive / half / "index.csv").is_file()
    assert len(list((small_archive / "darks").glob("odark*_flt.fits"))) == 6


def run_main(capsys, *args) -> tuple[int, list[str], str]:
    """``stisdarks ARGS`` in this process (the same ``main`` as the command): status, error lines."""
    code = main([str(a) for a in args])
    err = capsys.readouterr().err
    return code, [line for line in err.splitlines() if line.startswith("stisdarks: error:")], err


def test_a_raw_file_to_crreject_is_one_line(small_archive, tmp_path, capsys):
    raw = small_archive / "science" / "odemo1010_raw.fits"
    code, errors, err = run_main(capsys, "crreject", "-o", tmp_path / "x_crj.fits", raw)
    assert code == 2 and "Traceback" not in err
    assert errors == [
        "stisdarks: error: odemo1010_raw.fits is not bias-subtracted (BLEVCORR=PERFORM, "
        "BIASCORR=PERFORM; a _raw file?); give calibrated _flt files"
    ]
    assert not list(tmp_path.iterdir())


@pytest.fixture
def golden_oref(monkeypatch):
    monkeypatch.setenv("oref", str(GOLDEN / "oref") + "/")


def test_output_that_is_an_input_is_refused_even_with_overwrite(tmp_path, capsys, golden_oref):
    inputs = [tmp_path / p.name for p in INPUTS[:3]]
    for src, dest in zip(INPUTS[:3], inputs, strict=True):
        shutil.copyfile(src, dest)
    before = [p.read_bytes() for p in inputs]
    for args in (
        ("crreject", "-o", inputs[1], *inputs),
        ("basedark", "--overwrite", "-o", tmp_path / "." / inputs[0].name, *inputs),
        ("weekdark", "--basedark", inputs[2], "-o", inputs[2], *inputs[:2]),
    ):
        code, errors, err = run_main(capsys, *args)
        assert code == 2 and len(errors) == 1 and "is also an input" in errors[0], err
    assert [p.read_bytes() for p in inputs] == before
    assert not list(tmp_path.glob(".tmp-*"))


def test_existing_output_needs_overwrite(tmp_path, capsys, golden_oref):
    out = tmp_path / "x_crj.fits"
    out.write_bytes(b"mine")
    code, errors, _ = run_main(capsys, "crreject", "--engine", "native", "-o", out, *INPUTS[:2])
    assert code == 2 and errors == [
        f"stisdarks: error: output {out} exists; pass --overwrite to replace it or give another -o"
    ]
    assert out.read_bytes() == b"mine"
    code, errors, err = run_main(
        capsys, "crreject", "--engine", "native", "--overwrite", "-o", out, *INPUTS[:2]
    )
    assert code == 0, err
    assert fits.getheader(out)["CRCORR"] == "COMPLETE"


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ("{tmp}", "output {tmp} is a directory; give a file name with -o"),
        ("/proc/x.fits", "cannot write in /proc: no such file or directory"),
        ("{tmp}/in.fits/x.fits", "cannot write {tmp}/in.fits/x.fits (File exists"),
    ],
    ids=["directory", "proc", "through-a-file"],
)
def test_unwritable_output_is_one_line_before_any_work(tmp_path, capsys, output, message):
    (tmp_path / "in.fits").write_bytes(b"")
    out = output.format(tmp=tmp_path)
    code, errors, err = run_main(capsys, "basedark", "--engine", "native", "-o", out, *INPUTS)
    assert code == 2 and "Traceback" not in err
    assert len(errors) == 1 and message.format(tmp=tmp_path) in errors[0], err
    assert "INFO" not in err, "the check must come before any work"


def _strips(small_archive: Path, tmp_path: Path, n: int) -> list[Path]:
    """Copies of the archive's 64-row darks flagged as full frame (``SUBARRAY = F``): the CTI
    correction's code paths at a fraction of a full frame's cost."""
    out = []
    for src in sorted((small_archive / "darks").glob("odark*_flt.fits"))[:n]:
        dest = tmp_path / "in" / src.name
        dest.parent.mkdir(exist_ok=True)
        shutil.copyfile(src, dest)
        fits.setval(dest, "SUBARRAY", value=False)
        out.append(dest)
    return out


def test_cte_corrects_files_beside_them_or_into_a_directory(small_archive, tmp_path):
    darks = _strips(small_archive, tmp_path, 2)
    before = [d.read_bytes() for d in darks]
    proc = cli("cte", "--output-dir", tmp_path / "out", *darks, "--threads", "2")
    assert proc.returncode == 0, proc.stderr
    written = sorted((tmp_path / "out").iterdir())
    assert [p.name for p in written] == [d.name.replace("_flt", "_cte") for d in darks]
    assert [d.read_bytes() for d in darks] == before, "an input was modified"
    for path in written:
        header = fits.getheader(path, 0)
        assert header["PCTECORR"] == "COMPLETE" and header["SDCTIENG"] == "native"
    proc = cli("cte", darks[0])  # beside the input
    assert proc.returncode == 0 and (darks[0].parent / "odark000q_cte.fits").is_file()
    same = fits.getdata(darks[0].parent / "odark000q_cte.fits", 1)
    assert np.array_equal(same, fits.getdata(written[0], 1))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-o", "{tmp}/a_cte.fits", "{d0}", "{d1}"], "-o names one output; with several inputs use --output-dir"),
        (["-o", "{d0}", "{d0}"], "is also an input"),
        (["-o", "{tmp}/exists.fits", "{d0}"], "exists; pass --overwrite"),
        (["--pctetab", "{tmp}/none.fits", "-o", "{tmp}/b_cte.fits", "{d0}"], "PCTETAB {tmp}/none.fits does not exist"),
        (["-o", "{tmp}/c_cte.fits", "{sub}"], "cannot be corrected for CTI: a subarray"),
        (["--threads", "0", "-o", "{tmp}/d_cte.fits", "{d0}"], "--threads 0: give 1 or more"),
    ],
)  # fmt: skip
def test_cte_bad_input_is_one_line_and_writes_nothing(
    small_archive, tmp_path, capsys, args, message
):
    d0, d1 = _strips(small_archive, tmp_path, 2)
    (tmp_path / "exists.fits").write_text("keep me")
    sub = small_archive / "darks" / "odark002q_flt.fits"  # a real 64-row subarray
    names = {"tmp": tmp_path, "d0": d0, "d1": d1, "sub": sub}
    before = sorted(p.name for p in tmp_path.iterdir())
    code, errors, err = run_main(capsys, "cte", *(a.format(**names) for a in args))
    assert code == 2 and "Traceback" not in err
    assert len(errors) == 1 and message.format(**names) in errors[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert (tmp_path / "exists.fits").read_text() == "keep me"
