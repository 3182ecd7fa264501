# Genome room: acquisition (download / local / packaged), record selection and renaming, bgzip + faidx,
# GFF3 filtering, homology-group assignment, and QC.


# --- download: one URL to resources/downloads/{cultivar}/{filename}, resumable and sha256-verified ------------------
rule download:
    output:
        layout.download(),
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
        fasta=layout.genome_file("genome.fa.gz"),
        fai=layout.genome_file("genome.fa.gz.fai"),
        gzi=layout.genome_file("genome.fa.gz.gzi"),
        gff3=layout.genome_file("annotation.gff3.gz"),
        records=layout.genome_file("records.tsv"),
    params:
        config=job_config("cultivars.{cultivar}"),
        out_dir=subpath(output.records, parent=True),
    log:
        "logs/prepare_genome/{cultivar}.log",
    conda:
        "../envs/genome.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc: config["resources"]["genome_mem_mb"],
    shell:
        "evocane prepare-genome --job-config {params.config:q} --cultivar {wildcards.cultivar:q} "
        "--out-dir {params.out_dir:q} > {log:q} 2>&1"


# --- QC: per-record composition, then a summary and figures across cultivars ----------------------------------------
rule genome_qc:
    input:
        fasta=layout.genome_file("genome.fa.gz"),
        records=layout.genome_file("records.tsv"),
    output:
        layout.genome_file("qc.tsv"),
    params:
        genome_dir=subpath(input.records, parent=True),
        expected_groups=lambda wc: config["cultivars"][wc.cultivar]["homology"].get("expected_groups") or 0,
        max_haplotypes=lambda wc: config["cultivars"][wc.cultivar]["homology"].get("max_haplotypes") or 0,
    log:
        "logs/genome_qc/{cultivar}.log",
    conda:
        "../envs/genome.yaml"
    resources:
        mem_mb=lambda wc: config["resources"]["genome_mem_mb"],
    shell:
        "evocane qc --cultivar {wildcards.cultivar:q} --genome-dir {params.genome_dir:q} --output {output:q} "
        "--expected-groups {params.expected_groups} --max-haplotypes {params.max_haplotypes} > {log:q} 2>&1"


rule qc_report:
    input:
        expand(layout.genome_file("qc.tsv"), cultivar=CULTIVARS),
    output:
        summary=qc_report_output("summary.tsv", "../report/qc_summary.rst", "table", "per-cultivar summary"),
        records=qc_report_output("records.tsv", "../report/qc_records.rst", "table", "per-record composition"),
        composition=qc_report_output(
            f"record_composition.{QC_PLOT_FORMAT}", "../report/qc_composition.rst", "figure", "record composition"
        ),
        gc=qc_report_output(f"gc_vs_softmask.{QC_PLOT_FORMAT}", "../report/qc_gc_softmask.rst", "figure", "GC vs soft-masking"),
    log:
        "logs/qc_report.log",
    conda:
        "../envs/genome.yaml"
    shell:
        "evocane qc-report --qc {input:q} --summary {output.summary:q} --records-table {output.records:q} "
        "--composition-plot {output.composition:q} --gc-plot {output.gc:q} > {log:q} 2>&1"
