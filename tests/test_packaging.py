"""The conda environment for --sdm conda and pyproject.toml declare the same dependencies."""

from __future__ import annotations

import re

import pytest
import yaml

from workflow_helpers import REPO

tomllib = pytest.importorskip("tomllib")  # Python 3.11+
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
ENV = yaml.safe_load((REPO / "envs" / "stisdarks.yaml").read_text())


def _lower_bounds(specs):
    out = {}
    for spec in specs:
        m = re.match(r"^([A-Za-z0-9_.-]+)\s*>=\s*([0-9.]+)", spec)
        if m:
            out[m.group(1).lower()] = m.group(2)
    return out


def test_the_conda_environment_pins_what_pyproject_requires():
    conda = [d for d in ENV["dependencies"] if isinstance(d, str)]
    pip = next(d["pip"] for d in ENV["dependencies"] if isinstance(d, dict))
    assert not any(line.lstrip().startswith("-e") for line in pip), (
        "an editable path breaks --sdm conda"
    )
    declared = _lower_bounds(PYPROJECT["project"]["dependencies"])
    pinned = _lower_bounds(conda + pip)
    assert declared == {k: v for k, v in pinned.items() if k in declared}, (
        "envs/stisdarks.yaml and pyproject.toml disagree on a lower bound"
    )
    assert set(declared) <= set(pinned), (
        f"missing from the environment: {set(declared) - set(pinned)}"
    )
    assert any(d.startswith("hstcal") for d in conda), "the conda environment brings hstcal"


def test_the_version_has_one_home():
    import stisdarks

    assert PYPROJECT["project"]["dynamic"] == ["version"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "stisdarks.__version__"
    }
    assert re.fullmatch(r"\d+\.\d+\.\d+", stisdarks.__version__)
    assert (REPO / "LICENSE").read_text().startswith("BSD 3-Clause License")
