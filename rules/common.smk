# Input functions (and the small lookups they share). No rules here.
import json
import os

from stisdarks.settings import (
    archive_source,
    entry_settings,
    in_key_order,
    programme_targets,
    single_targets,
    target_settings as settings_of,
)
from snakemake.exceptions import IncompleteCheckpointException

#: products every target downloads first; spectra also need SPECTRUM_KINDS
BASE_KINDS = ["raw", "flt", "crj"]
SPECTRUM_KINDS = ["wav", "sx1"]
DARK_FIGURES = ["basedark", "weekdark", "weekdark_over_pipeline"]
SCIENCE_FIGURES = {
    "spectrum": ["crj_comparison", "spectrum"],
    "image": ["image_comparison"],
}


def programme_members(key):
    """``process`` rows of a programme's ``programme.csv`` (a checkpoint), in its order."""
    from stisdarks.programme import PROCESS, read_table

    path = checkpoint_output(
        checkpoints.programme,
        f"results/programmes/{key}/programme.csv",
        programme=key,
    )
    return [c for c in read_table(path) if c.status == PROCESS]


def target_entries():
    """``{obs: config entry}`` of every observation to process, single targets first."""
    entries = single_targets(config)
    for key, target in programme_targets(config).items():
        for member in programme_members(key):
            entries.setdefault(member.obs_id, target)
    return entries


def targets():
    """Lower-case obs ids of every observation to process."""
    return list(target_entries())


def facts_of(obs):
    """The target's ``science.json`` (a checkpoint: evaluated once it exists)."""
    path = checkpoint_output(
        checkpoints.science_facts, f"results/{obs}/science.json", obs=obs
    )
    with open(path) as fh:
        return json.load(fh)


def kind_of(obs):
    """``spectrum`` or ``image``, from the target's ``science.json``."""
    obstype = facts_of(obs).get("obstype", "SPECTROSCOPIC")
    return "image" if str(obstype).upper() == "IMAGING" else "spectrum"


def cti_of(obs):
    """Whether the target is corrected for CTI: asked for (``cti``) and possible for stis_cti.

    A target stis_cti cannot serve runs without CTI correction; its weekdark job then stops
    or warns in one line, as ``cti.unsupported`` says.
    """
    wanted = settings_of(config, obs, target_of(obs))["cti"]
    return wanted and facts_of(obs).get("cti_refusal") is None


def all_outputs(wildcards=None):
    """Every final artifact of every target, the period's basedark and dark list included.

    The basedark and ``darks_used.csv`` are asked for by name (after the anneal-period
    checkpoint), so that a deleted one is rebuilt by a plain rerun, as the error for a
    corrupt download says ("delete it and rerun"). With programme targets, their
    ``programme.csv`` and the overview of every target (``results/summary.csv``).
    """
    out = []
    for obs in targets():
        out.append(f"results/{obs}/summary.json")
        names = DARK_FIGURES + SCIENCE_FIGURES[kind_of(obs)]
        if kind_of(obs) == "spectrum" and truth_root(None):
            names = names + ["truth"]  # the synthetic demo: against its truth
        out += [f"results/{obs}/figures/{name}.png" for name in names]
    for obs in targets():
        period = period_dir_of(obs)
        out += [f"{period}/basedark.fits", f"{period}/darks_used.csv"]
    out += programme_tables()
    out += ["results/summary.csv", "results/figures/overview.png"]
    return list(dict.fromkeys(out))


def requested_results(workflow):
    """Every file this run was asked for, for the check at its end (``onsuccess``).

    The files named on the command line and, with the default target (rule ``all``), every
    final artifact of every target; a checkpoint that never ran counts as its output
    missing. Empty when the user asked for part of the run (``--until``, ``--omit-from``, a
    batch of ``--batch`` but the last, ``--allowed-rules``).
    """
    dag = workflow.dag
    partial = dag.untilrules or dag.untilfiles or dag.omitrules or dag.omitfiles
    if partial or workflow.dag_settings.allowed_rules:
        return []
    files = [str(f) for f in dag.targetfiles]
    if "all" in {r.name for r in dag.targetrules}:
        try:
            files += all_outputs() + [
                str(f) for f in generated_archive("science", "darks")()
            ]
        except IncompleteCheckpointException as exc:
            files.append(str(exc.targetfile))
    return files


def programme_tables(wildcards=None):
    return [
        f"results/programmes/{key}/programme.csv" for key in programme_targets(config)
    ]


def programme_target(wildcards):
    """The config entry of programme ``{programme}``."""
    return in_key_order(programme_targets(config)[wildcards.programme])


def programme_setting(name):
    """A programme's setting (its override over the global value), as a params function."""

    def get(wildcards):
        return entry_settings(config, programme_target(wildcards))[name]

    return get


def dataset_list(wildcards):
    """The list file of a ``datasets`` programme (an input: an edit reruns the expansion)."""
    target = programme_target(wildcards)
    return [target["datasets"]] if "datasets" in target else []


def summaries(wildcards=None):
    return [f"results/{obs}/summary.json" for obs in targets()]


def generated_archive(*halves):
    """Input function: the halves (``science``, ``darks``) of the generated demo archive that
    a job reads, when the config asks for one.

    Plain inputs, not ``ancient``: a regenerated half is new data, and what was read from
    it is made again. (With ``ancient``, Snakemake 9.27 left out every job after a half it
    had to rerun while the half's index existed — a half killed between its last write and
    Snakemake's own bookkeeping, rerun by ``rerun-incomplete`` — and ended "100% done"
    with those jobs never run: docs/resume.md.)
    """

    def ready(wildcards=None):
        acfg = config["archive"]
        if acfg["kind"] == "local" and acfg["demo"]["generate"]:
            return [os.path.join(acfg["root"], h, "index.csv") for h in halves]
        return []

    return ready


def demo_half_settings(wildcards):
    """The ``archive.demo`` settings the ``{part}`` half of the demo archive is made from: the
    darks half reads none of the science's, so changing those regenerates the science alone.
    """
    demo = config["archive"]["demo"]
    settings = {k: demo[k] for k in ("size", "n_darks", "seed", "cti_trails")}
    if wildcards.part == "darks":
        second = (demo.get("programme") or {}).get("second_period_darks", 0)
        return {
            **settings,
            "programme": {"second_period_darks": second} if second else {},
        }
    return {
        **settings,
        "obs_id": demo["obs_id"],
        "science": demo["science"],
        "programme": demo["programme"],
    }


def science_products(wildcards):
    """The downloaded science products of ``{obs}``, by kind (a spectrum's five, an image's three)."""
    kinds = BASE_KINDS + (
        SPECTRUM_KINDS if kind_of(wildcards.obs) == "spectrum" else []
    )
    return {
        k: f"resources/archive/{wildcards.obs}/{wildcards.obs}_{k}.fits" for k in kinds
    }


#: where a target's recalibrated products go, by (kind, CTI-corrected): rules recalibrate,
#: recalibrate_image, recalibrate_cti, recalibrate_cti_image
RECAL_DIRS = {
    ("spectrum", False): "recal",
    ("image", False): "recal_image",
    ("spectrum", True): "recal_cti",
    ("image", True): "recal_cti_image",
}
#: the CTI-corrected products' names, as stis_cti names them
CTI_NAMES = {"flt": "flc", "crj": "crc", "sx1": "s1c"}


def recal_of(obs):
    """The target's recalibrated products by kind (``flt``, ``crj``; ``sx1`` for a spectrum)."""
    kind, cti = kind_of(obs), cti_of(obs)
    kinds = ["flt", "crj"] + (["sx1"] if kind == "spectrum" else [])
    where = f"results/{obs}/{RECAL_DIRS[kind, cti]}"
    return {k: f"{where}/{obs}_{CTI_NAMES[k] if cti else k}.fits" for k in kinds}


def recal_product(kind):
    """A recalibrated product of ``{obs}`` (``crj``, ``sx1``), as an input function."""

    def get(wildcards):
        return recal_of(wildcards.obs)[kind]

    return get


def truth_root(wildcards):
    """The generated demo archive, whose ``truth/`` the summary measures against, or ``""``."""
    archive = config["archive"]
    generated = archive["kind"] == "local" and archive["demo"]["generate"]
    return archive["root"] if generated else ""


def summary_inputs(wildcards):
    """The summary's inputs: the spectra's ``_sx1`` pair only for spectra."""
    obs = wildcards.obs
    kind = kind_of(obs)
    recal = recal_of(obs)
    inputs = {
        "science": f"results/{obs}/science.json",
        "period": f"results/{obs}/period.json",
        "darks_used": darks_used_of(wildcards),
        "week": f"results/{obs}/week.csv",
        "basedark": basedark_of(wildcards),
        "weekdark": f"results/{obs}/weekdark.fits",
        "references": f"results/{obs}/references.json",
        "pipeline_flt": f"resources/archive/{obs}/{obs}_flt.fits",
        "pipeline_crj": f"resources/archive/{obs}/{obs}_crj.fits",
        "recal_crj": recal["crj"],
    }
    if kind == "spectrum":
        inputs["pipeline_sx1"] = f"resources/archive/{obs}/{obs}_sx1.fits"
        inputs["recal_sx1"] = recal["sx1"]
    return inputs


def checkpoint_output(job, path, **wildcards):
    """``path``, an output of the checkpoint ``job``, once the job has run in this DAG.

    Until then Snakemake's ``get`` raises ``IncompleteCheckpointException`` and evaluates
    the input function again after the job. An existing file is never read in its place:
    a checkpoint about to run again (its inputs or settings changed) would rewrite it, and
    a graph built on its old content (a target's former anneal period, say) would be wrong.
    """
    job.get(**wildcards)
    return path


def period_of(obs):
    """``period.json`` of a target (a checkpoint: evaluated once it exists)."""
    path = checkpoint_output(
        checkpoints.science_facts, f"results/{obs}/period.json", obs=obs
    )
    with open(path) as fh:
        return json.load(fh)


def period_dir_of(obs):
    """The directory of the target's basedark: its period's, ``cti/`` inside it with CTI."""
    parts = ["results", "periods", period_of(obs)["key"]] + (
        ["cti"] if cti_of(obs) else []
    )
    return os.path.join(*parts)


def period_dir(wildcards):
    return period_dir_of(wildcards.obs)


def dark_dir_of(wildcards):
    """Where the target's darks are: as downloaded, or CTI-corrected."""
    return "resources/cte/darks" if cti_of(wildcards.obs) else "resources/archive/darks"


def cti_applied(wildcards):
    return cti_of(wildcards.obs)


def cti_request(wildcards):
    """``""`` when the target asks for no CTI correction, else ``cti.unsupported``."""
    if not settings_of(config, wildcards.obs, target_of(wildcards.obs))["cti"]:
        return ""
    return config["cti"]["unsupported"]


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
        return settings_of(config, wildcards.obs, target_of(wildcards.obs))[name]

    return get


def target_of(obs):
    """The config entry ``obs`` comes from (its own ``obs_id`` entry, else its programme's)."""
    return single_targets(config).get(obs) or target_entries()[obs]
