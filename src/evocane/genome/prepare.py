"""Build a cultivar's genome from its configured sources.

Streams each source FASTA once (one record in memory at a time), selects and renames records, optionally keeps
only the first ``max_length`` bases of each (demo slices), and writes:

- ``genome.fa.gz`` (BGZF) with ``.fai`` and ``.gzi`` indexes, readable by pyfaidx and samtools;
- ``annotation.gff3.gz`` (BGZF): every source GFF3 with seqids renamed, validated against its FASTA;
- ``records.tsv``: one row per record with its source and its homology-group assignment.

All outputs appear together or not at all.
"""

from __future__ import annotations

import csv
import logging
import re
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pysam
from Bio import bgzf
from tqdm import tqdm

from evocane.atomic import atomic_paths
from evocane.errors import EvocaneError
from evocane.genome import homology
from evocane.genome.fasta import _lines, open_maybe_gzip, read_fasta

log = logging.getLogger(__name__)
LINE_WIDTH = 60
CHILD_TYPES = ("exon", "CDS", "five_prime_UTR", "three_prime_UTR")  # the features region labels group by Parent
RECORD_COLUMNS = [
    "record",
    "length",
    "source_file",
    "source_record",
    "annotated",
    "kind",
    "homology_group",
    "homology_group2",
    "haplotype",
    "origin",
    "keep",
]


@dataclass
class SourceFiles:
    """One configured source after acquisition: local paths plus its record selection."""

    fasta: Path
    gff3: Path | None
    records: Mapping[str, str] | Sequence[str] | None  # None = every record under its own name
    # NCBI-style headers ("... chromosome 1A, whole genome shotgun sequence"): (regex on the description, template)
    rename_from_description: tuple[str, str] | None = None


def _rename_map(records: Mapping[str, str] | Sequence[str] | None) -> dict[str, str] | None:
    if records is None:
        return None
    if isinstance(records, Mapping):
        return {str(k): str(v) for k, v in records.items()}
    return {str(name): str(name) for name in records}


def _write_fasta_record(handle: Any, name: str, description: str, sequence: bytes) -> None:
    header = f">{name} {description}".rstrip() + "\n"
    handle.write(header.encode())
    for start in range(0, len(sequence), LINE_WIDTH):
        handle.write(sequence[start : start + LINE_WIDTH] + b"\n")


def _parse_attributes(column: str) -> dict[str, str]:
    attributes = {}
    for field in column.strip().strip(";").split(";"):
        if "=" in field:
            key, _, value = field.partition("=")
            attributes[key.strip()] = value
    return attributes


def _name_from_description(source: SourceFiles, name: str, description: str, key: str) -> str | None:
    """The record name ``rename_from_description`` derives from a FASTA description (None: the pattern does not
    match). A pattern that is no regular expression, or a template that does not fit the pattern's groups, is one
    error naming the config key and the record's description."""
    assert source.rename_from_description is not None
    pattern, template = source.rename_from_description
    try:
        match = re.search(pattern, description)
    except re.error as error:
        raise EvocaneError(f"config key '{key}.rename_from_description.pattern': {pattern!r} is not a regular expression ({error})") from None
    if not match:
        return None
    try:
        new_name = template.format(*match.groups())
    except (IndexError, KeyError, ValueError) as error:
        raise EvocaneError(
            f"config key '{key}.rename_from_description.template': {template!r} does not fit the {len(match.groups())} "
            f"group(s) of pattern {pattern!r} ({type(error).__name__}: {error}) for record '{name}' of {source.fasta} "
            f"(description: '{description}')"
        ) from None
    if not new_name or re.search(r"[\s/:]", new_name):
        raise EvocaneError(
            f"config key '{key}.rename_from_description': record '{name}' of {source.fasta} would be named {new_name!r} "
            f"(empty, or with whitespace, '/' or ':'; description: '{description}')"
        )
    return new_name


def _starts_with_bom(path: Path) -> bool:
    """Whether a (plain or gzip) input begins with a UTF-8 byte-order mark. Unreadable compressed data is left to
    the readers, whose errors name it."""
    try:
        with open_maybe_gzip(path) as handle:
            return handle.read(3) == b"\xef\xbb\xbf"
    except (OSError, EOFError, zlib.error):
        return False


# GTF's attribute column: `gene_id "AT1G01010"; transcript_id "";` (key, space, value) instead of GFF3's key=value
_GTF_ATTRIBUTE = re.compile(r"\s*[A-Za-z_][\w.]*\s+\S")


def _is_gtf_attributes(column: str) -> bool:
    first = column.strip().split(";", 1)[0]
    return "=" not in first and bool(_GTF_ATTRIBUTE.match(first))


def _filter_gff(
    gff: Path,
    out: Any,
    rename: dict[str, str] | None,
    source_lengths: Mapping[str, int],
    kept_lengths: Mapping[str, int],
) -> int:
    """Copy one GFF3 into ``out``: seqids renamed, features on unselected records or beyond a slice dropped.

    Raises for a seqid absent from the source FASTA, a malformed line, GTF attributes (a GTF given as GFF3), an
    exon/CDS/UTR line without Parent, or a feature outside its record.
    Returns the number of features written.
    """
    dropped_ids: set[str] = set()
    written = 0
    for number, raw in _lines(gff):
        line = raw.decode("utf-8", errors="replace")
        if not line.strip():
            continue
        if line.startswith("##FASTA"):
            break
        if line.startswith("##sequence-region"):
            parts = line.split()
            if len(parts) == 4 and parts[1] in source_lengths:
                new = rename.get(parts[1]) if rename is not None else parts[1]
                if new is not None and new in kept_lengths:
                    out.write(f"##sequence-region {new} 1 {kept_lengths[new]}\n".encode())
            continue
        if line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != 9:
            raise EvocaneError(f"{gff}: line {number}: a GFF3 feature needs 9 tab-separated columns, found {len(fields)}")
        if _is_gtf_attributes(fields[8]):
            raise EvocaneError(
                f"{gff}: line {number}: GTF attributes ({fields[8].strip()[:40]}...), not GFF3 key=value pairs: this is a "
                "GTF file given as gff3; convert it to GFF3 first (e.g. `gffread -E in.gtf -o out.gff3`, or AGAT's "
                "agat_convert_sp_gxf2gxf.pl)"
            )
        seqid = unquote(fields[0])
        if seqid not in source_lengths:
            raise EvocaneError(f"{gff}: line {number}: seqid '{seqid}' is not a record of its FASTA")
        try:
            start, end = int(fields[3]), int(fields[4])
        except ValueError:
            raise EvocaneError(f"{gff}: line {number}: start/end are not integers") from None
        if start < 1 or end < start or end > source_lengths[seqid]:
            raise EvocaneError(
                f"{gff}: line {number}: feature {start}-{end} lies outside record '{seqid}' "
                f"(length {source_lengths[seqid]})"
            )
        attributes = _parse_attributes(fields[8])
        if fields[2] in CHILD_TYPES and "Parent" not in attributes:
            raise EvocaneError(
                f"{gff}: line {number}: {fields[2]} without a Parent attribute (every {', '.join(CHILD_TYPES)} line "
                "must name its transcript: region labels depend on it)"
            )
        feature_id = attributes.get("ID")
        parents = attributes.get("Parent", "").split(",") if "Parent" in attributes else []
        new = rename.get(seqid) if rename is not None else seqid
        drop = (
            new is None
            or new not in kept_lengths
            or end > kept_lengths[new]
            or any(parent in dropped_ids for parent in parents)
        )
        if drop:
            if feature_id:
                dropped_ids.add(feature_id)
            continue
        fields[0] = new
        out.write(("\t".join(fields) + "\n").encode())
        written += 1
    return written


def prepare_genome(
    cultivar: str,
    sources: Sequence[SourceFiles],
    homology_config: Mapping[str, Any],
    out_dir: str | Path,
    max_length: int | None = None,
) -> dict[str, int]:
    """Build genome.fa.gz (+.fai/.gzi), annotation.gff3.gz and records.tsv in ``out_dir``."""
    for index, source in enumerate(sources):
        for kind, path in (("fasta", source.fasta), ("gff3", source.gff3)):
            if path is None:
                continue
            if not Path(path).exists():
                raise EvocaneError(f"{path}: input file not found")
            if Path(path).is_dir():
                raise EvocaneError(f"{path}: is a directory, not a {kind.upper()} file (cultivars.{cultivar}.sources.{index}.{kind})")
            if _starts_with_bom(Path(path)):
                raise EvocaneError(
                    f"{path}: starts with a UTF-8 byte-order mark (a text editor's, not {kind.upper()} content): remove it, "
                    "e.g. sed -i '1s/^\\xEF\\xBB\\xBF//' FILE"
                )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fasta_out = out_dir / "genome.fa.gz"
    finals = [fasta_out, Path(f"{fasta_out}.fai"), Path(f"{fasta_out}.gzi"), out_dir / "annotation.gff3.gz", out_dir / "records.tsv"]
    rows: list[dict[str, Any]] = []
    with atomic_paths(*finals) as temps:
        temp_fasta, temp_fai, temp_gzi, temp_gff, temp_records = temps
        kept_names: set[str] = set()
        per_source_lengths: list[tuple[dict[str, int], dict[str, int]]] = []
        with bgzf.BgzfWriter(str(temp_fasta), "wb") as fasta_handle:
            for source_index, source in enumerate(sources):
                rename = _rename_map(source.records)
                wanted = set(rename) if rename is not None else None
                source_lengths: dict[str, int] = {}
                kept_lengths: dict[str, int] = {}
                progress = tqdm(read_fasta(source.fasta), desc=f"{cultivar}: {source.fasta.name}", unit=" records")
                for record in progress:
                    source_lengths[record.name] = len(record.sequence)
                    if wanted is not None and record.name not in wanted:
                        continue
                    new_name = rename[record.name] if rename is not None else record.name
                    if source.rename_from_description is not None:
                        new_name = _name_from_description(source, record.name, record.description, f"cultivars.{cultivar}.sources.{source_index}") or new_name
                    if new_name in kept_names:
                        raise EvocaneError(
                            f"cultivar '{cultivar}': record name '{new_name}' occurs twice (second time in {source.fasta})"
                        )
                    kept_names.add(new_name)
                    sequence = record.sequence[:max_length] if max_length else record.sequence
                    _write_fasta_record(fasta_handle, new_name, record.description, sequence)
                    kept_lengths[new_name] = len(sequence)
                    rows.append(
                        {
                            "record": new_name,
                            "length": len(sequence),
                            "source_file": source.fasta.name,
                            "source_record": record.name,
                            "annotated": source.gff3 is not None,
                        }
                    )
                if wanted is not None:
                    missing = sorted(wanted - set(source_lengths))
                    if missing:
                        raise EvocaneError(
                            f"{source.fasta}: record(s) {', '.join(missing)} listed in "
                            f"cultivars.{cultivar}.sources.{source_index}.records are not in this FASTA"
                        )
                per_source_lengths.append((source_lengths, kept_lengths))
        if not rows:
            raise EvocaneError(f"cultivar '{cultivar}': no records selected from its sources")
        pysam.faidx(str(temp_fasta))
        for suffix, temp in ((".fai", temp_fai), (".gzi", temp_gzi)):
            Path(f"{temp_fasta}{suffix}").replace(temp)
        # the index must name the final file's records; .fai content is path-independent

        features = 0
        with bgzf.BgzfWriter(str(temp_gff), "wb") as gff_handle:
            gff_handle.write(b"##gff-version 3\n")
            for source, (source_lengths, kept_lengths) in zip(sources, per_source_lengths):
                if source.gff3 is not None:
                    features += _filter_gff(source.gff3, gff_handle, _rename_map(source.records), source_lengths, kept_lengths)

        assignments = homology.assign_all(
            [row["record"] for row in rows],
            pattern=homology_config.get("pattern", homology.DEFAULT_PATTERN),
            organelle_pattern=homology_config.get("organelle_pattern", homology.DEFAULT_ORGANELLE_PATTERN),
            unplaced_policy=homology_config.get("unplaced", "drop"),
            organelle_policy=homology_config.get("organelle", "drop"),
            cultivar=cultivar,
        )
        for row, assignment in zip(rows, assignments):
            row.update(
                kind=assignment.kind,
                homology_group=assignment.group,
                homology_group2=assignment.group2,
                haplotype=assignment.haplotype,
                origin=assignment.origin,
                keep=assignment.keep,
            )
        with open(temp_records, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=RECORD_COLUMNS, delimiter="\t", lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
    log.info("%s: %d records, %d annotation features", cultivar, len(rows), features)
    return {"records": len(rows), "features": features, "bases": sum(r["length"] for r in rows)}


def read_records(path: str | Path) -> list[dict[str, str]]:
    with open(path) as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_basename(url: str) -> str:
    name = Path(unquote(url.split("?")[0])).name or "download"
    return _SAFE.sub("_", name)
