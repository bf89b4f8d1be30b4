# Custom STIS CCD weekly darks: science observation -> basedark -> weekdark ->
# recalibrated spectrum -> comparison figures. See README.md and config/README.md.
import os

from snakemake.utils import min_version, validate

from stisdarks.runner import (
    check_results,
    check_workflow_config,
    end_promptly,
    jobs_import_from,
)

min_version("9.0")


configfile: "config/config.yaml"


validate(config, "config/schema.yaml")
# what the schema cannot say (hstcal present for engine: refstis / calibrator: calstis), before
# any job runs: one line "stisdarks: error: ..." and exit 1 (with --sdm conda, jobs bring hstcal)
USES_CONDA = any(
    m.name == "CONDA" for m in workflow.deployment_settings.deployment_method
)
check_workflow_config(config, uses_conda=USES_CONDA)
# with --sdm conda, the jobs' environment (envs/stisdarks.yaml) runs this checkout's stisdarks
if USES_CONDA:
    jobs_import_from(os.path.join(workflow.basedir, "src"))


report: "report/workflow.rst"


wildcard_constraints:
    obs=r"o[a-z0-9]{8}",
    root=r"o[a-z0-9]{8}",
    period=r"\d{4}-\d{2}-\d{2}T\d{6}_gain\d+_amp[A-D]_bin[124]x[124]",
    kind=r"raw|wav|flt|crj|sx1",
    programme=r"p\d+|list-[A-Za-z0-9_.-]+",


include: "rules/common.smk"
include: "rules/archive.smk"
include: "rules/science.smk"
include: "rules/darks.smk"
include: "rules/superdarks.smk"
include: "rules/recalibrate.smk"
include: "rules/figures.smk"
include: "rules/programme.smk"
include: "rules/cti.smk"


localrules:
    all,
    demo_archive,
    download_science,
    download_spectrum,
    period_darks,
    programme,
    references,
    science_facts,


# The demo archive's halves are asked for here too: the darks half, read only after the
# science_facts checkpoint, is then generated from the start, beside the science chain.
rule all:
    default_target: True
    input:
        all_outputs,
        generated_archive("science", "darks"),


# End the run when its last job ends, not a second later (see stisdarks.runner.end_promptly);
# a run Snakemake calls successful with a result missing ends with one line and exit 1.
onsuccess:
    end_promptly()
    check_results(requested_results(workflow))


onerror:
    end_promptly()
