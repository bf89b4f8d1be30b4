"""Draw one comparison figure; the rule name says which (rules figure_*)."""

from stisdarks import stages
from stisdarks.runner import run_stage

kind = snakemake.rule.removeprefix("figure_")
inputs = dict(snakemake.input.items())
if kind in ("basedark", "weekdark"):
    inputs["title"] = f"{snakemake.wildcards.obs}: {kind}"
if kind == "ratio":
    inputs["pipeline_dark"] = stages.read_json(inputs.pop("references"))["pipeline_dark"]
run_stage(snakemake, stages.figure, kind=kind, output=snakemake.output[0], **inputs)
