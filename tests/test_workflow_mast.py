"""The whole workflow against a local MAST-shaped server: a programme of two observations of one period.

astroquery's real code talks to the server (tests/mast_server.py); CRDS runs offline on
a pre-populated cache (``crds.mode: local``), as a user without network would.
"""

from __future__ import annotations

import shutil

import pytest
import yaml

from stisdarks.synthetic import generate_archive

from mast_server import MastServer, MastState
from workflow_helpers import copy_workflow, snakemake

pytestmark = pytest.mark.slow

TARGETS = ("odemo1010", "odemo1020")


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    root = generate_archive(tmp_path_factory.mktemp("mastwf") / "archive", size=64, n_darks=8, seed=11,
                            extra_obs_ids=TARGETS[1:])  # fmt: skip
    state = MastState()
    state.add_archive(root)
    with MastServer(state) as server:
        yield root, server


def test_a_programme_shares_downloads_and_basedark(published, tmp_path):
    root, server = published
    work = copy_workflow(tmp_path / "w")
    oref = work / "resources" / "crds" / "references" / "hst" / "stis"
    shutil.copytree(root / "oref", oref)  # a pre-populated CRDS cache
    config = {
        "targets": [{"proposal": 16196}],  # the synthetic science's programme: both TARGETS
        "archive": {"kind": "mast", "server": server.url, "retries": 2},
        "darks": {"week_days": 7},
        "crds": {"mode": "local"},
    }
    (work / "mast.yaml").write_text(yaml.safe_dump(config))
    snakemake(work, "--configfile", "mast.yaml", "--cores", "2")

    dark_downloads = {k: v for k, v in server.state.downloads.items() if k.startswith("od")}
    n_darks = sum(1 for k in dark_downloads if k.startswith("odark"))
    assert n_darks == 8, "every long dark of the period is fetched"
    assert set(dark_downloads.values()) == {1}, f"a dark was downloaded twice: {dark_downloads}"
    assert not any(k.startswith(("odsht", "odout")) for k in dark_downloads)
    periods = list((work / "results" / "periods").iterdir())
    assert len(periods) == 1 and (periods[0] / "basedark.fits").is_file()
    for obs in TARGETS:
        assert (work / "results" / obs / "summary.json").is_file()
        assert server.state.downloads[f"{obs}_raw.fits"] == 1
    listed = (work / "results" / "programmes" / "p16196" / "programme.csv").read_text()
    assert all(f"{obs},process," in listed for obs in TARGETS)
    rows = (work / "results" / "summary.csv").read_text().splitlines()
    assert len(rows) == 1 + len(TARGETS) and all(",processed," in r for r in rows[1:])
    used = (periods[0] / "darks_used.csv").read_text()
    assert "odgn4" not in used and "odamp" not in used, (
        "gain-4/amp-A darks must be dropped on their headers"
    )

    before = sum(server.state.downloads.values())
    proc = snakemake(work, "--configfile", "mast.yaml", "--cores", "2")
    assert "Nothing to be done" in proc.stdout + proc.stderr
    assert sum(server.state.downloads.values()) == before, "the second run downloaded something"
