"""Fake BioNeMo Evo 2 console scripts (tests/data/bionemo/bin/*): no GPU, no container, no weights.

Each accepts exactly the option names its v2.7.1 namesake declares (cli_flags_v2.7.1.json) and rejects others
with exit status 2 as argparse does, then writes outputs in the real layout:

- evo2_convert_to_nemo2: a NeMo2 directory (context/, weights/);
- preprocess_evo2: {output_dir}/{output_prefix}_byte-level_{train,val,test}.{bin,idx} for every config entry;
- train_evo2: {result-dir}/{experiment-name}/checkpoints/epoch=0-step={max_steps - 1}-consumed_samples=...-last
  (resuming: refuses to start when --ckpt-dir does not exist and no checkpoint is there);
- predict_evo2: seq_idx_map.json + predictions__rank_0__dp_rank_0.pt via fakes.write_predict_output;
- infer_evo2: the InferenceRequest repr with a seeded ACGT continuation.

Every call is appended to $FAKE_BIONEMO_LOG (JSON lines) when set.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

FLAGS = json.loads((HERE / "cli_flags_v2.7.1.json").read_text())["versions"]["v2.7.1"]["clis"]


def parse(cli: str, argv: list[str]) -> dict[str, object]:
    known = set(FLAGS[cli]["flags"])
    values: dict[str, object] = {}
    i = 0
    while i < len(argv):
        flag = argv[i]
        if not flag.startswith("-") or flag not in known:
            print(f"{cli}: error: unrecognized arguments: {flag}", file=sys.stderr)
            sys.exit(2)
        if i + 1 < len(argv) and not argv[i + 1].startswith("-"):
            values[flag] = argv[i + 1]
            i += 2
        else:
            values[flag] = True
            i += 1
    return values


def read_fasta(path: str) -> list[tuple[str, str]]:
    records: list[tuple[str, list[str]]] = []
    for line in Path(path).read_text().splitlines():
        if line.startswith(">"):
            records.append((line[1:].split()[0], []))
        elif line.strip():
            records[-1][1].append(line.strip())
    return [(name, "".join(parts)) for name, parts in records]


def nemo2_dir(path: Path) -> None:
    (path / "context").mkdir(parents=True, exist_ok=True)
    (path / "weights").mkdir(parents=True, exist_ok=True)
    (path / "context" / "model.yaml").write_text("fake: true\n")
    (path / "weights" / "metadata.json").write_text("{}\n")


def main(cli: str, argv: list[str]) -> int:
    args = parse(cli, argv)
    if os.environ.get("FAKE_BIONEMO_LOG"):
        with open(os.environ["FAKE_BIONEMO_LOG"], "a") as handle:
            handle.write(json.dumps({"cli": cli, "argv": argv, "cwd": os.getcwd()}) + "\n")
    if cli == "evo2_convert_to_nemo2":
        nemo2_dir(Path(str(args["--output-dir"])))
    elif cli == "preprocess_evo2":
        import yaml

        for entry in yaml.safe_load(Path(str(args.get("--config") or args["-c"])).read_text()):
            for path in entry["datapaths"]:
                assert Path(path).exists(), path
            out = Path(entry.get("output_dir") or ".")
            out.mkdir(parents=True, exist_ok=True)
            for split in ("train", "val", "test"):
                for suffix in ("bin", "idx"):
                    (out / f"{entry['output_prefix']}_byte-level_{split}.{suffix}").write_bytes(b"fake")
    elif cli == "train_evo2":
        import yaml

        for entry in yaml.safe_load(Path(str(args["--dataset-config"])).read_text()):
            prefix = Path(entry["dataset_prefix"])
            if not prefix.is_absolute() and args.get("--dataset-dir"):
                prefix = Path(str(args["--dataset-dir"])) / prefix  # as Evo2BlendedDatasetConfig resolves it
            assert list(prefix.parent.glob(prefix.name + ".*")), f"dataset_prefix {prefix} has no files"
        checkpoints = Path(str(args["--result-dir"])) / str(args["--experiment-name"]) / "checkpoints"
        if not (checkpoints.is_dir() and any(checkpoints.iterdir())) and not Path(str(args["--ckpt-dir"])).is_dir():
            print(f"train_evo2: --ckpt-dir {args['--ckpt-dir']} not found", file=sys.stderr)
            return 1
        steps = int(str(args["--max-steps"]))
        nemo2_dir(checkpoints / f"epoch=0-step={steps - 1}-consumed_samples={steps * 8}.0-last")
    elif cli == "predict_evo2":
        from fakes import write_predict_output

        mode = "log_probs" if args.get("--output-log-prob-seqs") else "logits"
        if not Path(str(args["--ckpt-dir"])).is_dir():
            print(f"predict_evo2: --ckpt-dir {args['--ckpt-dir']} not found", file=sys.stderr)
            return 1
        write_predict_output(Path(str(args["--output-dir"])), read_fasta(str(args["--fasta"])), mode=mode, prepend_bos=bool(args.get("--prepend-bos")))
    elif cli == "infer_evo2":
        from fakes import fake_generation, inference_request_text

        prompt, seed = str(args["--prompt"]), int(str(args["--seed"]))
        generated = fake_generation(prompt, int(str(args["--max-new-tokens"])), seed)
        Path(str(args["--output-file"])).write_text(inference_request_text(prompt, generated, seed))
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[0]).name, sys.argv[1:]))
