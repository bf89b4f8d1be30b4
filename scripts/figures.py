"""Draw some of a target's comparison figures (rules dark_figures, science_figures)."""

from stisdarks import stages
from stisdarks.runner import run_stage

run_stage(
    snakemake,
    stages.figures,
    obs_id=snakemake.wildcards.obs,
    outputs=dict(snakemake.output.items()),
    **dict(snakemake.input.items()),
)
