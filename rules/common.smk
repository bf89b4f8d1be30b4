# Input functions (and the small lookups they share). No rules here.
import json
import os

from stisdarks.archive import SCIENCE_KINDS
from stisdarks.settings import check_obs_id, target_settings as settings_of
from snakemake.exceptions import IncompleteCheckpointException

FIGURES = [
    "basedark",
    "weekdark",
    "weekdark_over_pipeline",
    "crj_comparison",
    "spectrum",
]


def targets():
    """Lower-case obs ids of the config's targets."""
    return [check_obs_id(t["obs_id"]) for t in config["targets"]]


def all_outputs(wildcards=None):
    """Every final artifact of every target, the period's basedark and dark list included.

    The basedark and ``darks_used.csv`` are asked for by name (after the anneal-period
    checkpoint), so that a deleted one is rebuilt by a plain rerun, as the error for a
    corrupt download says ("delete it and rerun").
    """
    out = []
    for obs in targets():
        out.append(f"results/{obs}/summary.json")
        out += [f"results/{obs}/figures/{name}.png" for name in FIGURES]
    for obs in targets():
        period = f"results/periods/{period_of(obs)['key']}"
        out += [f"{period}/basedark.fits", f"{period}/darks_used.csv"]
    return list(dict.fromkeys(out))


def archive_ready(wildcards=None):
    """The generated demo archive, when the config asks for one (ancient: never a reason to refetch)."""
    acfg = config["archive"]
    if acfg["kind"] == "local" and acfg["demo"]["generate"]:
        return ancient(os.path.join(acfg["root"], "index.csv"))
    return []


def science_products(wildcards):
    """The downloaded science products of ``{obs}``, by kind."""
    return {
        k: f"resources/archive/{wildcards.obs}/{wildcards.obs}_{k}.fits"
        for k in SCIENCE_KINDS
    }


def checkpoint_output(job, path, **wildcards):
    """``path``, an output of a checkpoint job, once the job is done; an existing file counts too.

    After a run is killed, Snakemake 9 can leave a finished checkpoint out of its
    "created" set and would schedule dependants on a placeholder; every output here is
    written atomically, so a present file is complete and safe to read.
    """
    try:
        job.get(**wildcards)  # raises until the checkpoint job has run
        return path
    except IncompleteCheckpointException:
        if os.path.exists(path):
            return path
        raise


def period_of(obs):
    """``period.json`` of a target (a checkpoint: evaluated once it exists)."""
    path = checkpoint_output(
        checkpoints.science_facts, f"results/{obs}/period.json", obs=obs
    )
    with open(path) as fh:
        return json.load(fh)


def period_dir(wildcards):
    return f"results/periods/{period_of(wildcards.obs)['key']}"


def period_inputs(wildcards):
    """period.json and science.json of the first target whose period is ``{period}``."""
    for obs in targets():
        if period_of(obs)["key"] == wildcards.period:
            return {
                "period": f"results/{obs}/period.json",
                "science": f"results/{obs}/science.json",
            }
    raise ValueError(f"no target of the config lies in period {wildcards.period}")


def basedark_of(wildcards):
    return f"{period_dir(wildcards)}/basedark.fits"


def darks_used_of(wildcards):
    return f"{period_dir(wildcards)}/darks_used.csv"


def target_setting(name):
    """A per-target setting (target override over the global value), as a params function."""

    def get(wildcards):
        return settings_of(config, wildcards.obs)[name]

    return get
