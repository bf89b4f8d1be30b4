"""Draw a target's five comparison figures (rule figures)."""

from stisdarks import stages
from stisdarks.runner import run_stage

run_stage(
    snakemake,
    stages.figures,
    obs_id=snakemake.wildcards.obs,
    outputs=dict(snakemake.output.items()),
    **dict(snakemake.input.items()),
)
