"""The execution profiles (profiles/local, profiles/slurm-gpu, profiles/ci-slurm).

Always run: every profile key is a Snakemake option; dry runs show the resources each profile gives the workflow's
genome rules and test-only rules that declare resources the way the engine rules do (from the config).

Marked `slurm`: a real single-node Slurm (Debian's slurm-wlm, started by tests/slurm/start-slurm.sh when the tests
run as root, or already running) executes the genome rules with profiles/ci-slurm, and GPU and container rules with
profiles/slurm-gpu. tests/slurm/shim/sbatch records the exact sbatch argv of every submission; the assertions compare
it with the argv written out here from the plugin's documented resource mapping.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
PROFILES = REPO / "profiles"
SLURM_DIR = REPO / "tests" / "slurm"
SHIM_DIR = SLURM_DIR / "shim"
SLURM_CONF = Path("/etc/slurm/slurm.conf")
SLURM_CONF_MARKER = "# Written by tests/slurm/start-slurm.sh"
SLURM_BINARIES = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "srun", "scontrol", "sinfo")
GENOME_RULES_WITH_CONFIG_MEMORY = ("prepare_genome", "genome_qc")

# Rules that may ask for GPUs (their gpu comes from the config); ci-slurm turns them into CPU jobs.
GPU_CAPABLE_RULES = (
    "train_model",
    "score_model",
    "score_shard",
    "generate_model",
    "task_score",
    "task_score_shard",
    "task_generate",
    "bionemo_convert",
    "bionemo_train",
    "bionemo_predict",
    "bionemo_infer",
    "evo2_embed",
)

# Test-only rules declaring threads and resources the way the workflow's rules do from the config: an engine rule
# with one GPU and threads (no cpus_per_gpu), BioNeMo rules with config-derived GPU requests (one node with a GPU
# model; four nodes with a per-node gres as an MPI job), CPU work in the container, a plain CPU rule.
TEST_RULES: dict[str, dict] = {
    "train_model": {"threads": 4, "resources": {"gpu": 1, "mem_mb": 16000, "runtime": "2h"}},
    "bionemo_train": {
        "resources": {"gpu": 2, "gpu_model": "h100", "nodes": 1, "cpus_per_gpu": 8, "mem_mb": 64000, "runtime": 720}
    },
    "bionemo_train_4_nodes": {
        "resources": {
            "gres": "gpu:8", "nodes": 4, "mpi": "srun", "tasks_per_node": 8, "cpus_per_gpu": 8,
            "mem_mb": 256000, "runtime": "1d",
        }
    },
    "bionemo_preprocess": {"threads": 8, "resources": {"cpus_per_task": 8, "mem_mb": 32000, "runtime": 240}},
    "cpu_step": {"threads": 2},
}
CONTAINER_RULES = ("bionemo_train", "bionemo_preprocess", "bionemo_infer")  # multi-node: no container


# --- helpers ---------------------------------------------------------------------------------------------------------
def load_profile(name: str) -> dict:
    return yaml.safe_load((PROFILES / name / "config.yaml").read_text())


def runtime_minutes(value: int | str) -> int:
    """Minutes for a runtime: an integer (minutes) or a number with unit m, h or d."""
    if isinstance(value, int):
        return value
    match = re.fullmatch(r"(\d+)\s*([mhd])", value.strip())
    assert match, f"runtime {value!r} is neither minutes nor <n>m/h/d"
    return int(match.group(1)) * {"m": 1, "h": 60, "d": 1440}[match.group(2)]


def subprocess_environment(**extra: str) -> dict[str, str]:
    """Environment for a Snakemake subprocess: this interpreter's bin dir on PATH (the rules call `evocane`), no
    inherited SLURM_* variables (pytest itself might run inside a Slurm job)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("SLURM_")}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.update(extra)
    return env


def run_snakemake(args: list[str], env: dict[str, str] | None = None, timeout: int = 300):
    return subprocess.run(
        [sys.executable, "-m", "snakemake", *args],
        capture_output=True,
        text=True,
        env=env or subprocess_environment(),
        timeout=timeout,
        check=False,
    )


def dry_run_resources(output: str) -> dict[str, list[dict[str, str]]]:
    """Per rule, the `resources:` of each job in a dry-run listing."""
    jobs: dict[str, list[dict[str, str]]] = defaultdict(list)
    rule = None
    for line in output.splitlines():
        header = re.match(r"^(?:local)?(?:rule|checkpoint) (\w+):$", line)
        if header:
            rule = header.group(1)
        elif rule and line.strip().startswith("resources:"):
            pairs = line.split("resources:", 1)[1].split(", ")
            jobs[rule].append(dict(pair.strip().split("=", 1) for pair in pairs))
            rule = None
    return jobs


def write_workflow_config(workdir: Path, genome_mem_mb: int, max_length: int | None = None) -> dict:
    """The default config with a distinctive genome memory request (and shorter records), written where the
    Snakefile's `configfile: "config/config.yaml"` resolves under --directory workdir."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config.setdefault("resources", {})["genome_mem_mb"] = genome_mem_mb
    if max_length is not None:
        for cultivar in config["cultivars"].values():
            cultivar["max_length"] = max_length
    (workdir / "config").mkdir(parents=True, exist_ok=True)
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return config


def write_test_snakefile(workdir: Path, rules: dict[str, dict]) -> Path:
    """A test-only Snakefile: one rule per name with the given `threads` and `resources`; the CONTAINER_RULES run in
    a (stand-in) container image. Each job writes where it ran: partition, GPUs Slurm gave it,
    CUDA_VISIBLE_DEVICES."""
    lines = []
    for rule, declared in rules.items():
        lines += [f"rule {rule}:", f'    output: "{rule}.txt"', f'    log: "logs/{rule}.log"']
        if "threads" in declared:
            lines.append(f"    threads: {declared['threads']}")
        if declared.get("resources"):
            lines.append("    resources: " + ", ".join(f"{k}={v!r}" for k, v in declared["resources"].items()))
        if rule in CONTAINER_RULES:
            lines.append('    container: "bionemo.sif"')
        lines += [
            "    shell:",
            '        "echo partition=${{SLURM_JOB_PARTITION:-none}} gpus=${{SLURM_GPUS_ON_NODE:-0}} '
            'cuda=${{CUDA_VISIBLE_DEVICES:-none}} > {output} 2> {log}"',
            "",
        ]
    snakefile = workdir / "Snakefile"
    snakefile.write_text("\n".join(lines))
    (workdir / "bionemo.sif").write_text("stand-in image for the apptainer shim\n")
    return snakefile


def job_resources(profile: dict, declared: dict) -> dict:
    """A job's resources under a profile: default-resources, overridden by what the rule declares."""
    return {**profile.get("default-resources", {}), **declared.get("resources", {})}


def is_gpu_job(resources: dict) -> bool:
    return bool(resources.get("gpu")) or "gpu" in str(resources.get("gres", ""))


def auto_partition(profile_dir: Path, gpu_job: bool) -> str:
    """The partition slurm-partition-config must pick: the only GPU partition for GPU jobs, else the only CPU one."""
    settings = yaml.safe_load((profile_dir / "config.yaml").read_text())
    partitions = yaml.safe_load((profile_dir / settings["slurm-partition-config"]).read_text())["partitions"]
    fitting = [name for name, limits in partitions.items() if (limits.get("max_gpu", 0) > 0) == gpu_job]
    assert len(fitting) == 1, partitions
    return fitting[0]


def expected_sbatch_resource_args(resources: dict, workdir: Path, threads: int = 1, partition: str = "") -> list[str]:
    """The sbatch options the Slurm executor plugin 2.x must produce for one job's resources, from -p up to and
    including --gres/--gpus, written out from its documentation (not its code). `partition`: the expected
    automatic choice when the resources name none."""
    args = ["-p", str(resources.get("slurm_partition", partition)), "-t", str(runtime_minutes(resources["runtime"]))]
    args += ["--mem", str(resources["mem_mb"])]
    if "nodes" in resources:
        args.append(f"--nodes={resources['nodes']}")
    gpu_job = is_gpu_job(resources)
    mpi = resources.get("mpi")
    if not gpu_job and not mpi:
        args.append(f"--ntasks={resources.get('tasks', 1)}")
    if mpi:
        args.append(f"--ntasks-per-node={resources['tasks_per_node']}")
    if resources.get("cpus_per_task"):
        args.append(f"--cpus-per-task={resources['cpus_per_task']}")
    elif gpu_job and resources.get("cpus_per_gpu"):
        args.append(f"--cpus-per-gpu={resources['cpus_per_gpu']}")
    else:
        args.append(f"--cpus-per-task={threads}")
    args += ["-D", str(workdir)]
    if resources.get("gres"):
        args.append(f"--gres={resources['gres']}")
    if resources.get("gpu_model"):
        args.append(f"--gpus={resources['gpu_model']}:{resources.get('gpu', 1)}")
    elif resources.get("gpu"):
        args.append(f"--gpus={resources['gpu']}")
    return args


def read_sbatch_calls(log: Path) -> dict[str, list[list[str]]]:
    """sbatch argv lists recorded by the shim, keyed by the job comment (rule_<rule>[_wildcards_<values>])."""
    calls: dict[str, list[list[str]]] = defaultdict(list)
    for line in log.read_text().splitlines():
        argv = json.loads(line)
        calls[argv[argv.index("--comment") + 1]].append(argv)
    return calls


def split_sbatch_call(argv: list[str]) -> tuple[str, str, list[str], str]:
    """(job name, --output path, resource options from -p on, --wrap command) of one recorded call. Raises if the
    fixed head of the call is not what the plugin always sends."""
    assert argv[0] == "--parsable" and argv[1] == "--job-name" and argv[3] == "--output", argv
    assert argv[5] == "--export=ALL" and argv[6] == "--comment", argv
    assert argv[-1].startswith("--wrap="), argv
    return argv[2], argv[4], argv[8:-1], argv[-1]


def describe(result: subprocess.CompletedProcess) -> str:
    return f"exit {result.returncode}\n--- stdout\n{result.stdout[-4000:]}\n--- stderr\n{result.stderr[-6000:]}"


# --- always run: profile keys and dry runs --------------------------------------------------------------------------
@pytest.mark.parametrize("profile", ["local", "slurm-gpu", "ci-slurm"])
def test_profile_keys_are_snakemake_options(profile):
    from snakemake.cli import get_argument_parser
    from snakemake_executor_plugin_slurm.validation import get_forbidden_slurm_options

    options = {option for action in get_argument_parser()._actions for option in action.option_strings}
    settings = load_profile(profile)
    unknown = [key for key in settings if f"--{key}" not in options]
    assert not unknown, f"profiles/{profile}/config.yaml: not Snakemake options: {unknown}"

    # slurm_extra must not smuggle in options the plugin sets from resources (it rejects them at submission).
    resource_sets = [settings.get("default-resources", {}), *settings.get("set-resources", {}).values()]
    for resources in resource_sets:
        extra = str(resources.get("slurm_extra", ""))
        for pattern, name in get_forbidden_slurm_options().items():
            assert not re.search(pattern, extra), f"profiles/{profile}: slurm_extra sets {name}: {extra!r}"


def test_slurm_gpu_profile_parses_to_apptainer_with_nv(monkeypatch, tmp_path):
    from snakemake.cli import parse_args
    from snakemake.settings.types import DeploymentMethod

    monkeypatch.chdir(tmp_path)
    _, args = parse_args(["--profile", str(PROFILES / "slurm-gpu"), "-n"])
    assert args.executor == "slurm"
    assert DeploymentMethod.APPTAINER in args.software_deployment_method
    # As one string: `--apptainer-args --nv` on a command line is an argparse error (snakemake#1763).
    assert args.apptainer_args == "--nv"
    # Resolved in the profile directory.
    assert Path(args.slurm_partition_config) == PROFILES / "slurm-gpu" / "partitions.yaml"


def test_slurm_gpu_profile_leaves_job_sizes_to_the_rules():
    """The GPU rules size their jobs from the config (and build --devices/--num-nodes from the same values): the
    profile must not override gpu, nodes, cpus_per_gpu, mem_mb or runtime per rule, nor force one partition."""
    settings = load_profile("slurm-gpu")
    sizes = {"gpu", "gpu_model", "gres", "nodes", "cpus_per_gpu", "cpus_per_task", "mem_mb", "runtime", "tasks"}
    for rule, resources in settings.get("set-resources", {}).items():
        assert not sizes & set(resources), (rule, resources)
    assert "slurm_partition" not in settings["default-resources"]
    assert "cpus_per_gpu" not in settings["default-resources"]  # a GPU job without it gets --cpus-per-task=threads
    assert auto_partition(PROFILES / "slurm-gpu", gpu_job=True) != auto_partition(PROFILES / "slurm-gpu", False)


def test_ci_slurm_profile_turns_gpu_rules_into_cpu_jobs():
    set_resources = load_profile("ci-slurm")["set-resources"]
    for rule in GPU_CAPABLE_RULES:
        assert set_resources[rule]["gpu"] == 0 and not set_resources[rule]["gpu_model"], rule
        assert set_resources[rule]["slurm_partition"] == "cpu", rule


def test_slurm_gpu_dry_run_gives_genome_rules_the_profile_resources(tmp_path):
    """The workflow's genome rules planned with slurm-gpu (the genome outputs only, so rooms still being built do not
    break this test; the full DAG is dry-run in test_workflow.py)."""
    defaults = load_profile("slurm-gpu")["default-resources"]
    write_workflow_config(tmp_path, genome_mem_mb=1500)
    result = run_snakemake(
        ["--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path), "--profile",
         str(PROFILES / "slurm-gpu"), "--sdm", "env-modules",  # env-modules: -n then needs no apptainer
         "-n", "results/qc/summary.tsv"]
    )
    assert result.returncode == 0, describe(result)
    jobs = dry_run_resources(result.stdout)
    assert {"prepare_genome", "genome_qc", "qc_report"} <= set(jobs), sorted(jobs)
    for rule in ("prepare_genome", "genome_qc", "qc_report"):
        # The genome rules' own mem_mb (config resources.genome_mem_mb) wins over default-resources.
        expected_mem = 1500 if rule in GENOME_RULES_WITH_CONFIG_MEMORY else defaults["mem_mb"]
        for resources in jobs[rule]:
            assert int(resources["runtime"]) == runtime_minutes(defaults["runtime"]), (rule, resources)
            assert int(resources["mem_mb"]) == expected_mem, (rule, resources)
            assert "gpu" not in resources and "slurm_partition" not in resources, (rule, resources)


@pytest.mark.parametrize("profile", ["slurm-gpu", "ci-slurm"])
def test_dry_run_resources_of_gpu_rules(profile, tmp_path):
    settings = load_profile(profile)
    write_test_snakefile(tmp_path, TEST_RULES)
    result = run_snakemake(
        ["--directory", str(tmp_path), "--snakefile", str(tmp_path / "Snakefile"), "--profile",
         str(PROFILES / profile), "--sdm", "env-modules", "-n", *(f"{rule}.txt" for rule in TEST_RULES)]
    )
    assert result.returncode == 0, describe(result)
    jobs = dry_run_resources(result.stdout)
    assert set(jobs) == set(TEST_RULES)
    for rule, declared in TEST_RULES.items():
        (shown,) = jobs[rule]
        wanted = {**job_resources(settings, declared), **settings.get("set-resources", {}).get(rule, {})}
        for key, value in wanted.items():
            if key == "runtime":
                assert int(shown[key]) == runtime_minutes(value), (rule, shown)
            else:
                assert shown[key] == str(value), (rule, key, shown)
    if profile == "ci-slurm":  # the GPU request of the engine and BioNeMo rules neutralised
        assert jobs["train_model"][0]["gpu"] == "0" and jobs["bionemo_train"][0]["gpu"] == "0"
    else:  # the rules' own GPU requests, untouched
        assert jobs["train_model"][0]["gpu"] == "1" and jobs["bionemo_train"][0]["gpu"] == "2"


def test_local_profile_hands_out_no_gpu(tmp_path):
    settings = load_profile("local")
    assert settings["resources"] == {"gpu": 0}
    write_test_snakefile(tmp_path, {"train_model": TEST_RULES["train_model"]})
    result = run_snakemake(
        ["--directory", str(tmp_path), "--snakefile", str(tmp_path / "Snakefile"), "--profile",
         str(PROFILES / "local"), "-n", "train_model.txt"]
    )
    assert result.returncode == 0, describe(result)
    # The rule asks for a GPU; the laptop profile caps it at the 0 GPUs it declares.
    assert dry_run_resources(result.stdout)["train_model"][0]["gpu"] == "0"


# --- marked slurm: a real single-node Slurm -------------------------------------------------------------------------
def _our_slurm_is_up() -> bool:
    if not (SLURM_CONF.is_file() and SLURM_CONF.read_text().startswith(SLURM_CONF_MARKER)):
        return False
    ping = subprocess.run(
        ["scontrol", "ping"], capture_output=True, text=True, env=subprocess_environment(), check=False
    )
    return ping.returncode == 0 and "UP" in ping.stdout


@pytest.fixture(scope="session")
def slurm_cluster():
    """A running single-node Slurm from tests/slurm. Started here (and stopped at the end) when the tests run as
    root; otherwise one must already be running (`sudo tests/slurm/start-slurm.sh`)."""
    missing = [binary for binary in SLURM_BINARIES if shutil.which(binary) is None]
    if missing:
        pytest.skip(f"Slurm is not installed ({', '.join(missing)} missing): apt-get install slurm-wlm munge")
    if SLURM_CONF.exists() and not SLURM_CONF.read_text().startswith(SLURM_CONF_MARKER):
        pytest.skip(f"{SLURM_CONF} belongs to a real Slurm, not to tests/slurm: not submitting test jobs to it")
    started_here = False
    if os.geteuid() == 0:
        start = subprocess.run(
            [str(SLURM_DIR / "start-slurm.sh")], capture_output=True, text=True, timeout=180, check=False
        )
        assert start.returncode == 0, f"tests/slurm/start-slurm.sh failed:\n{start.stdout}\n{start.stderr}"
        started_here = "already running" not in start.stdout
    elif not _our_slurm_is_up():
        pytest.skip("no test Slurm running and not root: start it with `sudo tests/slurm/start-slurm.sh`")
    yield
    if started_here:
        subprocess.run([str(SLURM_DIR / "stop-slurm.sh")], capture_output=True, timeout=120, check=False)


def shimmed_environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = subprocess_environment(
        EVOCANE_SBATCH_LOG=str(tmp_path / "sbatch-calls.jsonl"),
        EVOCANE_APPTAINER_LOG=str(tmp_path / "apptainer-calls.jsonl"),
        **extra,
    )
    env["PATH"] = os.pathsep.join([str(SHIM_DIR), env["PATH"]])
    return env


# Cluster-specific settings the real test Slurm needs on top of profiles/slurm-gpu (as a user's site would add).
TEST_CLUSTER_FLAGS = [
    "--slurm-no-account",
    "--slurm-status-command", "squeue",
    "--slurm-init-seconds-before-status-checks", "2",
]


@pytest.mark.slurm
def test_ci_slurm_runs_genome_rules_through_sbatch(slurm_cluster, tmp_path):
    profile = load_profile("ci-slurm")
    defaults = profile["default-resources"]
    workdir = tmp_path / "run"
    config = write_workflow_config(workdir, genome_mem_mb=1000, max_length=100_000)
    cultivars = sorted(config["cultivars"])
    env = shimmed_environment(tmp_path)
    result = run_snakemake(
        ["--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir), "--profile",
         str(PROFILES / "ci-slurm"), "results/qc/summary.tsv"],
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, describe(result)
    summary = (workdir / "results" / "qc" / "summary.tsv").read_text()
    assert all(cultivar in summary for cultivar in cultivars)

    calls = read_sbatch_calls(tmp_path / "sbatch-calls.jsonl")
    job_names = set()
    for comment, submissions in calls.items():
        assert len(submissions) == 1, comment  # retries 0, and every job succeeded
        job_name, _, resource_args, _ = split_sbatch_call(submissions[0])
        job_names.add(job_name)
        assert resource_args[:2] == ["-p", defaults["slurm_partition"]], comment
        assert not {"-A", "--account"} & set(submissions[0]), comment  # slurm-no-account
    assert len(job_names) == 1  # one run id names every job of the run

    # The genome rules (other rules may join the DAG later; they are only checked above).
    expected_jobs = [("qc_report", "")] + [
        (rule, cultivar) for rule in GENOME_RULES_WITH_CONFIG_MEMORY for cultivar in cultivars
    ]
    for rule, wildcards in expected_jobs:
        comment = f"rule_{rule}_wildcards_{wildcards}" if wildcards else f"rule_{rule}"
        assert comment in calls, sorted(calls)
        _, output, resource_args, wrap = split_sbatch_call(calls[comment][0])
        log_dir = workdir / ".snakemake" / "slurm_logs" / f"rule_{rule}" / wildcards
        assert output == str(log_dir / "%j.log")
        resources = dict(defaults)
        if rule in GENOME_RULES_WITH_CONFIG_MEMORY:
            resources["mem_mb"] = 1000  # the rule's own request (config resources.genome_mem_mb) wins
        assert resource_args == expected_sbatch_resource_args(resources, workdir), comment
        assert f"--target-jobs '{rule}:" in wrap
        # Slurm wrote the job's log (kept by slurm-keep-successful-logs): the job really ran under slurmstepd.
        slurm_logs = list(log_dir.glob("*.log"))
        assert len(slurm_logs) == 1 and slurm_logs[0].stem.isdigit(), slurm_logs


@pytest.mark.slurm
def test_slurm_gpu_profile_sbatch_arguments(slurm_cluster, tmp_path):
    """The unchanged slurm-gpu profile: sbatch arguments for GPU jobs (engine rule, one-node and four-node BioNeMo
    training), CPU work in the container and a CPU rule, captured without submitting (the test node has neither
    these GPUs nor this memory)."""
    profile = load_profile("slurm-gpu")
    write_test_snakefile(tmp_path, TEST_RULES)
    env = shimmed_environment(tmp_path, EVOCANE_SBATCH_CAPTURE_ONLY="1")
    result = run_snakemake(
        ["--directory", str(tmp_path), "--snakefile", str(tmp_path / "Snakefile"), "--profile",
         str(PROFILES / "slurm-gpu"), *TEST_CLUSTER_FLAGS, *(f"{rule}.txt" for rule in TEST_RULES)],
        env=env,
        timeout=180,
    )
    assert result.returncode != 0, "the capture-only shim submits nothing, so the run must fail"
    calls = read_sbatch_calls(tmp_path / "sbatch-calls.jsonl")
    assert set(calls) == {f"rule_{rule}" for rule in TEST_RULES}, describe(result)
    sbatch = {}
    for rule, declared in TEST_RULES.items():
        resources = job_resources(profile, declared)
        partition = auto_partition(PROFILES / "slurm-gpu", is_gpu_job(resources))
        expected = expected_sbatch_resource_args(resources, tmp_path, declared.get("threads", 1), partition)
        for argv in calls[f"rule_{rule}"]:  # one per attempt (retries: 1)
            sbatch[rule] = split_sbatch_call(argv)[2]
            assert sbatch[rule] == expected, rule
    # Spelled out for each kind of job:
    assert sbatch["train_model"] == [
        "-p", "gpu", "-t", "120", "--mem", "16000", "--nodes=1", "--cpus-per-task=4", "-D", str(tmp_path), "--gpus=1"
    ]
    assert sbatch["bionemo_train"] == [
        "-p", "gpu", "-t", "720", "--mem", "64000", "--nodes=1", "--cpus-per-gpu=8", "-D", str(tmp_path),
        "--gpus=h100:2",
    ]
    assert sbatch["bionemo_train_4_nodes"] == [
        "-p", "gpu", "-t", "1440", "--mem", "256000", "--nodes=4", "--ntasks-per-node=8", "--cpus-per-gpu=8",
        "-D", str(tmp_path), "--gres=gpu:8",
    ]
    assert sbatch["bionemo_preprocess"][:2] == ["-p", "cpu"] and "--cpus-per-task=8" in sbatch["bionemo_preprocess"]
    assert sbatch["cpu_step"] == [
        "-p", "cpu", "-t", "60", "--mem", "4000", "--nodes=1", "--ntasks=1", "--cpus-per-task=2", "-D", str(tmp_path)
    ]


@pytest.mark.slurm
def test_slurm_gpu_profile_runs_gpu_and_container_rules_on_slurm(slurm_cluster, tmp_path):
    """The unchanged slurm-gpu profile, run for real on rules sized for the test node: Slurm puts the GPU jobs on the
    gpu partition with the node's (fake) GPU, and the container rule runs through apptainer --nv."""
    node = subprocess.run(["scontrol", "show", "node"], capture_output=True, text=True, env=subprocess_environment())
    if "gpu:1" not in node.stdout:
        pytest.skip("the test Slurm announces no GPU (started with EVOCANE_SLURM_FAKE_GPU=0)")
    profile = load_profile("slurm-gpu")
    small = {"mem_mb": 200, "runtime": 5}
    # A container rule sized like the BioNeMo rules and an engine rule; the one fake GPU runs them one by one.
    rules = {
        "bionemo_infer": {"resources": {"gpu": 1, "nodes": 1, "cpus_per_gpu": 1, **small}},
        "train_model": {"threads": 1, "resources": {"gpu": 1, **small}},
    }
    write_test_snakefile(tmp_path, rules)
    result = run_snakemake(
        ["--directory", str(tmp_path), "--snakefile", str(tmp_path / "Snakefile"), "--profile",
         str(PROFILES / "slurm-gpu"), *TEST_CLUSTER_FLAGS, "--slurm-keep-successful-logs",
         *(f"{rule}.txt" for rule in rules)],
        env=shimmed_environment(tmp_path),
        timeout=180,
    )
    assert result.returncode == 0, describe(result)

    calls = read_sbatch_calls(tmp_path / "sbatch-calls.jsonl")
    for rule, declared in rules.items():
        (argv,) = calls[f"rule_{rule}"]
        resource_args = split_sbatch_call(argv)[2]
        expected = expected_sbatch_resource_args(job_resources(profile, declared), tmp_path, 1, partition="gpu")
        assert resource_args == expected, rule
        assert "--gpus=1" in resource_args and "--nodes=1" in resource_args
        # What the job saw: the gpu partition and one GPU from Slurm's allocation.
        ran = (tmp_path / f"{rule}.txt").read_text().split()
        assert "partition=gpu" in ran and "gpus=1" in ran and "cuda=none" not in ran, ran

    apptainer_calls = [json.loads(line) for line in (tmp_path / "apptainer-calls.jsonl").read_text().splitlines()]
    container_runs = [argv for argv in apptainer_calls if argv[0] == "exec"]
    assert len(container_runs) == 1, apptainer_calls  # bionemo_infer only; train_model has no container
    assert "--nv" in container_runs[0] and "bionemo.sif" in container_runs[0]
    assert "bionemo_infer.txt" in container_runs[0][-1]
