# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # InfoNCE-anchor: consistency, and the roles of the anchor weight nu and the tuple size K
#
# **Smoke or real run?** The committed `notebooks/anchor_nu_k.ipynb` is the smoke run CI re-executes
# in seconds (tiny settings: its numbers say nothing about the method). The runs that made the
# figures are in `notebooks/executed/`, each opening with its profile, date, machine and run time:
# [anchor_nu_k (quick)](executed/anchor_nu_k.quick.ipynb), [anchor_nu_k (paper)](executed/anchor_nu_k.paper.ipynb).
#
# **Claim** (Ryu et al. 2025). Add to InfoNCE's K-way classification an anchor class (all K
# candidates independent of the context) with prior weight nu. For every nu > 0 and every
# K >= 1 the population minimiser is then exactly the density ratio r = p(x, y) / (p(x) p(y)), so
# the plug-in mean of the critic over joint pairs is a consistent MI estimate. At nu = 0 the
# loss is InfoNCE's and any function of the context can be added to the critic at no cost: the
# plug-in's offset is not identified; nothing in the loss moves it towards the truth. With nu = beta * K
# and large K, the objective's value moves from the Donsker-Varadhan bound (beta -> 0) to the
# NWJ bound (beta -> infinity).
#
# **What this notebook computes.**
#
# 1. The Gaussian staircase (d = 10; 2, 4, 6, 8, 10 bits) with a *well-specified* critic, the
#    quadratic family c = x'Wy + x'Px + y'Qy + b that contains the true log ratio, trained on the
#    anchor objective for nu in `nus` (K = B - 1) and for K in `ks` (nu = 1), several seeds.
#    Each seed's critic starts from a different offset b (`initial_offsets`), so a run that does
#    not identify the offset shows it. Per level: bias, per-step standard deviation and MSE.
# 2. The same sweep with the paper's separable MLP critic (`mlp_steps_per_level`; 0 skips it),
#    where the critic is no longer well-specified and optimisation decides what is reached.
# 3. The DV <-> NWJ interpolation, by Monte Carlo with the true critic of a 1-D Gaussian and
#    with perturbed versions of it (c = scale * log r + offset), for nu = beta * K at large K.
#
# Figures `figures/anchor_nu_k*.*`, `figures/anchor_offset.*` and
# `figures/anchor_interpolation.*` come from the **quick** profile
# (`python -m anchor.reproduce --profile quick --only anchor_nu_k`); the same names under
# `figures/paper/` from the **paper** profile (4,000 steps per level, the quadratic critic at
# lr 0.005, three MLP seeds; about 35 minutes on 2 CPU cores).

# %% tags=["parameters"]
profile: str = "smoke"
figure_dir: str = ""  # empty: results/figures of the checkout, wherever the notebook runs
stamp: bool = True  # print "anchor · profile: ..." small in a corner of every figure
cache_dir: str = ""  # folder of cached training runs; empty: no cache
bits: list[float] = [2.0, 4.0, 6.0, 8.0, 10.0]
nus: list[float] = [0.0, 0.1, 0.5, 1.0, 2.0, 8.0, 64.0]  # anchor weights, each with K of B - 1
ks: list[int] = [1, 4, 16]  # tuple sizes, each with nu of 1; K of B - 1 is in the nu sweep
seeds: list[int] = [0, 1, 2]
initial_offsets: list[float] = [-2.0, 0.0, 2.0]  # per seed: where the quadratic critic's offset b starts
steps_per_level: int = 20  # quadratic critic
lr: float = 0.01  # quadratic critic (a few parameters; Adam moves b by about lr per step)
mlp_steps_per_level: int = 10  # separable MLP critic; 0 skips part 2
mlp_lr: float = 5e-4
mlp_seeds: list[int] = [0]
batch_size: int = 64
dim: int = 10
interp_bits: float = 2.0  # true MI of the 1-D Gaussian in part 3
interp_k: int = 256
interp_tuples: int = 200
betas: list[float] = [0.001, 0.01, 0.1, 0.3, 1.0, 3.0, 10.0, 100.0, 1000.0]
critic_perturbations: list[list[float]] = [
    [1.0, 0.0],
    [1.0, 0.5],
    [1.0, -0.5],
    [0.8, 0.0],
]  # scale and offset of c, scale * log r + offset
device: str = "cpu"
workers: int = 1  # training processes running at once
scheduler: str = ""  # Dask scheduler address such as tcp://host:8786 to train on a cluster; empty: here
progress: bool = False
check_claims: bool = False  # assert the 5% claim (only meaningful at quick / paper level lengths)
seed: int = 0

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch

import anchor
from anchor import jobs
from anchor.notebook import Claims, check_parameters
from anchor.plotting import PAGE_WIDTH, TRUTH_COLOR, color, notebook_setup, save_figure, save_table
from anchor.true_critic import anchor_interpolation

check_parameters(globals())  # papermill's -p gives text: each parameter becomes its declared type or is refused
figure_dir = notebook_setup(figure_dir)
torch.manual_seed(seed)  # the notebook is the top-level program: seeding is its call
pd.set_option("display.width", 200)
FULL_K = batch_size - 1
sweeps = jobs.plan("anchor_nu_k", globals())  # the runs `anchor sweep` trains for this job
run = dict(cache=cache_dir, device=device, workers=workers, scheduler=scheduler, progress=progress)


def per_level(history):
    """Bias, per-step sd and MSE per (nu, K, seed, level), and their means over seeds."""
    summary = anchor.level_summary(history, by=("nu", "K", "seed"))
    summary["mi_true_bits"] = (summary.mi_true / math.log(2)).round(1)
    summary["relative_error"] = summary.bias / summary.mi_true
    return summary, anchor.staircase.seed_summary(summary, by=("nu", "K", "mi_true_bits"))


# %% [markdown]
# ## Part 1: the well-specified critic on the staircase
#
# `steps_per_level` steps per level, Adam at `lr`, a fresh batch of B = 64 pairs per step; the
# statistics are over the last quarter of each level (the last 1,000 steps of a 4,000-step
# level). Tables in nats.

# %% tags=["nbval-ignore-output"]
configs = sweeps["quadratic"].configs
history = jobs.run(sweeps["quadratic"], **run)
by_seed, summary = per_level(history)
save_table(summary, "anchor_nu_k_levels", figure_dir)
consistent = summary[summary.nu > 0]
print(f"{len(configs)} runs. Relative error of the plug-in, mean over {len(seeds)} seeds; rows (nu, K), columns: bits")
print(consistent.pivot_table(index=["nu", "K"], columns="mi_true_bits", values="relative_error").round(3).to_string())
print("\nper-step standard deviation (nats)")
print(consistent.pivot_table(index=["nu", "K"], columns="mi_true_bits", values="sd").round(3).to_string())
print("\nMSE (nats^2)")
print(consistent.pivot_table(index=["nu", "K"], columns="mi_true_bits", values="mse").round(3).to_string())

# %% [markdown]
# **nu = 0** (InfoNCE's loss): the plug-in minus the truth, per seed. The y-only part of the
# critic (y'Qy + b) is exactly the free function of the context: in exact arithmetic InfoNCE's
# gradient with respect to it is zero, so it would stay where it started. In float32 that
# gradient is rounding residue (about 1e-7), and Adam divides every step by the root-mean-square
# of recent gradients, so the residue still moves Q and b by about `lr` per step: the
# unidentified direction drifts steadily, at a rate set by each run's rounding noise, and the
# plug-in with it. (In float64 the residue is about 1e-16, below Adam's epsilon, and the offset
# does stay put; `tests/test_staircase.py` checks both.) Either way nothing ties it to the truth.

# %% tags=["nbval-ignore-output"]
zero = by_seed[by_seed.nu == 0]
one = pd.DataFrame()
if len(zero):
    print("nu = 0: plug-in minus truth (nats); rows: seed (starting offset), columns: bits")
    table = zero.pivot_table(index="seed", columns="mi_true_bits", values="bias")
    table.index = [f"seed {s} (b0 = {initial_offsets[seeds.index(s)]:+g})" for s in table.index]
    print(table.round(2).to_string())
    print("range across seeds per level:", (table.max() - table.min()).round(2).tolist())
    one = by_seed[(by_seed.nu == 1) & (by_seed.K == FULL_K)].pivot_table(
        index="seed", columns="mi_true_bits", values="bias"
    )
    print("nu = 1, the same range:", (one.max() - one.min()).round(3).tolist())

# %% [markdown]
# **Checks.** At nu = 0 the plug-in's error differs between seeds by more than a nat at every
# level, more than ten times the seed-to-seed range of the nu = 1 anchor (asserted with
# `check_claims`). For nu > 0 the cell prints, per setting, the largest relative error over the
# levels (mean over seeds) and whether it is within 5%. With `check_claims` (quick and paper
# profiles) the 5% bound is asserted for every K and every nu >= 0.5. The smallest weight,
# nu = 0.1, is printed but not asserted: its anchor term carries weight 0.1 / 63.1 of the loss,
# so the offset is held only weakly against the step noise of Adam, and in the quick profile
# (lr 0.01, 2,000 steps per level) it drifts about 6% high at 6 and 8 bits. Constant-step Adam
# leaves every setting a bias that grows with the MI and with the step: at lr 0.01 and the
# paper's 4,000 steps per level the anchor reads up to 6.6% high (nu = 1, K = 1, 8 bits) and the
# 5% check fails; at lr 0.005, the paper profile's step, the excess halves and every setting
# with nu >= 0.5 is within 5% (RESULTS.md).

# %% tags=["nbval-ignore-output"]
worst = consistent.loc[consistent.groupby(["nu", "K"]).relative_error.apply(lambda e: e.abs().idxmax())]
worst = worst[["nu", "K", "mi_true_bits", "relative_error"]].assign(within_5pct=worst.relative_error.abs() <= 0.05)
print("largest relative error over the levels, per setting (mean over seeds):")
print(worst.round(3).to_string(index=False))
claims = Claims(check_claims)
asserted = consistent[consistent.nu >= 0.5]
if len(asserted):
    largest = asserted.relative_error.abs().max()
    claims.test("every anchor with nu >= 0.5 within 5% at every level", largest <= 0.05, f"largest {largest:.1%}")
else:
    claims.skip("every anchor with nu >= 0.5 within 5% at every level", "no nu >= 0.5 was run")
seed_claim = "nu = 0: the offset differs by seed, by over a nat and ten times the nu = 1 range"
if len(zero) and len(seeds) > 1 and len(one):
    zero_range, one_range = table.max() - table.min(), one.max() - one.min()
    differs = (zero_range > 1.0).all() and (zero_range > 10 * one_range).all()
    claims.test(seed_claim, differs, f"nu = 0 ranges {zero_range.round(2).tolist()}")
else:
    claims.skip(seed_claim, "needs nu = 0 and nu = 1 at K = B - 1 and at least two seeds")
claims.report()

# %% [markdown]
# Left: the plug-in estimate per step (smoothed) for nu = 0 and nu = 1, one line per seed, with
# the true staircase: the nu = 1 runs sit on it whatever their start, the nu = 0 runs drift away
# along the direction InfoNCE cannot see. Right: bias per level against nu (K = B - 1), with the spread across seeds.

# %%
palette = dict(zip(bits, sns.color_palette("viridis", len(bits)), strict=True))
fig, axes = plt.subplots(1, 3, figsize=(PAGE_WIDTH, 2.6), layout="constrained")
for ax, nu in zip(axes[:2], (0.0, 1.0), strict=True):
    part = history[(history.nu == nu) & (history.K == FULL_K)]
    for k, (run_seed, group) in enumerate(part.groupby("seed")):
        ax.plot(
            group.step,
            group.estimate.ewm(span=50).mean(),
            lw=1.0,
            color=sns.color_palette("tab10")[k],
            label=f"seed {run_seed}, b0 = {initial_offsets[seeds.index(run_seed)]:+g}",
        )
    first = part[part.seed == part.seed.min()]
    ax.plot(first.step, first.mi_true, color=TRUTH_COLOR, lw=1.4, label="true MI")
    ax.set(xlabel="step", ylabel="plug-in estimate (nats)", title=f"quadratic critic, ν = {nu:g}, K = B − 1")
    ax.legend(fontsize=5)
ax = axes[2]
for b, group in consistent[consistent.K == FULL_K].groupby("mi_true_bits"):
    ax.errorbar(
        group.nu,
        group.bias,
        yerr=group.bias_seed_sd.fillna(0),
        marker="o",
        ms=3,
        capsize=2,
        color=palette[b],
        label=f"{b:g} bits",
    )
ax.axhline(0, color=TRUTH_COLOR, lw=1)
ax.set(xscale="log", xlabel="ν (anchor weight)", ylabel="bias (nats)", title="bias per level (K = B − 1)")
ax.legend(fontsize=5)
save_figure(fig, "anchor_offset", figure_dir, profile=profile, stamp=stamp)
plt.show()

# %% [markdown]
# Bias, per-step standard deviation and MSE per level against nu (top, K = B - 1) and against K
# (bottom, nu = 1), means over seeds.


# %%
def sweep_figure(summary, title):
    fig, axes = plt.subplots(2, 3, figsize=(PAGE_WIDTH, 4.4), sharex="row", layout="constrained")
    rows = [
        (summary[(summary.K == FULL_K) & (summary.nu > 0)], "nu", "ν (K = B − 1)"),
        (summary[(summary.nu == 1.0)], "K", "K (ν = 1)"),
    ]
    for row, (part, x, xlabel) in zip(axes, rows, strict=True):
        for ax, value, ylabel in zip(
            row, ("bias", "sd", "mse"), ("bias (nats)", "per-step sd (nats)", "MSE (nats²)"), strict=True
        ):
            for b, group in part.groupby("mi_true_bits"):
                group = group.sort_values(x)
                ax.plot(group[x], group[value], marker="o", ms=3, color=palette[b], label=f"{b:g} bits")
            ax.set(xscale="log", xlabel=xlabel, ylabel=ylabel)
            if value == "bias":
                ax.axhline(0, color=TRUTH_COLOR, lw=1)
            if value == "mse":
                ax.set_yscale("log")
    axes[0, 0].legend(fontsize=6)
    fig.suptitle(title)
    return fig


fig = sweep_figure(consistent, f"quadratic critic, {steps_per_level} steps per level, {len(seeds)} seeds")
save_figure(fig, "anchor_nu_k", figure_dir, profile=profile, stamp=stamp)
plt.show()

# %% [markdown]
# ## Part 2: the paper's separable MLP critic
#
# The same settings with the separable critic (two MLPs to 32-d embeddings), Adam at `mlp_lr`.
# Not asserted: here the critic cannot represent the log ratio exactly and the level length
# decides how close training gets; the table shows what these runs reach.

# %% tags=["nbval-ignore-output"]
if mlp_steps_per_level:
    mlp_configs = sweeps["mlp"].configs
    mlp_history = jobs.run(sweeps["mlp"], **run)
    _, mlp_summary = per_level(mlp_history)
    save_table(mlp_summary, "anchor_nu_k_mlp_levels", figure_dir)
    print(f"{len(mlp_configs)} runs, {mlp_steps_per_level} steps per level. Relative error; columns: bits")
    print(
        mlp_summary.pivot_table(index=["nu", "K"], columns="mi_true_bits", values="relative_error").round(3).to_string()
    )
    print("\nper-step standard deviation (nats)")
    print(mlp_summary.pivot_table(index=["nu", "K"], columns="mi_true_bits", values="sd").round(3).to_string())
    fig = sweep_figure(mlp_summary[mlp_summary.nu > 0], f"separable MLP critic, {mlp_steps_per_level} steps per level")
    save_figure(fig, "anchor_nu_k_mlp", figure_dir, profile=profile, stamp=stamp)
    plt.show()
else:
    print("part 2 skipped (mlp_steps_per_level = 0)")

# %% [markdown]
# ## Part 3: from DV to NWJ as beta = nu / K grows
#
# `anchor.true_critic.anchor_interpolation` evaluates the anchor log loss with nu = beta * K on
# Monte Carlo tuples of K = `interp_k` candidates and reports it as a value in nats,
# -(1 + beta) L + log K + (1 + beta) log(1 + beta) - beta log beta, whose K -> infinity limit is
# E_p[c] - (1 + beta) log((beta + E_q[e^c]) / (1 + beta)). For the true critic every one of these
# equals I. For a critic off by a constant (InfoNCE's free offset) or scaled, DV and NWJ
# differ, and the anchor's value slides from DV to NWJ as beta grows, in order:
# DV >= anchor(beta) >= NWJ.

# %% tags=["nbval-ignore-output"]
interp_sampler = anchor.GaussianSampler(1, mi=anchor.bits_to_nats(interp_bits))
interp = anchor_interpolation(
    interp_sampler,
    K=interp_k,
    betas=betas,
    critics=[tuple(c) for c in critic_perturbations],
    n_tuples=interp_tuples,
    seed=seed,
)
save_table(interp, "anchor_interpolation", figure_dir)
interp["critic"] = [f"{s:g} log r {o:+g}" for s, o in zip(interp.scale, interp.offset, strict=True)]
print(f"1-D Gaussian, I = {interp_sampler.mi:.3f} nats, K = {interp_k}; value (finite K) and limit, nats")
print(interp.pivot_table(index="critic", columns="beta", values="value", sort=False).round(3).to_string())
print(interp.groupby("critic", sort=False)[["dv", "nwj"]].first().round(3).to_string())

# %% [markdown]
# **Checks.** The limit lies between DV and NWJ and falls as beta grows (exact for the shared
# moment estimates); the finite-K value does too, within three standard errors plus the
# difference to its limit; at small beta it is within 0.02 nats of DV and at large beta within
# 0.02 nats of NWJ; with the true critic all equal I within four standard errors.

# %% tags=["nbval-ignore-output"]
tol = 1e-9
assert (interp.limit <= interp.dv + tol).all() and (interp.limit >= interp.nwj - tol).all()
for name, group in interp.groupby("critic", sort=False):
    assert (np.diff(group.sort_values("beta").limit) <= tol).all(), f"{name}: the limit is not monotone in beta"
    slack = 3 * group.stderr + (group.value - group.limit).abs()
    assert (group.value <= group.dv + slack).all() and (group.value >= group.nwj - slack).all(), name
    low, high = group.loc[group.beta.idxmin()], group.loc[group.beta.idxmax()]
    assert abs(low.limit - low.dv) < 0.02 and abs(high.limit - high.nwj) < 0.02, f"{name}: the ends are off"
    print(f"{name}: DV {low.dv:.3f} | anchor {group.value.max():.3f} .. {group.value.min():.3f} | NWJ {high.nwj:.3f}")
exact = interp[(interp.scale == 1.0) & (interp.offset == 0.0)]
assert ((exact.value - interp_sampler.mi).abs() <= 4 * exact.stderr).all(), "the true critic's value missed I"

# %%
fig, axes = plt.subplots(
    1, len(critic_perturbations), figsize=(PAGE_WIDTH, 2.5), sharey=True, squeeze=False, layout="constrained"
)
axes = axes[0]
for ax, (name, group) in zip(axes, interp.groupby("critic", sort=False), strict=True):
    ax.errorbar(
        group.beta,
        group.value,
        yerr=1.96 * group.stderr,
        marker="o",
        ms=3,
        capsize=2,
        color=color("anchor"),
        label=f"InfoNCE-anchor, K = {interp_k}",
    )
    ax.plot(group.beta, group.limit, color=color("anchor"), ls=(0, (1, 1)), lw=1.0, label="K → ∞")
    ax.axhline(group.dv.iloc[0], color=color("dv"), ls="--", label="DV")
    ax.axhline(group.nwj.iloc[0], color=color("nwj"), ls=":", label="NWJ")
    ax.axhline(interp_sampler.mi, color=TRUTH_COLOR, lw=1, label="true MI")
    ax.set(xscale="log", xlabel="β = ν / K", title=f"c = {name}")
axes[0].set_ylabel("value (nats)")
axes[-1].legend(fontsize=6)
save_figure(fig, "anchor_interpolation", figure_dir, profile=profile, stamp=stamp)
plt.show()
