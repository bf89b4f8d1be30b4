"""CTI-correct every dark of an anneal period (rule cte_darks)."""

from stisdarks import stages
from stisdarks.runner import run_stage

run_stage(
    snakemake,
    stages.cte_darks,
    darks_csv=snakemake.input[0],
    output=snakemake.output[0],
    dark_dir=snakemake.params.dark_dir,
    cte_dir=snakemake.params.cte_dir,
    pctetab=snakemake.params.pctetab,
    engine=snakemake.params.engine,
    threads=snakemake.threads,
)
