# Comparison figures (one PNG each, captioned in the report): the darks' three as soon as the
# weekdark exists (beside the recalibration), the science's two after it; and summary.json.


rule dark_figures:
    input:
        basedark=basedark_of,
        weekdark="results/{obs}/weekdark.fits",
        references="results/{obs}/references.json",
        pipeline_crj="resources/archive/{obs}/{obs}_crj.fits",
    output:
        basedark=report(
            "results/{obs}/figures/basedark.png",
            caption="../report/basedark.rst",
            category="{obs}",
            subcategory="Darks",
        ),
        weekdark=report(
            "results/{obs}/figures/weekdark.png",
            caption="../report/weekdark.rst",
            category="{obs}",
            subcategory="Darks",
        ),
        ratio=report(
            "results/{obs}/figures/weekdark_over_pipeline.png",
            caption="../report/ratio.rst",
            category="{obs}",
            subcategory="Darks",
        ),
    log:
        "logs/{obs}/dark_figures.log",
    benchmark:
        "benchmarks/{obs}/dark_figures.tsv"
    conda:
        "../envs/stisdarks.yaml"
    script:
        "../scripts/figures.py"


rule science_figures:
    input:
        pipeline_crj="resources/archive/{obs}/{obs}_crj.fits",
        recal_crj=recal_product("crj"),
        pipeline_sx1="resources/archive/{obs}/{obs}_sx1.fits",
        recal_sx1=recal_product("sx1"),
    output:
        crj=report(
            "results/{obs}/figures/crj_comparison.png",
            caption="../report/crj.rst",
            category="{obs}",
            subcategory="Science",
        ),
        spectrum=report(
            "results/{obs}/figures/spectrum.png",
            caption="../report/spectrum.rst",
            category="{obs}",
            subcategory="Science",
        ),
    log:
        "logs/{obs}/science_figures.log",
    benchmark:
        "benchmarks/{obs}/science_figures.tsv"
    # the longest of the jobs after the recalibration: first when they wait for a core
    priority: 1
    conda:
        "../envs/stisdarks.yaml"
    script:
        "../scripts/figures.py"


# the synthetic demo only: the spectrum against the injected one, a hot pixel's trail
rule truth_figure:
    input:
        pipeline_crj="resources/archive/{obs}/{obs}_crj.fits",
        recal_crj=recal_product("crj"),
        pipeline_sx1="resources/archive/{obs}/{obs}_sx1.fits",
        recal_sx1=recal_product("sx1"),
        weekdark="results/{obs}/weekdark.fits",
        references="results/{obs}/references.json",
    output:
        report(
            "results/{obs}/figures/truth.png",
            caption="../report/truth.rst",
            category="{obs}",
            subcategory="Science",
        ),
    log:
        "logs/{obs}/truth_figure.log",
    benchmark:
        "benchmarks/{obs}/truth_figure.tsv"
    conda:
        "../envs/stisdarks.yaml"
    params:
        archive_root=truth_root,
    script:
        "../scripts/truth_figure.py"


rule image_figures:
    input:
        pipeline_crj="resources/archive/{obs}/{obs}_crj.fits",
        recal_crj=recal_product("crj"),
    output:
        image=report(
            "results/{obs}/figures/image_comparison.png",
            caption="../report/image.rst",
            category="{obs}",
            subcategory="Science",
        ),
    log:
        "logs/{obs}/image_figures.log",
    benchmark:
        "benchmarks/{obs}/image_figures.tsv"
    priority: 1
    conda:
        "../envs/stisdarks.yaml"
    script:
        "../scripts/figures.py"


rule summary:
    input:
        unpack(summary_inputs),
    output:
        report(
            "results/{obs}/summary.json",
            caption="../report/summary.rst",
            category="{obs}",
            subcategory="Summary",
        ),
    log:
        "logs/{obs}/summary.log",
    benchmark:
        "benchmarks/{obs}/summary.tsv"
    conda:
        "../envs/stisdarks.yaml"
    params:
        threshold=config["hot_pixel_threshold"],
        archive_root=truth_root,
    script:
        "../scripts/summary.py"
