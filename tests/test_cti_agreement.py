"""Our CTI superdarks against stis_cti's own: the same darks, the same data and keywords.

Six synthetic darks (128-row full-width strips flagged as full frame, ``SUBARRAY = F``: a
real subarray is refused; ~2 s of stis_cti's CteCorr each) are corrected

- by us: :func:`stisdarks.cti.correct_dark` on each (the native backend), then the basedark from all six and the
  weekdark from the last three over it, built as the workflow builds them
  (:func:`stisdarks.stages._build_superdark` around :func:`stisdarks.engines.make_basedark`
  / :func:`~stisdarks.engines.make_weekdark`, stamped with the last dark's header), with
  the ``native`` and the ``refstis`` engine;
- by stis_cti 1.6.2: ``perform_cti_correction``, ``generate_basedark`` and
  ``generate_weekdark`` on copies of the same ``_flt`` darks in another directory (they
  edit their inputs in place and need ``DARKFILE`` on each, as real darks have), with the
  ``import refstis.basedark, refstis.weekdark`` its ``import refstis`` lacks.

The CteCorr outputs must be identical (SCI, ERR, DQ); so must the superdarks' SCI, ERR
and DQ, with no tolerance, for both engines; the 11 PCTE keywords must be equal
(``PCTETAB`` by the table's file name: stis_cti writes ``pctetab$a02_stis_pcte.fits``, we
an absolute path) and the weekdark must name its ``BASEDARK``. stis_cti's superdarks go
through refstis and calstis: without hstcal's ``cs0.e`` the module is skipped.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from stisdarks import cti, engines, stages
from stisdarks.synthetic import generate_archive

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("stis_cti") is None, reason="needs stis_cti (pip install stis-cti)"
    ),
    pytest.mark.skipif(shutil.which("cs0.e") is None, reason="needs hstcal's cs0.e on PATH"),
]
N_DARKS, WEEK = 6, 3
#: the component darks' DARKFILE, as the pipeline writes it on real darks (stis_cti needs one)
DARKFILE = "oref$syn_pipe_drk.fits"


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    root = generate_archive(
        tmp_path_factory.mktemp("agree") / "a", size=128, n_darks=N_DARKS, seed=11
    )
    darks = sorted((root / "darks").glob("odark*_flt.fits"))
    assert len(darks) == N_DARKS
    for dark in darks:
        fits.setval(dark, "SUBARRAY", value=False)
    return root


@pytest.fixture(scope="module")
def env(archive):
    """``oref`` (refstis runs calstis) and ``pctetab`` (stis_cti's ``pctetab$`` prefix) set."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("oref", f"{archive / 'oref'}/")
        mp.setenv("pctetab", f"{cti.default_pctetab().parent}/")
        yield


def darks(archive: Path) -> list[Path]:
    return sorted((archive / "darks").glob("odark*_flt.fits"))


@pytest.fixture(scope="module")
def ours_cte(archive, env, tmp_path_factory) -> list[Path]:
    out = tmp_path_factory.mktemp("ours_cte")
    return [cti.correct_dark(d, out / cti.cte_name(d.name)) for d in darks(archive)]


@pytest.fixture(scope="module")
def theirs(archive, env, tmp_path_factory) -> dict[str, object]:
    """stis_cti's run: its ``_cte`` files (as CteCorr wrote them), basedark and weekdark."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "(GFIT|NMPFIT) is deprecated", UserWarning)
        import refstis.basedark  # noqa: F401 -- stis_cti 1.6.2 reaches them after a bare `import refstis`
        import refstis.weekdark  # noqa: F401
        import stis_cti  # noqa: F401
    module = sys.modules["stis_cti.stis_cti"]  # stis_cti.stis_cti is the function
    work = tmp_path_factory.mktemp("stis_cti")
    (work / "darks").mkdir()
    (work / "ref").mkdir()
    flts = []
    for d in darks(archive):
        copy = work / "darks" / d.name
        shutil.copyfile(d, copy)
        fits.setval(copy, "DARKFILE", value=DARKFILE, ext=0)
        flts.append(str(copy))
    pctetab = f"pctetab${cti.default_pctetab().name}"
    # CteCorr first, on its own, to keep its outputs as written: refstis then scales the
    # _cte files to 18 C in place (TEMPCORR), and generate_* reuse them, as stis_cti() does
    module.perform_cti_correction(flts, pctetab, num_cpu=2)
    snapshot = work / "cte_as_written"
    snapshot.mkdir()
    cte = [Path(f.replace("_flt.fits", "_cte.fits")) for f in flts]
    for c in cte:
        shutil.copyfile(c, snapshot / c.name)
    base, week = work / "ref" / "basedark_d0_drk.fits", work / "ref" / "d000_1_drk.fits"
    module.generate_basedark(flts, str(base), pctetab, 2)
    module.generate_weekdark(flts[-WEEK:], str(week), pctetab, str(base), 2)
    return {"cte": [snapshot / c.name for c in cte], "basedark": base, "weekdark": week}


@pytest.fixture(scope="module", params=["native", "refstis"])
def ours(request, ours_cte, env, tmp_path_factory) -> dict[str, Path]:
    """Our basedark and weekdark from our ``_cte`` files, as stages.basedark/weekdark build them."""
    engine = request.param
    out = tmp_path_factory.mktemp(f"ours_{engine}")
    base, week = out / "basedark.fits", out / "weekdark.fits"
    kept, week_files = sorted(ours_cte), sorted(ours_cte)[-WEEK:]
    stages._build_superdark(lambda o: engines.make_basedark(kept, o, engine=engine), base, kept[-1])
    stages._build_superdark(
        lambda o: engines.make_weekdark(week_files, base, o, engine=engine),
        week,
        week_files[-1],
        basedark=base.name,
    )
    return {"basedark": base, "weekdark": week}


def assert_same_data(mine: Path, reference: Path) -> None:
    """SCI, ERR and DQ of every image set identical (values and dtype)."""
    with fits.open(mine) as a, fits.open(reference) as b:
        names = [(h.name, h.ver) for h in b[1:] if h.name in ("SCI", "ERR", "DQ")]
        assert names and names == [(h.name, h.ver) for h in a[1:] if h.name in ("SCI", "ERR", "DQ")]
        for name, ver in names:
            x, y = a[name, ver].data, b[name, ver].data
            assert x is not None and y is not None, (mine.name, name, ver)
            assert x.dtype == y.dtype, (mine.name, name, ver, x.dtype, y.dtype)
            diff = np.count_nonzero(x != y)
            assert diff == 0, f"{mine.name}[{name},{ver}]: {diff} of {x.size} pixels differ"


def assert_same_pcte_keywords(mine: Path, reference: Path) -> None:
    ha, hb = fits.getheader(mine, 0), fits.getheader(reference, 0)
    for key in cti.PCTE_KEYWORDS:
        assert key in ha and key in hb, key
        if key == "PCTETAB":  # 'pctetab$a02_stis_pcte.fits' vs an absolute path
            assert os.path.basename(ha[key].split("$")[-1]) == os.path.basename(
                hb[key].split("$")[-1]
            )
            assert os.path.basename(ha[key]) == cti.default_pctetab().name
        else:
            assert ha[key] == hb[key], (key, ha[key], hb[key])
    assert ha["PCTECORR"] == "COMPLETE"


def test_ctecorr_outputs_identical(archive, ours_cte, theirs):
    assert [p.name for p in ours_cte] == [p.name for p in theirs["cte"]]
    # not trivially equal: the correction moved most pixels of the darks
    moved = fits.getdata(ours_cte[0], "SCI") != fits.getdata(darks(archive)[0], "SCI")
    assert moved.mean() > 0.5
    for mine, reference in zip(ours_cte, theirs["cte"], strict=True):
        assert_same_data(mine, reference)
        assert_same_pcte_keywords(mine, reference)


def test_basedark_identical(ours, theirs):
    assert np.count_nonzero(fits.getdata(theirs["basedark"], "DQ") & 16) > 100  # hot pixels
    assert_same_data(ours["basedark"], theirs["basedark"])
    assert_same_pcte_keywords(ours["basedark"], theirs["basedark"])
    assert "BASEDARK" not in fits.getheader(ours["basedark"], 0)


def test_weekdark_identical(ours, theirs):
    assert_same_data(ours["weekdark"], theirs["weekdark"])
    assert_same_pcte_keywords(ours["weekdark"], theirs["weekdark"])
    mine, reference = fits.getheader(ours["weekdark"], 0), fits.getheader(theirs["weekdark"], 0)
    assert mine["BASEDARK"] == ours["basedark"].name
    assert reference["BASEDARK"] == str(theirs["basedark"])


@pytest.mark.parametrize("kind", ["basedark", "weekdark"])
def test_superdark_filename(ours, kind):
    """FILENAME names the product, as on a superdark built without CTI (stis_cti's: its own name)."""
    assert fits.getval(ours[kind], "FILENAME", 0) == ours[kind].name
