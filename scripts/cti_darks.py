"""The period's dark list, again, for its CTI-corrected basedark (checkpoint cti_darks)."""

from stisdarks import stages
from stisdarks.runner import run_stage

run_stage(snakemake, stages.cti_darks, darks_csv=snakemake.input[0], output=snakemake.output[0])
