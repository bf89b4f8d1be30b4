# Downloads: the synthetic demo archive, science products, darks, reference files.


rule demo_archive:
    output:
        os.path.join(config["archive"]["root"], "{part}", "index.csv"),
    log:
        "logs/demo_archive_{part}.log",
    benchmark:
        "benchmarks/demo_archive_{part}.tsv"
    wildcard_constraints:
        part="science|darks",
    conda:
        "../envs/stisdarks.yaml"
    resources:
        mem_mb=600,
        runtime=30,
    params:
        settings=demo_half_settings,
    script:
        "../scripts/demo_archive.py"


rule download_science:
    input:
        generated_archive("science"),
    output:
        **{k: f"resources/archive/{{obs}}/{{obs}}_{k}.fits" for k in BASE_KINDS},
    log:
        "logs/{obs}/download_science.log",
    benchmark:
        "benchmarks/{obs}/download_science.tsv"
    conda:
        "../envs/stisdarks.yaml"
    resources:
        archive_connections=1,
    params:
        archive=archive_source(config),
    script:
        "../scripts/download_science.py"


# a spectrum's wavecal and pipeline extraction (not asked for an image)
rule download_spectrum:
    input:
        generated_archive("science"),
    output:
        **{k: f"resources/archive/{{obs}}/{{obs}}_{k}.fits" for k in SPECTRUM_KINDS},
    log:
        "logs/{obs}/download_spectrum.log",
    benchmark:
        "benchmarks/{obs}/download_spectrum.tsv"
    conda:
        "../envs/stisdarks.yaml"
    resources:
        archive_connections=1,
    params:
        archive=archive_source(config),
    script:
        "../scripts/download_science.py"


rule references:
    input:
        generated_archive("science"),
        raw="resources/archive/{obs}/{obs}_raw.fits",
        flt="resources/archive/{obs}/{obs}_flt.fits",
    output:
        "results/{obs}/references.json",
    log:
        "logs/{obs}/references.log",
    benchmark:
        "benchmarks/{obs}/references.tsv"
    conda:
        "../envs/stisdarks.yaml"
    params:
        archive=archive_source(config),
        crds=in_key_order(config["crds"]),
    script:
        "../scripts/references.py"
