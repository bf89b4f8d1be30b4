# What the observation is and which anneal period contains it.


rule science_facts:
    input:
        raw="resources/archive/{obs}/{obs}_raw.fits",
        flt="resources/archive/{obs}/{obs}_flt.fits",
        crj="resources/archive/{obs}/{obs}_crj.fits",
    output:
        "results/{obs}/science.json",
    log:
        "logs/{obs}/science_facts.log",
    benchmark:
        "benchmarks/{obs}/science_facts.tsv"
    conda:
        "../envs/stisdarks.yaml"
    script:
        "../scripts/science_facts.py"


checkpoint anneal_period:
    input:
        science="results/{obs}/science.json",
    output:
        "results/{obs}/period.json",
    log:
        "logs/{obs}/anneal_period.log",
    benchmark:
        "benchmarks/{obs}/anneal_period.tsv"
    conda:
        "../envs/stisdarks.yaml"
    params:
        override=target_setting("period"),
        tables=config["periods"]["tables"],
        from_archive=config["periods"]["from_archive"],
    script:
        "../scripts/anneal_period.py"
