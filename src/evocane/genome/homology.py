"""Homology-group (HG) parsing of chromosome names.

One configurable regular expression with named groups parses every known sugarcane seqid scheme
(R570 ``Chr7_10A``, LA Purple ``Chr01A``, ZZ1 ``YZ-So-Chr07C``, PanSN ``R570#Chr3G`` ...). A record the pattern does
not match is *unplaced* (scaffolds, contigs) or an *organelle* and goes to a configurable bucket.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from evocane.errors import EvocaneError

DEFAULT_PATTERN = (
    r"^(?:(?P<asm>[A-Za-z0-9.]+)[_#](?=(?:[A-Za-z]+-)?[Cc]hr))?(?:(?P<tag>[A-Za-z0-9]+)-(?P<origin>S[a-z])-)?"
    r"(?:[Cc]hr)?0*(?P<hg>[1-9]\d?)(?:_0*(?P<hg2>[1-9]\d?))?(?P<hap>[A-Za-z])$"
)
DEFAULT_ORGANELLE_PATTERN = r"(?i)^(?:chr)?(?:c|m|mt|pt|cp|chloroplast|mitochondrion|mitochondria|plastid)$"

UNPLACED = "unplaced"
ORGANELLE = "organelle"


@dataclass(frozen=True)
class HomologyAssignment:
    record: str
    kind: str  # "placed", "unplaced" or "organelle"
    group: str  # HG label used by splits: "1".."99", or the bucket name
    group2: str  # second HG of a recombinant chromosome, else ""
    haplotype: str
    origin: str
    keep: bool  # False when the record's bucket is dropped

    @property
    def groups(self) -> tuple[str, ...]:
        """Every HG this record belongs to for leakage purposes (two for a recombinant chromosome)."""
        return (self.group, self.group2) if self.group2 else (self.group,)

    @property
    def recombinant(self) -> bool:
        return bool(self.group2)


def compile_pattern(pattern: str, where: str = "homology.pattern") -> re.Pattern[str]:
    try:
        compiled = re.compile(pattern)
    except re.error as error:
        raise EvocaneError(f"config key '{where}': invalid regular expression ({error})") from None
    if "hg" not in compiled.groupindex:
        raise EvocaneError(f"config key '{where}': the pattern needs a named group (?P<hg>...)")
    return compiled


def assign(
    name: str,
    pattern: re.Pattern[str],
    organelle_pattern: re.Pattern[str],
    unplaced_policy: str = "drop",
    organelle_policy: str = "drop",
) -> HomologyAssignment:
    if organelle_pattern.search(name):
        return HomologyAssignment(name, ORGANELLE, ORGANELLE, "", "", "", organelle_policy == "keep")
    match = pattern.search(name)
    if match is None or match.groupdict().get("hg") is None:
        return HomologyAssignment(name, UNPLACED, UNPLACED, "", "", "", unplaced_policy == "keep")
    parts = match.groupdict()
    group = str(int(parts["hg"]))
    group2 = str(int(parts["hg2"])) if parts.get("hg2") else ""
    return HomologyAssignment(
        record=name,
        kind="placed",
        group=group,
        group2=group2,
        haplotype=(parts.get("hap") or "").upper(),
        origin=parts.get("origin") or "",
        keep=True,
    )


def assign_all(
    names: Iterable[str],
    pattern: str = DEFAULT_PATTERN,
    organelle_pattern: str = DEFAULT_ORGANELLE_PATTERN,
    unplaced_policy: str = "drop",
    organelle_policy: str = "drop",
    cultivar: str = "",
) -> list[HomologyAssignment]:
    """Assign every record; raise if the pattern places no chromosome at all (a wrong pattern, not a genome)."""
    compiled = compile_pattern(pattern, f"cultivars.{cultivar}.homology.pattern" if cultivar else "homology.pattern")
    organelle = compile_pattern_plain(organelle_pattern)
    names = list(names)
    assignments = [assign(n, compiled, organelle, unplaced_policy, organelle_policy) for n in names]
    if names and not any(a.kind == "placed" for a in assignments):
        shown = ", ".join(names[:5]) + (" ..." if len(names) > 5 else "")
        raise EvocaneError(
            f"cultivar '{cultivar}': config key 'cultivars.{cultivar}.homology.pattern' matches none of its "
            f"{len(names)} chromosome names ({shown})"
        )
    return assignments


def compile_pattern_plain(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as error:
        raise EvocaneError(f"config key 'homology.organelle_pattern': invalid regular expression ({error})") from None
