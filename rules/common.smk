# Input functions (and the small lookups they share). No rules here.
import json
import os

from stisdarks import stages

from stisdarks.archive import SCIENCE_KINDS
from stisdarks.science import check_obs_id
from stisdarks.selection import read_dark_table
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


def checkpoint_output(checkpoint, path, **wildcards):
    """Output of a checkpoint job; an existing, complete file counts too.

    After a run is killed, Snakemake 9 can leave a finished checkpoint out of its
    "created" set and would schedule dependants on a placeholder; every output here is
    written atomically, so a present file is complete and safe to read.
    """
    try:
        return checkpoint.get(**wildcards).output[0]
    except IncompleteCheckpointException:
        if os.path.exists(path):
            return path
        raise


def period_of(obs):
    """``period.json`` of a target (a checkpoint: evaluated once it exists)."""
    path = checkpoint_output(
        checkpoints.anneal_period, f"results/{obs}/period.json", obs=obs
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


def period_dark_rows(period):
    return read_dark_table(
        checkpoint_output(
            checkpoints.period_darks,
            f"results/periods/{period}/darks.csv",
            period=period,
        )
    )


def period_dark_files(wildcards):
    """Every candidate dark of ``{period}``, downloaded."""
    return [
        f"resources/archive/darks/{d.product.filename}"
        for d in period_dark_rows(wildcards.period)
    ]


def dark_listing(wildcards):
    """The dark-list row of ``{root}`` and the darks.csv it comes from."""
    for obs in targets():
        period = period_of(obs)["key"]
        for dark in period_dark_rows(period):
            if dark.rootname.lower() == wildcards.root:
                return f"results/periods/{period}/darks.csv", dark
    raise ValueError(
        f"dark {wildcards.root} is in no dark list of the config's targets"
    )


def dark_list_of(wildcards):
    return ancient(dark_listing(wildcards)[0])


def dark_product(wildcards):
    product = dark_listing(wildcards)[1].product
    return {
        "obs_id": product.obs_id,
        "kind": product.kind,
        "filename": product.filename,
        "uri": product.uri,
        "size": product.size,
    }


def basedark_of(wildcards):
    return f"{period_dir(wildcards)}/basedark.fits"


def darks_used_of(wildcards):
    return f"{period_dir(wildcards)}/darks_used.csv"


def week_dark_files(wildcards):
    """The downloaded darks of the target's week (after the week.csv checkpoint)."""
    week_csv = checkpoint_output(
        checkpoints.week_darks, f"results/{wildcards.obs}/week.csv", obs=wildcards.obs
    )
    return [
        f"resources/archive/darks/{d.product.filename}"
        for d in read_dark_table(week_csv)
    ]


def target_setting(name):
    """A per-target setting (target override over the global value), as a params function."""

    def get(wildcards):
        return stages.target_settings(config, wildcards.obs)[name]

    return get
