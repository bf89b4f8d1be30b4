"""Recalibrate the science observation with the weekdark (rules recalibrate, recalibrate_image)."""

from stisdarks import stages
from stisdarks.archive import SCIENCE_KINDS
from stisdarks.runner import run_stage

i = snakemake.input
run_stage(
    snakemake,
    stages.recalibrate,
    products={k: v for k, v in i.items() if k in SCIENCE_KINDS},
    weekdark_fits=i.weekdark,
    references_json=i.references,
    outputs=dict(snakemake.output.items()),
    obs_id=snakemake.wildcards.obs,
    calibrator=snakemake.params.calibrator,
)
