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


LEVELS_HEAD = "critic,objective,level,mi_true_bits,mi_true,mean,bias,sd,mse,n,diverged"


def _paper_levels(root, name, rows, head=LEVELS_HEAD):
    """Write a paper-profile per-level CSV ``figures/paper/<name>_levels.csv`` under ``root``."""
    (root / "figures" / "paper").mkdir(parents=True, exist_ok=True)
    (root / "figures" / "paper" / f"{name}_levels.csv").write_text("\n".join([head, *rows]) + "\n")


def test_a_domain_table_bolds_the_lowest_mse_and_says_diverged(tmp_path):
    rows = ["separable,anchor,0,2.0,1.3863,1.30,-0.09,0.2,0.05,50,False",
             "separable,anchor,1,4.0,2.7726,2.70,-0.07,0.3,0.10,50,False",
             "separable,nce,0,2.0,1.3863,1.20,-0.19,0.2,0.08,50,False",
             "separable,nce,1,4.0,2.7726,2.75,-0.02,0.2,0.04,50,False",
             "separable,dv,0,2.0,1.3863,2e4,2e4,1e3,4e8,50,True",
             "joint,anchor,0,2.0,1.3863,0.0,-1.4,0.1,2.0,50,False"]  # fmt: skip
    _paper_levels(tmp_path, "staircase_imdb", rows)
    lines = results.staircase_domain(tmp_path, "imdb").splitlines()
    assert lines[0] == "| separable: mean (MSE), nats | 2 bits | 4 bits |"
    assert lines[2] == "| InfoNCE-anchor | **1.30 (0.050)** | 2.70 (0.100) |"
    assert lines[3] == "| NCE | 1.20 (0.080) | **2.75 (0.040)** |"
    assert lines[4] == "| DV | diverged | not reached |"
    assert lines[5] == "| truth | 1.39 | 2.77 |"
    assert len(lines) == 6  # the joint critic's row is not in the separable table


def test_a_domain_table_shows_the_mi_through_the_class_posterior_when_computed(tmp_path):
    rows = ["separable,anchor,0,2.0,1.3863,1.30,-0.09,0.2,0.05,50,False,1.2791",
             "separable,anchor,1,4.0,2.7726,2.70,-0.07,0.3,0.10,50,False,2.5502"]  # fmt: skip
    _paper_levels(tmp_path, "staircase_imdb", rows, head=LEVELS_HEAD + ",class_posterior_mi")
    lines = results.staircase_domain(tmp_path, "imdb").splitlines()
    assert lines[3] == "| truth | 1.39 | 2.77 |"
    assert lines[4] == "| MI through a linear classifier's class posterior | 1.28 | 2.55 |"


def test_the_nu_k_table_gives_the_signed_largest_error_and_its_level(tmp_path):
    (tmp_path / "figures").mkdir()
    head = "nu,K,mi_true_bits,level,mi_true,mean,bias,relative_error,sd,mse,"
    head += "mean_seed_sd,bias_seed_sd,mse_seed_sd,seeds,diverged"
    quadratic = [head, "1.0,63,2.0,0,1.39,1.40,0.01,0.01,0.2,0.05,,,,3,False",
                 "1.0,63,4.0,1,2.77,2.60,-0.17,-0.06,0.3,0.1,,,,3,False",
                 "0.0,63,2.0,0,1.39,-120,-121,-87.0,12.0,1.5e4,,,,3,False"]  # fmt: skip
    (tmp_path / "figures" / "anchor_nu_k_levels.csv").write_text("\n".join(quadratic) + "\n")
    lines = results.anchor_nu_k(tmp_path).splitlines()
    assert lines[0] == "| nu | K | quadratic: largest error (seeds) | sd at 4 bits |"
    assert lines[2] == "| 1 | 63 | -6.0% at 4 bits (3) | 0.30 |"
    assert lines[3] == "| 0 | 63 | -8,700% at 2 bits (3) | - |"  # stopped before the top level
    assert len(lines) == 4  # no MLP file: no MLP columns


def test_the_lee_rhee_table_puts_ours_beside_theirs(tmp_path):
    rows = ["joint,infonce,0,2.0,1.3863,1.2644,-0.12,0.18,0.05,1000,False",
             "joint,js,0,2.0,1.3863,1.3079,-0.08,0.2,0.04,1000,False",
             "joint,dv,0,2.0,1.3863,2e4,2e4,1e3,4e8,1000,True",
             "joint,anchor,0,2.0,1.3863,1.35,-0.04,0.2,0.04,1000,False"]  # fmt: skip
    _paper_levels(tmp_path, "staircase_gaussian_joint", rows)
    lines = results.lee_rhee_gaussian_joint(tmp_path).splitlines()
    assert lines[0] == "| joint: ours / Lee & Rhee, nats | 2 bits |"
    assert lines[2] == "| InfoNCE | 1.26 / 1.27 |"
    assert lines[3] == "| NWJ | not run / 1.33 |"  # published, not in this run
    assert lines[7] == "| JS (ours minus 1/e) | 0.94 / 0.94 |"
    assert lines[8] == "| DV | diverged |"  # not published: ours only
    assert lines[9] == "| InfoNCE-anchor | 1.35 |"
    assert lines[10] == "| truth | 1.39 |"
