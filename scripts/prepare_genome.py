"""Rule prepare_genome: build one cultivar's indexed genome, annotation and records table."""

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import evocane_path  # noqa: F401

from evocane.errors import EvocaneError
from evocane.genome.prepare import prepare_genome
from evocane.genome.sources import source_files

if TYPE_CHECKING:
    from snakemake.script import snakemake

sys.stderr = open(snakemake.log[0], "w", buffering=1)
logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
cultivar = snakemake.wildcards.cultivar
spec = snakemake.params.spec
try:
    prepare_genome(
        cultivar,
        source_files(spec, cultivar),
        spec["homology"],
        Path(snakemake.output.fasta).parent,
        spec.get("max_length"),
    )
except EvocaneError as error:
    print(f"evocane: error: {error}", file=sys.stderr)
    sys.exit(2)
