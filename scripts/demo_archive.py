"""Generate the synthetic demo archive (rule demo_archive)."""

import os

from stisdarks import stages
from stisdarks.runner import run_stage

p = snakemake.params
run_stage(
    snakemake,
    stages.demo_archive,
    root=os.path.dirname(snakemake.output[0]),
    size=p.size,
    n_darks=p.n_darks,
    seed=p.seed,
    obs_id=p.obs_id,
    science=p.science,
    programme=p.programme,
)
