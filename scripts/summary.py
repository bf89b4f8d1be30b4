"""Write summary.json (rule summary)."""

from stisdarks import stages
from stisdarks.runner import run_stage

run_stage(
    snakemake,
    stages.summary,
    output=snakemake.output[0],
    threshold=snakemake.params.threshold,
    archive_root=snakemake.params.archive_root or None,
    **dict(snakemake.input.items()),
)
