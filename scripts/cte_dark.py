"""CTI-correct one dark with stis_cti (rule cte_dark)."""

from stisdarks import stages
from stisdarks.runner import run_stage

run_stage(
    snakemake,
    stages.cte_dark,
    dark=snakemake.input[0],
    output=snakemake.output[0],
    pctetab=snakemake.params.pctetab,
)
