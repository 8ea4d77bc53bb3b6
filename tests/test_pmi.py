"""Pointwise MI: ``Estimate.pmi``, the tasks' exact log ratios, and the interaction experiment."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

import anchor
from anchor.interactions import (
    InteractionWorld,
    auroc_table,
    calibration,
    get_world,
    load_interactions,
    run_interactions,
    score_trial,
    split_trial,
)
from anchor.tasks import get_task

SMALL = dict(folds=2, batch_size=32, max_steps=60, eval_every=20, progress=False, warn=False)


@pytest.fixture(scope="module")
def small_estimate():
    sampler = anchor.GaussianSampler(2, mi=0.5)
    x, y = sampler.sample(600, seed=1)
    return sampler, x, y, anchor.estimate_mi(x, y, **SMALL)


def test_pmi_has_one_value_per_pair_in_the_estimates_unit(small_estimate):
    sampler, _x, _y, est = small_estimate
    x_new, y_new = sampler.sample(50, seed=2)
    values = est.pmi(x_new, y_new)
    assert isinstance(values, np.ndarray) and values.shape == (50,) and values.dtype == np.float64
    assert np.isfinite(values).all()
    bits = anchor.estimate_mi(*sampler.sample(600, seed=1), unit="bits", **SMALL)
    assert bits.pmi(x_new, y_new) == pytest.approx(values / math.log(2), rel=1e-5)
    # numpy input in float64 gives the same values as the torch tensors
    assert est.pmi(x_new.numpy().astype(np.float64), y_new.numpy()) == pytest.approx(values, rel=1e-5)


def test_pmi_applies_each_folds_marginal_maps_and_averages_the_folds(small_estimate):
    sampler, _x, _y, est = small_estimate
    x_new, y_new = sampler.sample(40, seed=3)
    assert len(est.critics) == 2 and all(not c.training for c in est.critics if c is not None)
    with torch.no_grad():
        by_fold = [c.pairs(mx(x_new), my(y_new)).double() for c, (mx, my) in zip(est.critics, est.maps, strict=True)]
    assert est.pmi(x_new, y_new) == pytest.approx(torch.stack(by_fold).mean(0).numpy(), rel=1e-5, abs=1e-6)
    # the maps matter: the raw columns through the critics give other values
    with torch.no_grad():
        raw = torch.stack([c.pairs(x_new.float(), y_new.float()).double() for c in est.critics]).mean(0)
    assert not np.allclose(raw.numpy(), est.pmi(x_new, y_new), atol=1e-3)


def test_pmi_of_the_training_rows_uses_each_rows_out_of_fold_critic(small_estimate):
    _sampler, x, y, est = small_estimate
    values = est.pmi(x, y, out_of_fold=True)
    assert values.mean() == pytest.approx(est.plug_in, rel=1e-6)  # the plug-in is the mean out-of-fold PMI
    for k, (critic, (mx, my)) in enumerate(zip(est.critics, est.maps, strict=True)):
        rows = np.flatnonzero(est.test_fold == k)
        with torch.no_grad():
            own = critic.pairs(mx(x[rows]), my(y[rows])).double().numpy()
        assert values[rows] == pytest.approx(own, rel=1e-5, abs=1e-6)
    assert not np.allclose(values, est.pmi(x, y), atol=1e-4)  # averaging all folds is something else
    with pytest.raises(ValueError, match=r"out_of_fold=True scores the rows the estimate was fitted on \(600 rows\)"):
        est.pmi(x[:10], y[:10], out_of_fold=True)


def test_pmi_rejects_bad_input_with_the_argument_named(small_estimate):
    _sampler, x, y, est = small_estimate
    with pytest.raises(ValueError, match=r"estimate's dimensions \(2 and 2 columns\), got 3 and 2"):
        est.pmi(torch.zeros(5, 3), torch.zeros(5, 2))
    bad = x[:5].clone()
    bad[2, 1] = float("nan")
    with pytest.raises(ValueError, match="x"):
        est.pmi(bad, y[:5])
    with pytest.raises(ValueError, match="same number of samples"):
        est.pmi(x[:5], y[:4])
    bare = anchor.estimate_mi(x, y, keep_critics=False, **SMALL)
    assert bare.critics == ()
    with pytest.raises(ValueError, match="keep_critics=False"):
        bare.pmi(x[:5], y[:5])


def test_pmi_tracks_the_exact_log_ratio_on_a_gaussian():
    """The anchor's critic is the log density ratio: on fresh pairs of a 5-d Gaussian with
    I = 1 nat its PMIs correlate with the exact ones and average to the MI."""
    sampler = anchor.GaussianSampler(5, mi=1.0)
    x, y = sampler.sample(5000, seed=0)
    est = anchor.estimate_mi(x, y, progress=False, warn=False)
    x_new, y_new = sampler.sample(4000, seed=1)
    table, stats = calibration(est.pmi(x_new, y_new), sampler.log_ratio(x_new, y_new).numpy())
    assert stats["correlation"] > 0.95, stats
    assert abs(stats["bias"]) < 0.15, stats
    assert np.all(np.diff(table.true.to_numpy()) > -0.3)  # bins ordered by prediction rise in truth


def test_a_fold_without_dependence_scores_zero():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(2000, 3, generator=g), torch.randn(2000, 3, generator=g)
    est = anchor.estimate_mi(x, y, progress=False, warn=False)
    zero = est.folds.no_dependence.to_numpy()
    assert zero.any() and all((c is None) == z for c, z in zip(est.critics, zero, strict=True))
    values = est.pmi(x, y, out_of_fold=True)
    assert (values[np.isin(est.test_fold, np.flatnonzero(zero))] == 0).all()


@pytest.mark.parametrize("name", ["normal-1x1", "spiral-sparse-3x3", "student-dof3-2x2", "uniform-dense-3x3"])
def test_task_log_ratio_averages_to_the_closed_form_mi(name):
    task = get_task(name)
    x, y = task.sample(20_000, seed=0, dtype=torch.float64)
    values = task.log_ratio(x, y)
    assert values.shape == (20_000,) and values.dtype == torch.float64
    stderr = float(values.std()) / math.sqrt(len(values))
    assert abs(float(values.mean()) - task.mi) < 4 * stderr + 1e-3
    # broadcasting over leading dimensions, as OracleCritic needs
    grid = anchor.OracleCritic(task)(x[:4], y[:3])
    assert grid.shape == (4, 3) and torch.allclose(grid[1, 2], values.new_tensor(task.log_ratio(x[1], y[2]).item()))


def test_calibration_of_a_perfect_prediction_and_its_errors():
    true = np.linspace(-2, 3, 100)
    table, stats = calibration(true, true, bins=5)
    assert stats == pytest.approx({"correlation": 1.0, "rmse": 0.0, "bias": 0.0}, abs=1e-12)
    assert table["count"].tolist() == [20] * 5 and table.predicted.tolist() == pytest.approx(table.true.tolist())
    with pytest.raises(ValueError, match="same number of values, got 3 and 2"):
        calibration([1, 2, 3], [1, 2])


# ---------------------------------------------------------------------------------------------
# The synthetic interaction world


def test_world_true_pmi_is_the_log_ratio_of_its_pair_distribution():
    world = InteractionWorld(n_x=60, n_y=50, types=4, partners=1, strength=2.0, draws=10)
    data = world.sample(3)
    tx, ty, joint = world.type_table(np.random.default_rng(3))
    p = world.pair_probabilities(tx, ty, joint)
    assert p.sum() == pytest.approx(1.0)
    exact = np.log(p) - np.log(p.sum(1, keepdims=True)) - np.log(p.sum(0, keepdims=True))
    assert data.true_pmi == pytest.approx(exact, abs=1e-9)
    # Monte Carlo: pairs drawn from p(i, j); the empirical PMI of their types matches
    draws = np.random.default_rng(11).choice(p.size, 400_000, p=p.ravel())
    i, j = np.unravel_index(draws, p.shape)
    counts = np.zeros((4, 4))
    np.add.at(counts, (tx[i], ty[j]), 1)
    empirical = np.log(counts * counts.sum()) - np.log(counts.sum(1, keepdims=True) * counts.sum(0, keepdims=True))
    type_pmi = np.log(joint) - np.log(joint.sum(1, keepdims=True)) - np.log(joint.sum(0, keepdims=True))
    assert empirical == pytest.approx(type_pmi, abs=0.05)
    # the regular table: every type interacts with the same number of partners, so PMI > 0 exactly there
    interacts = type_pmi > 0
    assert interacts.sum(0).tolist() == [1] * 4 and interacts.sum(1).tolist() == [1] * 4


def test_world_sample_is_reproducible_and_checks_its_fields():
    a, b = (
        get_world("ligand-like", n_x=50, n_y=40, draws=500).sample(1),
        get_world("ligand-like", n_x=50, n_y=40, draws=500).sample(1),
    )
    assert np.array_equal(a.x, b.x) and np.array_equal(a.pairs, b.pairs)
    assert a.x.shape == (50, 128) and a.y.shape == (40, 128) and a.true_pmi.shape == (50, 40)
    assert len(np.unique(a.pairs, axis=0)) == len(a.pairs) <= 500
    with pytest.raises(ValueError, match="partners"):
        InteractionWorld(types=3, partners=4)
    with pytest.raises(KeyError, match=r"unknown world 'kinase'; valid worlds are"):
        get_world("kinase")


def test_trial_split_holds_out_entities_from_training():
    data = get_world("kinase-like", n_x=80, n_y=60, draws=2000).sample(0)
    out_x, out_y, train = split_trial(data, 40, trial=2)
    assert len(out_x) + len(out_y) == 40 and len(out_x) > len(out_y)
    assert not np.isin(data.pairs[train, 0], out_x).any() and not np.isin(data.pairs[train, 1], out_y).any()
    assert np.array_equal(split_trial(data, 40, trial=2)[0], out_x)
    assert not np.array_equal(split_trial(data, 40, trial=3)[0], out_x)
    with pytest.raises(ValueError, match="held_out"):
        split_trial(data, 1000, trial=0)


def test_score_trial_scores_every_held_out_pair_and_aurocs_follow():
    data = get_world("ligand-like", n_x=80, n_y=80, draws=3000).sample(0)
    scored = score_trial(data, "anchor", 0, held_out=30, folds=2, max_steps=60, eval_every=20)
    out_x, out_y, _ = split_trial(data, 30, 0)
    assert len(scored) == len(out_x) * len(out_y)
    annotated = set(map(tuple, data.pairs.tolist()))
    expected = [(i, j) in annotated for i, j in zip(scored.x_row, scored.y_row, strict=True)]
    assert scored.label.tolist() == expected
    assert scored.true_pmi.to_numpy() == pytest.approx(data.true_pmi[scored.x_row, scored.y_row])
    table = auroc_table(scored)
    assert table.columns.tolist() == ["objective", "trial", "auroc", "ceiling", "positives", "pairs"]
    assert 0.5 < table.ceiling.iloc[0] <= 1.0 and 0.0 <= table.auroc.iloc[0] <= 1.0
    run = run_interactions(
        "ligand-like",
        "anchor",
        0,
        held_out=30,
        world_params=dict(n_x=80, n_y=80, draws=3000),
        estimate_params=dict(folds=2, max_steps=60, eval_every=20),
    )
    pd.testing.assert_frame_equal(run.drop(columns="source"), scored)


# ---------------------------------------------------------------------------------------------
# Real files


def _write(tmp_path, ids, values, pairs, layout="arrays"):
    emb = tmp_path / "embeddings.npz"
    if layout == "arrays":
        np.savez(emb, ids=np.array(ids), embeddings=np.asarray(values))
    else:
        np.savez(emb, **{i: np.asarray(v) for i, v in zip(ids, values, strict=True)})
    csv = tmp_path / "pairs.csv"
    pd.DataFrame(pairs, columns=["x_id", "y_id"]).to_csv(csv, index=False)
    return emb, csv


@pytest.mark.parametrize("layout", ["arrays", "per-id"])
def test_load_interactions_reads_both_layouts(tmp_path, layout):
    values = np.arange(12, dtype=float).reshape(4, 3)
    emb, csv = _write(tmp_path, ["A", "B", "C", "D"], values, [("A", "C"), ("B", "C"), ("A", "D")], layout)
    data = load_interactions(emb, csv)
    assert data.x_ids == ["A", "B"] and data.y_ids == ["C", "D"]
    assert np.array_equal(data.x, values[:2]) and np.array_equal(data.y, values[2:])
    assert sorted(map(tuple, data.pairs.tolist())) == [(0, 0), (0, 1), (1, 0)]
    assert data.true_pmi is None


def test_load_interactions_finds_the_folder_of_the_environment_variable(tmp_path, monkeypatch):
    _write(tmp_path, ["A", "B"], np.eye(2), [("A", "B")])
    monkeypatch.setenv("ANCHOR_INTERACTIONS_DIR", str(tmp_path))
    assert load_interactions().pairs.tolist() == [[0, 0]]
    monkeypatch.delenv("ANCHOR_INTERACTIONS_DIR")
    with pytest.raises(FileNotFoundError, match=r"ANCHOR_INTERACTIONS_DIR is not set.*ProtT5.*Gowri et al\. 2024"):
        load_interactions()


@pytest.mark.parametrize(
    "ids, values, pairs, message",
    [
        (["A", "A", "B"], np.eye(3), [("A", "B")], r"1 duplicate ID\(s\), first 'A'"),
        (["A", "B"], [[1.0, np.nan], [0.0, 1.0]], [("A", "B")], r"1 embedding\(s\) with NaN or infinite values"),
        (["A", "B"], np.eye(2), [("A", "B"), ("A", "B")], r"1 duplicate pair row\(s\), first \(A, B\)"),
        (["A", "B"], np.eye(2), [("A", "Z"), ("Q", "B")], r"2 ID\(s\) have no embedding in embeddings.npz"),
    ],
)
def test_load_interactions_names_what_is_wrong(tmp_path, ids, values, pairs, message):
    emb, csv = _write(tmp_path, ids, values, pairs)
    with pytest.raises(ValueError, match=message):
        load_interactions(emb, csv)


def test_load_interactions_checks_lengths_columns_and_missing_files(tmp_path):
    emb = tmp_path / "e.npz"
    np.savez(emb, A=np.zeros(3), B=np.zeros(4))
    csv = tmp_path / "p.csv"
    pd.DataFrame({"x_id": ["A"], "y_id": ["B"]}).to_csv(csv, index=False)
    with pytest.raises(ValueError, match=r"same length, got lengths \[3, 4\]"):
        load_interactions(emb, csv)
    np.savez(emb, A=np.zeros(3), B=np.zeros(3))
    pd.DataFrame({"kinase": ["A"], "target": ["B"]}).to_csv(csv, index=False)
    with pytest.raises(ValueError, match=r"needs columns x_id and y_id, missing \['x_id', 'y_id'\]"):
        load_interactions(emb, csv)
    with pytest.raises(FileNotFoundError, match=r"embeddings file .*nothere.npz' does not exist.*ProtT5"):
        load_interactions(tmp_path / "nothere.npz", csv)
    with pytest.raises(ValueError, match=r"embeddings must be an .npz file"):
        load_interactions(csv, csv)
