# Benchmark release room: the benchmark as something other groups can use (docs/ARCHITECTURE.md "Benchmark
# release"). One job writes a bundle per released variant under results/benchmark/{variant}-{version}/ (the version
# holds a content hash, so the folder is the rule's output); external models with `export_from` get their
# exchange-format submission written from another model's predictions (the round trip); every trained model gets a
# MODEL_CARD.md after the next-base evaluation. Needs rules/engines.smk (MODEL_PATTERN, VARIANT_PATTERN) and
# rules/tasks.smk first. Plans and input functions: evocane.benchmark.workflow.

from evocane.benchmark.workflow import BenchmarkPlan  # noqa: E402

try:
    BENCHMARK = BenchmarkPlan(config)
except EvocaneError as _error:
    raise WorkflowError(f"{_config_source}: {_error}") from None


rule export_submission:
    input:
        BENCHMARK.export_inputs,
    output:
        directory(layout.submission()),
    params:
        arguments=BENCHMARK.export_arguments,
    log:
        "logs/benchmark/submission/{model}/{variant}.log",
    conda:
        "../envs/genome.yaml"
    wildcard_constraints:
        model=engine_workflow.pattern(BENCHMARK.exported),
        variant=VARIANT_PATTERN,
    shell:
        "evocane export-predictions {params.arguments:q} --out {output:q} > {log:q} 2>&1"


rule benchmark_export:
    input:
        BENCHMARK.bundle_inputs(),
    output:
        directory(layout.benchmark()),
    params:
        config=job_config(*BENCHMARK.bundle_keys(), benchmark_bundles=lambda wildcards: BENCHMARK.bundles),
    log:
        "logs/benchmark/export.log",
    conda:
        "../envs/genome.yaml"
    shell:
        "evocane benchmark-export --job-config {params.config:q} --out {output:q} > {log:q} 2>&1"


rule model_card:
    input:
        unpack(BENCHMARK.card_inputs),
    output:
        report(
            layout.model_card(),
            caption="../report/model_card.rst",
            category=CATEGORIES["models"],
            subcategory="model cards",
            labels={"model": "{model}", "variant": "{variant}"},
        ),
    params:
        config=job_config("datasets.variants.{variant}"),
    log:
        "logs/benchmark/model_card/{model}/{variant}.log",
    conda:
        "../envs/genome.yaml"
    wildcard_constraints:
        model=MODEL_PATTERN,
        variant=VARIANT_PATTERN,
    shell:
        "evocane model-card --job-config {params.config:q} --checkpoint {input.checkpoint:q} --metrics {input.metrics:q} "
        "--manifest {input.manifest:q} --variant {wildcards.variant:q} --out {output:q} > {log:q} 2>&1"


TARGET_FUNCTIONS.append(BENCHMARK.targets)
