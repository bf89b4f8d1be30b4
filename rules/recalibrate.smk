# Recalibration of a copy of the science data with the weekdark.


rule recalibrate:
    input:
        unpack(science_products),
        weekdark="results/{obs}/weekdark.fits",
        references="results/{obs}/references.json",
    output:
        flt="results/{obs}/recal/{obs}_flt.fits",
        crj="results/{obs}/recal/{obs}_crj.fits",
        sx1="results/{obs}/recal/{obs}_sx1.fits",
    log:
        "logs/{obs}/recalibrate.log",
    benchmark:
        "benchmarks/{obs}/recalibrate.tsv"
    conda:
        "../envs/stisdarks.yaml"
    resources:
        mem_mb=400,
        runtime=30,
    params:
        calibrator=config["calibrator"],
    script:
        "../scripts/recalibrate.py"


# An image (no _sx1): its _flt and _crj, in recal_image/ (an output set of its own).
rule recalibrate_image:
    input:
        unpack(science_products),
        weekdark="results/{obs}/weekdark.fits",
        references="results/{obs}/references.json",
    output:
        flt="results/{obs}/recal_image/{obs}_flt.fits",
        crj="results/{obs}/recal_image/{obs}_crj.fits",
    log:
        "logs/{obs}/recalibrate_image.log",
    benchmark:
        "benchmarks/{obs}/recalibrate_image.tsv"
    conda:
        "../envs/stisdarks.yaml"
    resources:
        mem_mb=400,
        runtime=30,
    params:
        calibrator=config["calibrator"],
    script:
        "../scripts/recalibrate.py"
