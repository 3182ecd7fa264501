# Genome room: acquisition (download / local / packaged), record selection and renaming, bgzip + faidx,
# GFF3 filtering, homology-group assignment, and QC.


# --- download: one URL to resources/downloads/{cultivar}/{filename}, resumable and sha256-verified ------------------
rule download:
    output:
        "resources/downloads/{cultivar}/{filename}",
    params:
        # every config-derived value reaches the shell quoted (:q); an empty sha256 means "not checked"
        url=lambda wc: download_spec(wc)["url"],
        sha256=lambda wc: download_spec(wc).get("sha256") or "",
    log:
        "logs/download/{cultivar}/{filename}.log",
    conda:
        "../envs/genome.yaml"
    retries: 2
    localrule: True
    shell:
        "evocane download --url {params.url:q} --sha256 {params.sha256:q} --output {output:q} > {log:q} 2>&1"


# --- prepare: bgzipped + indexed FASTA, renamed GFF3, records.tsv with homology groups --------------------------------
rule prepare_genome:
    input:
        source_inputs,
    output:
        fasta="results/genomes/{cultivar}/genome.fa.gz",
        fai="results/genomes/{cultivar}/genome.fa.gz.fai",
        gzi="results/genomes/{cultivar}/genome.fa.gz.gzi",
        gff3="results/genomes/{cultivar}/annotation.gff3.gz",
        records="results/genomes/{cultivar}/records.tsv",
    params:
        spec=lambda wc: config["cultivars"][wc.cultivar],
    log:
        "logs/prepare_genome/{cultivar}.log",
    conda:
        "../envs/genome.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc: config["resources"]["genome_mem_mb"],
    script:
        "../scripts/prepare_genome.py"


# --- QC: per-record composition, then a summary and figures across cultivars ----------------------------------------
rule genome_qc:
    input:
        fasta="results/genomes/{cultivar}/genome.fa.gz",
        records="results/genomes/{cultivar}/records.tsv",
    output:
        "results/genomes/{cultivar}/qc.tsv",
    params:
        expected=lambda wc: qc_expectation_args(wc.cultivar),
    log:
        "logs/genome_qc/{cultivar}.log",
    conda:
        "../envs/genome.yaml"
    resources:
        mem_mb=lambda wc: config["resources"]["genome_mem_mb"],
    shell:
        "evocane qc --cultivar {wildcards.cultivar} --genome-dir results/genomes/{wildcards.cultivar} "
        "--output {output:q} {params.expected} > {log:q} 2>&1"


rule qc_report:
    input:
        expand("results/genomes/{cultivar}/qc.tsv", cultivar=CULTIVARS),
    output:
        summary=report(
            "results/qc/summary.tsv",
            caption="../report/qc_summary.rst",
            category="1. Genomes",
            subcategory="QC",
            labels={"table": "per-cultivar summary"},
        ),
        records=report(
            "results/qc/records.tsv",
            caption="../report/qc_records.rst",
            category="1. Genomes",
            subcategory="QC",
            labels={"table": "per-record composition"},
        ),
        composition=report(
            f"results/qc/record_composition.{config['qc']['plot_format']}",
            caption="../report/qc_composition.rst",
            category="1. Genomes",
            subcategory="QC",
            labels={"figure": "record composition"},
        ),
        gc=report(
            f"results/qc/gc_vs_softmask.{config['qc']['plot_format']}",
            caption="../report/qc_gc_softmask.rst",
            category="1. Genomes",
            subcategory="QC",
            labels={"figure": "GC vs soft-masking"},
        ),
    log:
        "logs/qc_report.log",
    conda:
        "../envs/genome.yaml"
    shell:
        "evocane qc-report --qc {input:q} --summary {output.summary:q} --records-table {output.records:q} "
        "--composition-plot {output.composition:q} --gc-plot {output.gc:q} > {log:q} 2>&1"
