"""RESULTS.md's tables are made from the committed CSVs, and say what they say."""

import shutil
from pathlib import Path

import pytest

from anchor import results

ROOT = Path(__file__).resolve().parents[1]


def test_results_tables_match_the_committed_csvs():
    assert results.stale(ROOT) == [], "run python -m anchor.results after changing the committed CSVs"


def test_every_table_is_marked_once_in_results_md():
    names = [m["name"] for m in results.BLOCK.finditer((ROOT / "RESULTS.md").read_text())]
    assert sorted(names) == sorted(results.TABLES)


@pytest.fixture()
def copy(tmp_path):
    shutil.copytree(ROOT / "figures", tmp_path / "figures")
    shutil.copy(ROOT / "RESULTS.md", tmp_path / "RESULTS.md")
    (tmp_path / "notebooks").mkdir()
    shutil.copy(ROOT / "notebooks" / "profiles.yaml", tmp_path / "notebooks" / "profiles.yaml")  # marks a checkout
    return tmp_path


def test_a_changed_number_is_found_and_remade(copy):
    path = copy / "figures" / "mi_suite_scores.csv"
    lines = path.read_text().splitlines()
    fields = lines[1].split(",")
    fields[1] = "9.9999"  # the first estimator's MAE
    path.write_text("\n".join([lines[0], ",".join(fields), *lines[2:]]) + "\n")
    assert results.stale(copy) == ["suite-scores"]
    assert results.main(["--check", "--root", str(copy)]) == 1
    assert results.update(copy) == ["suite-scores"]
    assert "| 10.000 |" in (copy / "RESULTS.md").read_text()
    assert results.stale(copy) == []


def test_an_unknown_table_or_a_missing_csv_says_what_to_do(copy):
    text = (copy / "RESULTS.md").read_text()
    (copy / "RESULTS.md").write_text(text + "\n<!-- table: nope -->\n<!-- end table -->\n")
    with pytest.raises(ValueError, match=r"RESULTS\.md marks an unknown table 'nope'; known: staircase-levels"):
        results.stale(copy)
    (copy / "RESULTS.md").write_text(text)
    (copy / "figures" / "ssl_mnist_table.csv").unlink()
    with pytest.raises(FileNotFoundError, match=r"ssl_mnist_table.csv is missing: run the job that writes it"):
        results.stale(copy)


def test_a_partial_run_remakes_the_tables_it_can_and_names_the_others(copy):
    (copy / "figures" / "ssl_mnist_table.csv").unlink()
    path = copy / "figures" / "mi_suite_scores.csv"
    lines = path.read_text().splitlines()
    fields = lines[1].split(",")
    fields[1] = "9.9999"
    path.write_text("\n".join([lines[0], ",".join(fields), *lines[2:]]) + "\n")
    before = (copy / "RESULTS.md").read_text()
    missing = []
    assert results.update(copy, missing) == ["suite-scores"]
    assert missing == ["ssl-mnist"]
    after = (copy / "RESULTS.md").read_text()
    assert "| 10.000 |" in after
    ssl = [m["body"] for m in results.BLOCK.finditer(before) if m["name"] == "ssl-mnist"]
    assert ssl == [m["body"] for m in results.BLOCK.finditer(after) if m["name"] == "ssl-mnist"]
