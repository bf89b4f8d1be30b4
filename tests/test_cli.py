"""The ``stisdarks`` command: real subprocess runs, one-line errors, nothing left behind."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

GOLDEN = Path(__file__).parent / "data" / "golden"
INPUTS = sorted((GOLDEN / "inputs").glob("*_flt.fits"))
STISDARKS = shutil.which("stisdarks") or str(Path(sys.executable).parent / "stisdarks")


def cli(*args, env_oref=True, cwd=None, hstcal=True):
    """Run ``stisdarks ARGS``; ``hstcal=False`` hides hstcal's binaries from its PATH."""
    import os

    env = dict(os.environ)
    if env_oref:
        env["oref"] = str(GOLDEN / "oref") + "/"
    path = env.get("PATH", "").split(os.pathsep)
    if not hstcal:
        path = [d for d in path if not (Path(d) / "cs0.e").exists()]
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), *path])
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


def test_demo_archive(tmp_path):
    proc = cli("demo-archive", tmp_path / "demo", "--size", "64", "--n-darks", "6", "--seed", "3")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "demo" / "index.csv").is_file()
    assert len(list((tmp_path / "demo" / "darks").glob("odark*_flt.fits"))) == 6
