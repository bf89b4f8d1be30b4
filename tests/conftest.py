"""Shared fixtures: one uninterrupted run of the small demo workflow per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from workflow_helpers import copy_workflow, demo_config, snakemake


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory) -> Path:
    """A workflow copy on which the small demo (a 128-row subarray, 16 darks) has run to completion.

    Tests must not modify it: copy it first (``shutil.copytree``) to change anything.
    """
    workdir = copy_workflow(tmp_path_factory.mktemp("demo"))
    demo_config(workdir)
    snakemake(workdir, "--configfile", "test.yaml", "--cores", "2")
    return workdir
