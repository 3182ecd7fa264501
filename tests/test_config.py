"""Config schema: valid configs pass with defaults filled; unknown keys and wrong types fail naming key and file."""

import copy
from pathlib import Path

import pytest
import yaml

from evocane.config import load_config, validate_config
from evocane.errors import EvocaneError
from evocane.genome.homology import DEFAULT_PATTERN

from conftest import REPO, run_cli


def demo() -> dict:
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


@pytest.mark.parametrize("name", ["config.yaml", "sugarcane.yaml"])
def test_shipped_configs_are_valid(name: str) -> None:
    config = load_config(REPO / "config" / name)
    assert config["cultivars"]


def test_defaults_are_filled() -> None:
    config = validate_config(demo())
    mockcane = config["cultivars"]["mockcane"]
    assert mockcane["homology"]["pattern"] == DEFAULT_PATTERN  # schema default equals the code's default
    assert mockcane["homology"]["unplaced"] == "drop"
    assert mockcane["sources"][1].get("records") == {"CM047417.1": "Chr1B", "CM047418.1": "Chr2B"}
    assert config["qc"]["plot_format"] == "png"
    assert config["resources"]["genome_mem_mb"] == 4000


def test_typo_in_nested_key_is_rejected_with_its_path() -> None:
    config = demo()
    config["cultivars"]["mockcane"]["homology"]["patern"] = "^Chr(?P<hg>\\d)$"
    with pytest.raises(EvocaneError) as error:
        validate_config(config, source="my.yaml")
    message = str(error.value)
    assert message.startswith("my.yaml: ")
    assert "'cultivars.mockcane.homology.patern'" in message


def test_typo_at_top_level_is_rejected() -> None:
    config = demo()
    config["cultivar"] = config.pop("cultivars")
    with pytest.raises(EvocaneError, match="cultivar"):
        validate_config(config)


def test_wrong_type_names_the_key() -> None:
    config = demo()
    config["cultivars"]["thaliana"]["max_length"] = "two million"
    with pytest.raises(EvocaneError, match=r"'cultivars\.thaliana\.max_length'"):
        validate_config(config)


def test_location_needs_exactly_one_kind() -> None:
    config = copy.deepcopy(demo())
    config["cultivars"]["thaliana"]["sources"][0]["fasta"] = {"path": "a.fa", "url": "https://x/a.fa"}
    with pytest.raises(EvocaneError, match=r"cultivars\.thaliana\.sources\.0\.fasta"):
        validate_config(config)


def test_bad_sha256_rejected() -> None:
    config = demo()
    config["cultivars"]["thaliana"]["sources"][0]["fasta"] = {"url": "https://example.org/a.fa.gz", "sha256": "abc"}
    with pytest.raises(EvocaneError, match="sha256|fasta"):
        validate_config(config)


def test_cli_reports_one_line_and_exit_status(tmp_path: Path) -> None:
    config = demo()
    config["cultivars"]["mockcane"]["max_lenght"] = 10
    path = tmp_path / "typo.yaml"
    path.write_text(yaml.safe_dump(config))
    result = run_cli("validate-config", "-c", str(path))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert str(path) in lines[0] and "cultivars.mockcane.max_lenght" in lines[0]


def test_missing_config_file(tmp_path: Path) -> None:
    result = run_cli("validate-config", "-c", str(tmp_path / "absent.yaml"))
    assert result.returncode == 2 and "absent.yaml" in result.stderr


def test_overlay_files_merge_recursively_like_snakemake(tmp_path: Path) -> None:
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text("cultivars:\n  thaliana:\n    max_length: 5000\n")
    config = load_config(REPO / "config" / "config.yaml", overlay)
    assert config["cultivars"]["thaliana"]["max_length"] == 5000
    assert config["cultivars"]["thaliana"]["sources"]  # the rest of the entry survives the overlay
    assert config["cultivars"]["mockcane"]["max_length"] == 2_000_000


def test_whole_configs_are_told_from_overlays(tmp_path: Path) -> None:
    from evocane.config import is_whole_config

    overlay = tmp_path / "on.yaml"
    overlay.write_text("evo2: {enabled: true}\n")
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert not is_whole_config() and not is_whole_config(overlay, empty)
    assert is_whole_config(REPO / "config" / "sugarcane.yaml") and is_whole_config(overlay, REPO / "config" / "config.yaml")
