"""The dataset card of a variant: one self-contained HTML page for the report.

Sources (with sha256 checksums of the prepared genome files), parameters, split assignment of every record,
counts of windows and bases per split, cultivar, region and sampling source, the leakage summary and every
warning raised on the way. Everything comes from the variant's files, so the card is reproducible byte for byte.
"""

from __future__ import annotations

import hashlib
import html
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from evocane.dataset.arrays import REGION_BITS, SPLITS

STYLE = """
body { font-family: system-ui, sans-serif; font-size: 13px; margin: 1.2em; color: #222; }
h1 { font-size: 20px; } h2 { font-size: 16px; margin-top: 1.4em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.4em 0 1em 0; } td, th { border: 1px solid #ddd; padding: 2px 8px; }
th { background: #f3f3f3; text-align: left; } td { text-align: right; } td.text { text-align: left; }
pre { background: #f7f7f7; padding: 0.6em; overflow-x: auto; } .warn { color: #a33; }
"""


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def _table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, border=0, na_rep="", float_format=lambda v: f"{v:.4g}", escape=True)


def counts_by(windows: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    bases = windows["length"] - windows["prefix_length"]
    table = windows.assign(bases=bases).groupby(keys, sort=False).agg(windows=("window_id", "size"), bases=("bases", "sum")).reset_index()
    return table


def region_counts(windows: pd.DataFrame) -> pd.DataFrame:
    """Bases carrying each region bit per split; genic regions over annotated windows only."""
    rows = []
    for split in SPLITS:
        part = windows[windows["split"] == split]
        window_bases = part["length"] - part["prefix_length"]
        annotated = part["annotated"].astype(bool)
        row: dict[str, Any] = {"split": split, "bases": int(window_bases.sum()), "annotated bases": int(window_bases[annotated].sum())}
        for region in REGION_BITS:
            mask = annotated if region not in ("repeat", "ambiguous") else slice(None)
            row[region] = int(round((part[f"{region}_fraction"] * window_bases)[mask].sum()))
        rows.append(row)
    return pd.DataFrame(rows)


def render_card(
    spec: Mapping[str, Any],
    windows: pd.DataFrame,
    manifest: Mapping[str, Any],
    split_manifest: Mapping[str, Any],
    audit: pd.DataFrame,
    sources: Mapping[str, Mapping[str, Any]],
    regions: Mapping[str, Mapping[str, Any]],
) -> str:
    """``sources``: per cultivar {"config": [configured sources], "files": {name: (path, sha256, bytes)}};
    ``regions``: per cultivar region summary (regions.summary.json)."""
    name = spec["name"]
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Dataset card: {html.escape(name)}</title>",
             f"<style>{STYLE}</style></head><body>", f"<h1>Dataset card: {html.escape(name)}</h1>"]  # fmt: skip
    parts.append(f"<p>{html.escape(spec.get('description') or '')}</p>")
    parts.append(
        "<p>"
        f"Split strategy: <b>{html.escape(spec['split']['strategy'])}</b>; cultivars: {html.escape(', '.join(spec['cultivars']))}; "
        f"windows of {spec['windows']['length']} bases, stride {spec['windows']['stride']}; sampling: {spec['sampling']['mode']}; "
        f"soft-mask policy: {spec['windows']['softmask']}; reverse complement: {spec['windows']['reverse_complement']}; "
        f"lineage tag: {'yes' if spec['windows']['lineage_tag'] else 'no'}; seed {spec['seed']}; "
        f"tags: {html.escape(', '.join(spec.get('tags') or []) or 'none')}.</p>"
    )

    parts.append("<h2>Windows and bases per split</h2>")
    per_split = counts_by(windows, ["split"])
    per_split["tokens"] = [int(windows.loc[windows["split"] == s, "length"].sum()) for s in per_split["split"]]
    per_split["removed for leakage"] = [manifest["splits"][s]["removed_for_leakage"] for s in per_split["split"]]
    parts.append(_table(per_split))
    dropped = manifest.get("dropped_windows", {})
    parts.append(f"<p>Windows dropped before the split counts: {dropped.get('n_fraction', 0)} above the N fraction "
                 f"{spec['windows']['max_n_fraction']}, {dropped.get('repeat_fraction', 0)} above the repeat fraction"
                 f"{' ' + str(spec['windows']['max_repeat_fraction']) if spec['windows']['softmask'] == 'drop' else ' (not filtered)'}.</p>")  # fmt: skip
    parts.append("<h2>Per split and cultivar</h2>" + _table(counts_by(windows, ["split", "cultivar"])))
    parts.append("<h2>Per split and sampling source</h2>" + _table(counts_by(windows, ["split", "source"])))
    parts.append("<h2>Bases per region</h2><p>Bases carrying each region bit (a base may carry several). CDS, UTR, "
                 "intron, promoter and intergenic are counted over windows of annotated records only; repeat "
                 "(soft-masked) and ambiguous (N/IUPAC) over all windows.</p>" + _table(region_counts(windows)))  # fmt: skip
    parts.append("<h2>Annotated and unannotated windows</h2>" + _table(counts_by(windows.assign(annotated=windows["annotated"].map({True: "annotated", False: "unannotated"})), ["split", "annotated"])))

    parts.append("<h2>Leakage audit</h2>")
    leakage = spec["leakage"]
    if leakage["enabled"]:
        parts.append(
            f"<p>Containment of each validation/test window's canonical {leakage['ksize']}-mers in the training windows "
            f"(sourmash FracMinHash, scaled {leakage['scaled']}: about {spec['windows']['length'] // leakage['scaled']} "
            f"sketched k-mers per window). Removal threshold: {leakage['remove_above'] if leakage['remove_above'] is not None else 'none'}.</p>"
        )
        parts.append(_table(audit))
    else:
        parts.append("<p>Disabled for this variant.</p>")

    parts.append("<h2>Split assignment of records</h2>")
    records = pd.DataFrame(split_manifest["records"])
    if len(records):
        records["homology_groups"] = records["homology_groups"].map(lambda g: "+".join(g))
        records["segments"] = records["segments"].map(lambda segs: "; ".join(f"{s}-{e} {n}" for s, e, n in segs))
        records["split"] = records["split"].fillna("dropped")
        parts.append(_table(records[["cultivar", "record", "length", "homology_groups", "split", "reason", "segments"]]))
    block = split_manifest.get("validation_block")
    if block:
        columns = ["record", "placement", "start", "end", "aligned_to", "shared_kmers"]
        rows = [{column: ({"record": key, **value}).get(column) for column in columns} for key, value in block["records"].items()]
        parts.append(
            f"<p>Validation block: {block['fraction']:g} of each training record, the first record of each homology "
            f"group at relative position {block['center']:g}; placement of the others: {block['align']}; "
            f"buffer {block['buffer']:g} of the record length on each side used by no split.</p>" + _table(pd.DataFrame(rows))
        )

    parts.append("<h2>Sources</h2>")
    for cultivar, info in sources.items():
        parts.append(f"<h3>{html.escape(cultivar)}</h3>")
        files = pd.DataFrame([{"file": key, "path": path, "bytes": size, "sha256": digest} for key, (path, digest, size) in info["files"].items()])
        parts.append(_table(files))
        parts.append("<p>Configured sources:</p><pre>" + html.escape(yaml.safe_dump(info["config"], sort_keys=False)) + "</pre>")
    parts.append("<h2>Region labels</h2>")
    region_rows = []
    for cultivar, summary in regions.items():
        region_rows.append({
            "cultivar": cultivar, "annotated records": ", ".join(summary["annotated_records"]) or "none",
            "coding transcripts": summary["coding_transcripts"], "non-coding transcripts": summary["noncoding_transcripts"],
            "gene-parented exon groups ignored": summary["gene_parented_exon_groups_ignored"],
            "promoter length": summary["promoter_length"],
            **{f"{region} bases": value for region, value in summary["region_bases"].items()},
        })  # fmt: skip
    parts.append("<p>Records without annotation carry only the repeat and ambiguous bits (column <code>annotated</code> "
                 "of windows.parquet); see docs/ARCHITECTURE.md for the labelling rules.</p>" + _table(pd.DataFrame(region_rows)))  # fmt: skip

    warnings = list(split_manifest.get("warnings", [])) + list(manifest.get("warnings", []))
    for cultivar, summary in regions.items():
        warnings += [f"{cultivar} GFF3: {kind}: {count}" for kind, count in summary.get("warnings", {}).items()]
    parts.append("<h2>Warnings</h2>")
    parts.append("<ul>" + "".join(f"<li class='warn'>{html.escape(w)}</li>" for w in warnings) + "</ul>" if warnings else "<p>None.</p>")
    parts.append("<h2>Parameters</h2><pre>" + html.escape(yaml.safe_dump(json.loads(json.dumps(dict(spec))), sort_keys=True)) + "</pre>")
    parts.append("</body></html>\n")
    return "\n".join(parts)
