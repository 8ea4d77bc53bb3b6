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
# **Smoke or real run?** The committed `notebooks/oracle.ipynb` is the smoke run CI re-executes in
# seconds (tiny settings: its numbers say nothing about the method). The runs that made the figures
# are in `notebooks/executed/`, each opening with its profile, date, machine and run time: [oracle
# (quick)](executed/oracle.quick.ipynb), [oracle (paper)](executed/oracle.paper.ipynb).
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
# (`python -m anchor.reproduce --profile quick --only oracle`), the same names under
# `figures/paper/` from the **paper** profile (`--profile paper`).

# %% tags=["parameters"]
profile: str = "smoke"
figure_dir: str = ""  # empty: results/figures of the checkout, wherever the notebook runs
stamp: bool = True  # print "anchor · profile: ..." small in a corner of every figure
dim: int = 10
batch_size: int = 64
n_batches: int = 40
levels_bits: list[float] = [2.0, 4.0, 6.0, 8.0, 10.0]
seed: int = 0

# %%
import math

import matplotlib.pyplot as plt
import pandas as pd
import torch

import anchor
from anchor.notebook import Claims, check_parameters
from anchor.plotting import PAGE_WIDTH, TRUTH_COLOR, color, display_name, notebook_setup, save_figure

check_parameters(globals())  # papermill's -p gives text: each parameter becomes its declared type or is refused
figure_dir = notebook_setup(figure_dir)
torch.manual_seed(seed)  # the notebook is the top-level program: seeding is its call
pd.set_option("display.width", 200)

# %% [markdown]
# Each objective's value on `n_batches` batches of held-out joint pairs (float64), with a
# standard error across the i.i.d. pairs (plug-in) or batches (bounds).

# %% tags=["nbval-ignore-output"]
rows = []
for k, bits in enumerate(levels_bits):
    sampler = anchor.GaussianSampler(dim, mi=anchor.bits_to_nats(bits))
    critic = anchor.OracleCritic(sampler)
    x, y = sampler.sample(batch_size * n_batches, seed=seed + k, dtype=torch.float64)
    for name in (*anchor.objectives.STAIRCASE_OBJECTIVES, "anchor-brier", "anchor-spherical"):
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

# %% tags=["nbval-ignore-output"]
claims = Claims(check=True)  # no training: every claim holds at any run length
plug_in = table[table.kind == "plug-in"]
error = (plug_in.estimate - plug_in.mi_true).abs()
holds = (error <= 4 * plug_in.stderr + 1e-9).all()
claims.test("every plug-in objective reads I (within 4 standard errors)", holds, f"largest miss {error.max():.4f} nats")
infonce_rows = table[table.objective == "infonce"]
claims.test("InfoNCE stays below log B", (infonce_rows.estimate <= math.log(batch_size)).all())
claims.test("InfoNCE stays below I", (infonce_rows.estimate < infonce_rows.mi_true).all())
nwj_rows = table[table.objective == "nwj"]
nwj_error = (nwj_rows.estimate - (nwj_rows.mi_true - math.exp(-1))).abs()
holds = (nwj_error <= 4 * nwj_rows.stderr + 1e-9).all()
claims.test(
    "NWJ at the true log ratio reads I - 1/e (within 4 standard errors)", holds, f"largest miss {nwj_error.max():.4f}"
)
claims.report()

# %% [markdown]
# Left: the plug-in objectives, their value minus the truth with 95% intervals (slightly
# shifted sideways so they do not hide each other); all sit on zero. Right: the bounds, their
# value against the truth (nats), with InfoNCE's ceiling log B.

# %%
plug_ins = [n for n in table.objective.unique() if (table[table.objective == n].kind == "plug-in").all()]
bounds = [n for n in table.objective.unique() if n not in plug_ins]
fig, (ax_err, ax) = plt.subplots(1, 2, figsize=(PAGE_WIDTH, 2.9), layout="constrained")
ax_err.axhline(0.0, color=TRUTH_COLOR, lw=1.0)
width = 0.08 * (max(table.mi_true) - min(table.mi_true)) / max(1, len(plug_ins) - 1)
for k, name in enumerate(plug_ins):
    group = table[table.objective == name]
    shift = (k - (len(plug_ins) - 1) / 2) * width
    ax_err.errorbar(
        group.mi_true + shift,
        group.estimate - group.mi_true,
        yerr=1.96 * group.stderr,
        marker="o",
        ms=2.5,
        lw=0.9,
        capsize=1.5,
        color=color(name),
        label=display_name(name),
    )
ax_err.set(xlabel="true MI (nats)", ylabel="value − true MI (nats)", title="Plug-in estimates at the true critic")
ax_err.legend(loc="upper left", ncol=2)
ax.plot(table.mi_true.unique(), table.mi_true.unique(), color=TRUTH_COLOR, lw=2.0, label="true MI", zorder=0)
ax.axhline(math.log(batch_size), color="0.45", ls=":", lw=1.0, label=f"log B (B = {batch_size})")
for name in bounds:
    group = table[table.objective == name]
    ax.plot(
        group.mi_true, group.estimate, marker="o", ms=2.5, lw=1.0, ls="--", color=color(name), label=display_name(name)
    )
ax.set(xlabel="true MI (nats)", ylabel="value at the true critic (nats)", title="Bounds at the true critic")
ax.legend(loc="upper left", ncol=2)
save_figure(fig, "oracle_objectives", figure_dir, profile=profile, stamp=stamp)
plt.show()
