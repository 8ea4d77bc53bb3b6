import math

import numpy as np
import pandas as pd
import pytest

import anchor
from anchor.staircase import level_summary, make_staircase, run_staircase, staircase_configs


def _synthetic(steps_per_level=4000, levels=(1.0, 2.0)):
    rows = []
    for k, mi in enumerate(levels):
        for s in range(steps_per_level):
            wiggle = 0.2 if s % 2 == 0 else -0.2
            rows.append({"step": k * steps_per_level + s, "level": k, "mi_true": mi, "estimate": mi + 0.1 + wiggle})
    return pd.DataFrame(rows).assign(objective="anchor")


def test_level_summary_bias_sd_mse():
    table = level_summary(_synthetic())
    assert list(table.level) == [0, 1]
    assert table.n.tolist() == [1000, 1000]
    assert table.bias.tolist() == pytest.approx([0.1, 0.1])
    assert table.mse.tolist() == pytest.approx([0.05, 0.05])  # bias^2 + 0.2^2
    assert table.sd.tolist() == pytest.approx([0.2 * math.sqrt(1000 / 999)] * 2)


def test_level_summary_uses_last_quarter_of_short_levels():
    table = level_summary(_synthetic(steps_per_level=400))
    assert table.n.tolist() == [100, 100]


def test_level_summary_needs_columns():
    with pytest.raises(ValueError, match=r"history lacks the columns \['level'\]"):
        level_summary(pd.DataFrame({"step": [0], "mi_true": [1.0], "estimate": [1.0], "objective": ["a"]}))


def _fake_imdb(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.array([0, 1] * 8, dtype=np.int8)
    path = tmp_path / "imdb.npz"
    np.savez(path, embeddings=rng.normal(size=(16, 768)).astype(np.float32), labels=labels)
    return str(path)


@pytest.mark.parametrize("domain", ["gaussian", "cubic", "mnist", "imdb"])
def test_run_staircase_every_domain(domain, tmp_path):
    history = run_staircase(
        domain=domain,
        objective="anchor",
        critic="separable",
        bits=[2.0, 4.0],
        steps_per_level=3,
        batch_size=8,
        dim=3,
        image_size=8,
        data_path=_fake_imdb(tmp_path) if domain == "imdb" else None,
        critic_params={"width": 16, "embed_dim": 4, "depth": 1},
    )
    assert list(history.columns) == ["step", "level", "mi_true", "estimate", "loss", "objective", "diverged"]
    assert history.level.tolist() == [0, 0, 0, 1, 1, 1]
    assert history.mi_true.iloc[-1] == pytest.approx(anchor.bits_to_nats(4.0))
    assert not history.diverged.any()


def test_staircase_runs_through_the_cached_sweep(tmp_path):
    configs = [
        {
            "domain": "gaussian",
            "objective": name,
            "critic": "joint",
            "bits": [2.0],
            "steps_per_level": 4,
            "batch_size": 8,
            "dim": 2,
            "critic_params": {"width": 8, "depth": 1},
        }
        for name in ("anchor", "infonce")
    ]
    table = anchor.run_sweep(configs, run_staircase, cache=tmp_path / "cache", progress=False)
    again = anchor.run_sweep(configs, run_staircase, cache=tmp_path / "cache", progress=False)
    pd.testing.assert_frame_equal(table, again)
    assert set(table.objective) == {"anchor", "infonce"} and len(table) == 8


def test_imdb_domain_needs_a_path():
    with pytest.raises(ValueError, match="the imdb domain needs data_path"):
        make_staircase("imdb")
    with pytest.raises(KeyError, match=r"unknown domain 'text'"):
        make_staircase("text")


def test_level_summary_marks_the_level_where_a_run_diverged():
    steps = np.arange(30)
    good = pd.DataFrame({"step": steps, "level": steps // 10, "mi_true": 1.0, "estimate": 1.0, "diverged": False})
    bad = good.iloc[:15].assign(estimate=2.0, diverged=True)
    table = level_summary(pd.concat([good.assign(objective="a"), bad.assign(objective="b")]), last=2)
    b = table[table.objective == "b"].set_index("level")
    assert list(b.index) == [0, 1]
    assert not b.diverged[0] and b.bias[0] == pytest.approx(1.0)
    assert b.diverged[1] and np.isnan(b.mse[1]) and np.isnan(b["mean"][1])
    assert not table[table.objective == "a"].diverged.any()


@pytest.mark.parametrize(("offset", "rows"), [(3.4e38, 1), (5000.0, 10)], ids=["infinite loss", "implausible"])
def test_a_run_that_diverges_at_once_is_recorded_as_diverged(tmp_path, offset, rows):
    """A critic offset that breaks the first batch (or reads 5,000 nats from the start): the steps
    up to the divergence, marked diverged, not an empty table."""
    config = {
        "domain": "gaussian",
        "objective": "anchor",
        "critic": "quadratic",
        "bits": [2.0, 4.0],
        "steps_per_level": 20,
        "dim": 2,
        "critic_params": {"offset": offset},
    }
    history = anchor.run_sweep([config], run_staircase, cache=tmp_path, progress=False)
    assert history.step.tolist() == list(range(rows)) and history.diverged.all()
    table = level_summary(history)
    assert table.level.tolist() == [0] and table.diverged.all() and np.isnan(table["mean"]).all()
    again = anchor.run_sweep([config], run_staircase, cache=tmp_path, progress=False)  # cached with its row
    pd.testing.assert_frame_equal(history, again)


def test_staircase_configs_key_only_what_changes_the_run():
    configs = staircase_configs("gaussian", ["anchor", "infonce"], "separable", steps_per_level=10, seeds=(0, 1))
    assert len(configs) == 4 and {c["objective"] for c in configs} == {"anchor", "infonce"}
    assert all("dim" in c and "image_size" not in c and "device" not in c for c in configs)
    assert "image_size" in staircase_configs("mnist", ["anchor"], "joint", steps_per_level=1)[0]
    with pytest.raises(KeyError, match="estimators"):
        staircase_configs("gaussian", ["anchr"], "joint", steps_per_level=1)
    with pytest.raises(KeyError, match="critic"):
        staircase_configs("gaussian", ["anchor"], "bilinear-ish", steps_per_level=1)


def test_oracle_batch_noise_matches_the_gaussian_information_density_variance():
    """Var_p[log r] = d rho^2 for the d-dim correlated Gaussian, so the batch-mean sd is sqrt(d rho^2 / B)."""
    table = anchor.staircase.oracle_batch_noise("gaussian", bits=[2.0, 10.0], batch_size=32, dim=4, n_batches=2000)
    for row in table.itertuples():
        rho2 = anchor.mi_to_rho(dim=4, mi=row.mi_true) ** 2
        assert row.sd == pytest.approx(math.sqrt(4 * rho2 / 32), rel=0.08)
    with pytest.raises(KeyError, match="domain"):
        anchor.staircase.oracle_batch_noise("mnist")


def test_run_staircase_tracks_other_estimates_on_the_same_batches():
    common = dict(domain="gaussian", critic="separable", bits=[2.0], steps_per_level=5, seed=1)
    run = run_staircase(objective="infonce", track=["anchor", "nwj"], **common)
    assert {"estimate_anchor", "estimate_nwj"} <= set(run.columns)
    plain = run_staircase(objective="infonce", **common)
    pd.testing.assert_series_equal(run.estimate, plain.estimate)  # tracking does not change training
    assert (run.estimate <= math.log(64) + 1e-6).all() and not run.estimate_anchor.equals(run.estimate)
    with pytest.raises(ValueError, match="track"):
        run_staircase(objective="infonce", track="anchor", **common)
    with pytest.raises(KeyError, match="objective"):
        run_staircase(objective="infonce", track=["nope"], **common)


def test_infonce_leaves_the_quadratic_offset_where_it_started_and_the_anchor_moves_it():
    """nu = 0 identifies the critic only up to a function of y; nu > 0 identifies its offset too.

    In float64 the y-only parameters' InfoNCE gradient is zero to rounding (1e-16), so Adam leaves
    them in place. (In float32 the rounding residue, about 1e-7, is normalised by Adam into steps of
    about lr, and the unidentified direction drifts; anchor_nu_k.py shows it.)
    """
    sampler = anchor.GaussianSampler(2, mi=1.0)
    for nu, moves in ((0.0, False), (1.0, True)):
        critic = anchor.QuadraticCritic(2, 2, offset=1.5).double()
        objective = anchor.get_objective("anchor", nu=nu)
        anchor.fit(critic, objective, sampler, steps=30, batch_size=32, lr=0.05, progress=False)
        assert (abs(critic.offset.item() - 1.5) > 1e-3) == moves
        assert (critic.quad_y.detach().abs().max().item() > 1e-3) == moves


def test_sweep_staircase_labels_become_columns_and_are_not_cache_keys(tmp_path):
    base = {
        "domain": "gaussian",
        "objective": "anchor",
        "critic": "joint",
        "bits": [2.0],
        "steps_per_level": 3,
        "batch_size": 8,
        "dim": 2,
        "critic_params": {"width": 8, "depth": 1},
    }
    configs = [base, {**base, "objective_params": {"nu": 4.0}}]
    labels = [{"objective": "log", "nu": 1.0}, {"objective": "log nu=4", "nu": 4.0}]
    history = anchor.staircase.sweep_staircase(configs, cache=str(tmp_path), labels=labels)
    assert history.groupby("run").objective.first().tolist() == ["log", "log nu=4"]
    assert history.groupby("run").nu.first().tolist() == [1.0, 4.0]
    relabelled = anchor.staircase.sweep_staircase(
        configs, cache=str(tmp_path), labels=[{"objective": "a"}, {"objective": "b"}]
    )
    assert relabelled.estimate.tolist() == history.estimate.tolist()  # the cache served the same runs
    with pytest.raises(ValueError, match="labels: one mapping per configuration, got 1 for 2"):
        anchor.staircase.sweep_staircase(configs, labels=labels[:1])
    with pytest.raises(ValueError, match="labels: every mapping needs the same keys"):
        anchor.staircase.sweep_staircase(configs, labels=[{"objective": "a"}, {"nu": 1.0}])


def test_seed_summary_averages_over_seeds_and_reports_their_spread():
    per_run = pd.concat(
        [
            level_summary(
                _synthetic(levels=(1.0, 2.0)).assign(estimate=lambda h, s=s: h.estimate + s), by=("objective",)
            ).assign(seed=s)
            for s in (0, 1, 2)
        ]
    )
    summary = anchor.staircase.seed_summary(per_run, by=("objective",))
    assert summary.level.tolist() == [0, 1] and (summary.seeds == 3).all()
    assert summary.bias.to_numpy() == pytest.approx([1.1, 1.1])  # biases 0.1, 1.1, 2.1
    assert summary.bias_seed_sd.to_numpy() == pytest.approx([1.0, 1.0])
    assert summary.relative_error.to_numpy() == pytest.approx([1.1, 0.55])
    assert summary.mse.to_numpy() == pytest.approx(per_run.groupby("level").mse.mean().to_numpy())
    assert not summary.diverged.any()
    with pytest.raises(ValueError, match=r"per_run lacks the columns \['seed'\]"):
        anchor.staircase.seed_summary(per_run.drop(columns="seed"))
