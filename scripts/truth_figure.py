"""Draw figures/truth.png: the products against the synthetic archive's truth (rule truth_figure)."""

from stisdarks import stages
from stisdarks.runner import run_stage

run_stage(
    snakemake,
    stages.truth_figure,
    output=snakemake.output[0],
    archive_root=snakemake.params.archive_root,
    obs_id=snakemake.wildcards.obs,
    **dict(snakemake.input.items()),
)
