"""The BioNeMo GPU steps (rules bionemo_convert, bionemo_train, bionemo_predict, bionemo_infer), run inside the
BioNeMo container, which has the Evo 2 CLIs and numpy but not evocane's other dependencies (hence a script, not
the `evocane` command). Also runnable by hand inside the container, from the repository directory:

    python scripts/bionemo_run.py convert --spec '{"name": ..., "source": "hf://...", "model_size": "1b"}' --out DIR
    python scripts/bionemo_run.py train --run-dir R --checkpoints-dir R/<model>/checkpoints --manifest R/run.json \\
        -- train_evo2 ...            (evocane bionemo-commands prints the full line)
    python scripts/bionemo_run.py predict --checkpoint results/models/<m>/<v>/checkpoint --fasta F --out DIR
    python scripts/bionemo_run.py infer --checkpoint CK --prompts P --out DIR --sampling '{"n_tokens": 500, ...}'
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

import evocane_path  # noqa: F401

from evocane.engines.base import SamplingConfig
from evocane.engines.bionemo import runner
from evocane.engines.bionemo.settings import CheckpointSpec
from evocane.errors import EvocaneError


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bionemo_run.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="step", required=True)
    convert = sub.add_parser("convert", help="evo2_convert_to_nemo2 into a directory that appears whole")
    convert.add_argument("--spec", required=True, help="the base checkpoint's config entry as JSON")
    convert.add_argument("--out", required=True)
    train = sub.add_parser("train", help="train_evo2 in a resume-safe run directory; records the last checkpoint")
    train.add_argument("--run-dir", required=True)
    train.add_argument("--checkpoints-dir", required=True)
    train.add_argument("--manifest", required=True)
    train.add_argument("--extra", default="{}", help="JSON fields added to the manifest")
    train.add_argument("command", nargs=argparse.REMAINDER, help="-- then the (launched) train_evo2 command")
    predict = sub.add_parser("predict", help="predict_evo2 with a registered checkpoint")
    predict.add_argument("--checkpoint", required=True)
    predict.add_argument("--fasta", required=True)
    predict.add_argument("--out", required=True)
    infer = sub.add_parser("infer", help="one infer_evo2 call per prompt and sample")
    infer.add_argument("--checkpoint", required=True)
    infer.add_argument("--prompts", required=True)
    infer.add_argument("--out", required=True)
    infer.add_argument("--sampling", required=True, help="evaluation.generation.sampling as JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if args.step == "convert":
            runner.convert(CheckpointSpec(**json.loads(args.spec)), args.out)
        elif args.step == "train":
            command = args.command[1:] if args.command[:1] == ["--"] else args.command
            if not command:
                parser.error("train: give the command after --")
            runner.train(args.run_dir, args.checkpoints_dir, command, args.manifest, json.loads(args.extra))
        elif args.step == "predict":
            runner.predict(args.checkpoint, args.fasta, args.out)
        else:
            runner.infer(args.checkpoint, args.prompts, args.out, SamplingConfig(**json.loads(args.sampling)))
    except EvocaneError as error:
        print(f"evocane: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
