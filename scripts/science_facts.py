"""Write science.json (rule science_facts)."""

from stisdarks import stages
from stisdarks.runner import run_stage

i = snakemake.input
run_stage(
    snakemake,
    stages.write_science_facts,
    raw=i.raw,
    flt=i.flt,
    crj=i.crj,
    output=snakemake.output[0],
)
