"""Generate one half of the synthetic demo archive (rule demo_archive, ``{part}``)."""

import os

from stisdarks import stages
from stisdarks.runner import run_stage

run_stage(
    snakemake,
    stages.demo_archive,
    root=os.path.dirname(os.path.dirname(snakemake.output[0])),
    parts=(snakemake.wildcards.part,),
    **snakemake.params.settings,
)
