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
# # Every objective with the true critic
#
# **Claim** (Ryu et al. 2025, sections on InfoNCE and on consistency). Give each objective the
# true log density ratio c = log p(x, y) / (p(x) p(y)) of the correlated Gaussian (d = 10) and no
# training at all:
#
# - every *plug-in* objective (InfoNCE-anchor, its Brier / spherical / pseudo-spherical variants,
#   NCE, chi^2) reports the mean of c over joint pairs, which is exactly I;
# - InfoNCE stays below log B (and below I): it is a K-way Jensen-Shannon quantity, not I;
# - NWJ at c = log r reads I - 1/e (its optimum is c = 1 + log r); JS reports NWJ at c + 1 and
#   reads I; DV and MINE read I on average, with a variance that explodes as I grows; SMILE's
#   clipping biases it upward at high MI.
#
# So any gap between a *trained* plug-in estimate and the truth is the critic's error, never the
# objective's. The staircase levels are 2 to 10 bits, batches of B = 64.
#
# Figures in `figures/oracle_objectives.*` come from the **quick** profile
# (`python -m anchor.reproduce --profile quick --only oracle`).

# %% tags=["parameters"]
profile: str = "smoke"
figure_dir: str = "../results/figures"
dim: int = 10
batch_size: int = 64
n_batches: int = 40
levels_bits: list[float] = [2.0, 4.0, 6.0, 8.0, 10.0]
seed: int = 0

# %%
import math

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
import torch

import anchor
from anchor.plotting import save_figure, use_style

torch.manual_seed(seed)
torch.set_num_threads(2)
use_style()

# %% [markdown]
# Each objective's value on `n_batches` batches of held-out joint pairs (float64), with a
# standard error across the i.i.d. pairs (plug-in) or batches (bounds).

# %% tags=["nbval-ignore-output"]
rows = []
for k, bits in enumerate(levels_bits):
    sampler = anchor.GaussianSampler(dim, mi=anchor.bits_to_nats(bits))
    critic = anchor.OracleCritic(sampler)
    x, y = sampler.sample(batch_size * n_batches, seed=seed + k, dtype=torch.float64)
    for name in (*anchor.ESTIMATORS, "anchor-brier", "anchor-spherical"):
        objective = anchor.get_objective(name)
        held = anchor.evaluate(critic, objective, x, y, batch_size=batch_size)
        rows.append(
            {
                "objective": name,
                "kind": objective.kind,
                "mi_true": sampler.mi,
                "estimate": held.mi,
                "stderr": held.stderr,
            }
        )
table = pd.DataFrame(rows)
wide = table.assign(level_bits=anchor.nats_to_bits(table.mi_true).round(1)).pivot(
    index="objective", columns="level_bits", values="estimate"
)
print(
    "oracle value in nats; columns: true MI in bits; truth in nats:",
    [round(anchor.bits_to_nats(b), 3) for b in levels_bits],
)
print(wide.round(2).to_string())

# %% [markdown]
# The claims, checked on these numbers (tolerances: four standard errors).

# %%
plug_in = table[table.kind == "plug-in"]
assert ((plug_in.estimate - plug_in.mi_true).abs() <= 4 * plug_in.stderr + 1e-9).all(), "a plug-in missed I"
infonce_rows = table[table.objective == "infonce"]
assert (infonce_rows.estimate <= math.log(batch_size)).all()
assert (infonce_rows.estimate < infonce_rows.mi_true).all()
nwj_rows = table[table.objective == "nwj"]
assert ((nwj_rows.estimate - (nwj_rows.mi_true - math.exp(-1))).abs() <= 4 * nwj_rows.stderr + 1e-9).all()
print("all checks passed")

# %% [markdown]
# Left: each objective's value against the truth (plug-ins solid, bounds dashed; the plug-ins
# coincide). Right: the error, value minus truth, with 95% intervals.

# %%
palette = dict(zip(table.objective.unique(), sns.color_palette("tab20", table.objective.nunique()), strict=True))
fig, (ax, ax_err) = plt.subplots(1, 2, figsize=(10, 4.2))
ax.plot(levels_bits, levels_bits, color="black", lw=2.5, label="true MI", zorder=0)
ax.axhline(anchor.nats_to_bits(math.log(batch_size)), color="0.4", ls=":", label=f"log B (B = {batch_size})")
ax_err.axhline(0.0, color="black", lw=1)
for name, group in table.groupby("objective", sort=False):
    style = dict(ls="-" if group.kind.iloc[0] == "plug-in" else "--", marker="o", ms=3, lw=1.2, color=palette[name])
    truth_bits = anchor.nats_to_bits(group.mi_true)
    value_bits = anchor.nats_to_bits(group.estimate)
    half = 1.96 * anchor.nats_to_bits(group.stderr)
    ax.plot(truth_bits, value_bits, label=name, **style)
    ax_err.errorbar(truth_bits, value_bits - truth_bits, yerr=half, capsize=2, **style)
ax.set(xlabel="true MI (bits)", ylabel="value with the true critic (bits)", title="Objectives at the oracle critic")
ax_err.set(xlabel="true MI (bits)", ylabel="value - true MI (bits)", title="Error at the oracle critic")
ax.legend(ncol=2, fontsize=7, loc="upper left")
fig.tight_layout()
save_figure(fig, "oracle_objectives", figure_dir, profile=profile)
plt.close(fig)
