"""Write summary.json (rule summary)."""

from stisdarks import stages
from stisdarks.runner import run_stage

p = snakemake.params
run_stage(
    snakemake,
    stages.summary,
    output=snakemake.output[0],
    threshold=p.threshold,
    engine=p.engine,
    calibrator=p.calibrator,
    **dict(snakemake.input.items()),
)
