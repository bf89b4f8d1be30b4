"""Make the fixtures of ``tests/test_recal_agreement.py`` with hstcal's calstis (needs ``cs0.e``).

A small synthetic observation (a 32-row subarray) is calibrated twice by the real calstis:
once with the pipeline dark (the "pipeline" products the native recalibration starts
from) and once with a custom weekdark (what the native recalibration must reproduce).
The files needed to compare them are written here, gzipped::

    python tests/data/recal/make_fixtures.py        # with hstcal's cs0.e on PATH

The test itself does not need hstcal.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import tempfile
from pathlib import Path

from astropy.io import fits

from stisdarks.calibrators.calstis import run_calstis
from stisdarks.engines.native import make_basedark, make_weekdark
from stisdarks.synthetic import generate_archive

HERE = Path(__file__).resolve().parent
OBS = "odemo1010"


def _gzip(src: Path, name: str) -> None:
    with open(src, "rb") as fin, open(HERE / f"{name}.gz", "wb") as raw_out:
        with gzip.GzipFile(fileobj=raw_out, mode="wb", compresslevel=9, mtime=0) as fout:
            shutil.copyfileobj(fin, fout)


def main() -> None:
    if shutil.which("cs0.e") is None:
        raise SystemExit("cs0.e (hstcal) is not on PATH")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        root = generate_archive(tmp / "archive", size=32, n_darks=8, seed=11)
        oref = root / "oref"
        os.environ["oref"] = f"{oref}/"  # the darks' CRREJTAB
        darks = sorted((root / "darks").glob("odark*_flt.fits"))
        make_basedark(darks, tmp / "basedark.fits")
        make_weekdark(darks[-3:], tmp / "basedark.fits", tmp / "weekdark.fits")
        raw, wav = root / "science" / f"{OBS}_raw.fits", root / "science" / f"{OBS}_wav.fits"
        kinds = {k: None for k in ("flt", "crj", "sx1")}
        pipe = run_calstis(raw, oref / "syn_pipe_drk.fits", {k: tmp / f"pipe_{k}.fits" for k in kinds},
                           obs_id=OBS, oref_dir=oref, wav=wav)  # fmt: skip
        recal = run_calstis(raw, tmp / "weekdark.fits", {k: tmp / f"calstis_{k}.fits" for k in kinds},
                            obs_id=OBS, oref_dir=oref, wav=wav)  # fmt: skip
        for kind in ("crj", "sx1"):  # (the _flt is compared live when hstcal is installed)
            _gzip(pipe[kind], f"pipeline_{kind}.fits")
            _gzip(recal[kind], f"calstis_{kind}.fits")
        _gzip(tmp / "weekdark.fits", "weekdark.fits")
        primary = fits.getheader(raw)
        names = {"DARKFILE": "syn_pipe_drk.fits"}
        for key in ("PFLTFILE", "BPIXTAB", "XTRACTAB"):
            names[key] = primary[key].split("$", 1)[-1]
        for name in names.values():
            _gzip(oref / name, name)
        (HERE / "manifest.json").write_text(
            json.dumps({"obs_id": OBS, "seed": 11, "size": 32, "n_darks": 8, "references": names,
                        "calstis": fits.getval(recal["crj"], "CAL_VER")}, indent=1) + "\n"
        )  # fmt: skip


if __name__ == "__main__":
    main()
