"""Homology-group parsing: every seqid scheme in data.md section 2, buckets, and the no-match error."""

import pytest

from evocane.errors import EvocaneError
from evocane.genome import homology

PATTERN = homology.compile_pattern(homology.DEFAULT_PATTERN)
ORGANELLE = homology.compile_pattern_plain(homology.DEFAULT_ORGANELLE_PATTERN)


@pytest.mark.parametrize(
    ("name", "group", "group2", "haplotype", "origin"),
    [
        ("Chr1A", "1", "", "A", ""),
        ("Chr01A", "1", "", "A", ""),
        ("Chr10H", "10", "", "H", ""),
        ("YZ-So-Chr07C", "7", "", "C", "So"),
        ("YZ-Ss-Chr07A", "7", "", "A", "Ss"),
        ("Chr7_10A", "7", "10", "A", ""),
        ("Chr8_5A", "8", "5", "A", ""),
        ("XTT22_Chr6K", "6", "", "K", ""),
        ("R570#Chr3G", "3", "", "G", ""),
        ("06A", "6", "", "A", ""),
        ("chr2b", "2", "", "B", ""),
    ],
)
def test_placed_names(name: str, group: str, group2: str, haplotype: str, origin: str) -> None:
    a = homology.assign(name, PATTERN, ORGANELLE)
    assert (a.kind, a.group, a.group2, a.haplotype, a.origin) == ("placed", group, group2, haplotype, origin)
    assert a.keep


@pytest.mark.parametrize("name", ["scaffold_111", "Contig123", "NC_003070.9", "LR999451.1", "Chr00", "ChrUn", "Chr1", "ZZ1_YZ-Ss-Chr07A"])
def test_unplaced_names(name: str) -> None:
    a = homology.assign(name, PATTERN, ORGANELLE)
    assert a.kind == "unplaced" and a.group == "unplaced" and not a.keep


@pytest.mark.parametrize("name", ["ChrC", "ChrM", "Pt", "Mt", "chloroplast", "mitochondrion"])
def test_organelles(name: str) -> None:
    a = homology.assign(name, PATTERN, ORGANELLE)
    assert a.kind == "organelle"


def test_recombinant_belongs_to_both_groups() -> None:
    a = homology.assign("Chr7_10A", PATTERN, ORGANELLE)
    assert a.recombinant and a.groups == ("7", "10")


def test_keep_policy_makes_own_group() -> None:
    a = homology.assign("scaffold_1", PATTERN, ORGANELLE, unplaced_policy="keep")
    assert a.keep and a.group == "unplaced"


def test_monoploid_pattern_with_optional_haplotype() -> None:
    names = ["Chr1", "Chr2", "scaffold_9"]
    out = homology.assign_all(names, pattern=r"^Chr(?P<hg>\d+)(?P<hap>[A-Z])?$")
    assert [a.group for a in out] == ["1", "2", "unplaced"]


def test_pattern_matching_nothing_is_an_error() -> None:
    with pytest.raises(EvocaneError, match=r"cultivars\.R570\.homology\.pattern.*matches none"):
        homology.assign_all(["NC_1", "NC_2"], cultivar="R570")


def test_pattern_without_hg_group_is_an_error() -> None:
    with pytest.raises(EvocaneError, match="named group"):
        homology.compile_pattern(r"^Chr(\d+)$")
