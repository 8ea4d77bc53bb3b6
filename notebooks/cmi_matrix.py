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
# # Conditional MI and the MI of every pair of columns
#
# **Smoke or real run?** The committed `notebooks/cmi_matrix.ipynb` is the smoke run CI
# re-executes in seconds (tiny settings: its numbers say nothing about the method). The runs that
# made the figures are in `notebooks/executed/`, each opening with its profile, date, machine and
# run time: [cmi_matrix (quick)](executed/cmi_matrix.quick.ipynb) and [cmi_matrix
# (paper)](executed/cmi_matrix.paper.ipynb).
#
# **Conditional MI** I(X; Y | Z) (`anchor.estimate_cmi`): the chain rule
# I(X; Y | Z) = I(X; (Y, Z)) - I(X; Z), each term a plug-in of the anchor's consistent critic,
# both on the same cross-fitting folds, so the interval is built from the per-fold differences.
# Checked on the conditional task family (`anchor.cmi_tasks`, closed-form CMI): Gaussian
# (X, Y, Z); the same behind invertible maps of X, Y and Z; a discrete Z (CMI the mixture of the
# per-class MIs); explaining away (I(X; Y) = 0 < I(X; Y | Z)); a common cause (I(X; Y) > 0 =
# I(X; Y | Z)), linear and non-linear. Peers on the same samples: the Gaussian partial
# correlation and the Frenzel-Pompe conditional KSG (k = 3, `ennemi`).
#
# **The MI matrix** (`anchor.mi_matrix`): every pair of columns with one shared model, checked
# on a table with known pairwise MI (`anchor.tasks.known_mi_table`: normal columns behind monotone
# maps), then drawn for a real table shipped offline (scikit-learn's diabetes data) beside the
# same matrix from KSG and from the linear correlation.
#
# Figures `figures/cmi_*.*` and `figures/mi_matrix_*.*` come from the **quick** profile
# (`python -m anchor.reproduce --profile quick --only cmi_matrix`); `figures/paper/` holds the
# **paper** profile's (n = 1,000, 5,000 and 10,000, three data sets each, asserting the claims
# at the end; about 50 minutes on one core), whose CMI table is that of
# `python -m anchor.cmi_benchmark`. The matrix timing against its peers is
# `benchmarks/mi_matrix.py`.

# %% tags=["parameters"]
from typing import Any, Optional

profile: str = "smoke"
figure_dir: str = ""  # empty: results/figures of the checkout, wherever the notebook runs
stamp: bool = True  # print "anchor · profile: ..." small in a corner of every figure
cache_dir: str = ""  # folder of cached runs; empty: no cache
cmi_tasks: Optional[list[str]] = ["explaining-away", "common-cause-linear"]  # None: the whole family
cmi_estimators: list[str] = ["anchor", "partial-corr", "ksg"]
cmi_sizes: list[int] = [400]
cmi_seeds: int = 1  # data sets per task and size
cmi_params: dict[str, Any] = {"folds": 3, "max_steps": 200}  # estimate_cmi's arguments ({}: its defaults)
matrix_n: int = 400  # rows of the known-MI table
matrix_columns: int = 6
matrix_params: dict[str, Any] = {"max_steps": 200}  # mi_matrix's arguments ({}: its defaults)
real_columns: Optional[list[str]] = ["age", "bmi", "bp", "s1", "s5", "target"]  # diabetes columns; None: all
device: str = "cpu"
workers: int = 1  # processes running estimates at once
scheduler: str = ""  # Dask scheduler address such as tcp://host:8786; empty: here
progress: bool = False
check_claims: bool = False

# %%
import itertools

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import anchor
from anchor import jobs
from anchor.benchmark import ksg_mi
from anchor.cmi_benchmark import cmi_summary, ksg_cmi, partial_correlation_cmi
from anchor.cmi_tasks import CMI_SUITE, get_cmi_task
from anchor.heatmaps import plot_mi_matrices
from anchor.names import TRUTH_COLOR, color
from anchor.notebook import Claims, check_parameters
from anchor.plotting import notebook_setup, save_figure, save_table
from anchor.tasks import known_mi_table

check_parameters(globals())  # papermill's -p gives text: each parameter becomes its declared type or is refused
figure_dir = notebook_setup(figure_dir)
pd.set_option("display.width", 200)
task_names = list(CMI_SUITE) if cmi_tasks is None else cmi_tasks
sweeps = jobs.plan("cmi_matrix", globals())  # the runs `anchor sweep` trains for this job
run = dict(cache=cache_dir, device=device, workers=workers, scheduler=scheduler, progress=progress)
print(
    pd.DataFrame(
        [
            {
                "task": t,
                "kind": (s := get_cmi_task(t)).kind,
                "dims (x, y | z)": "{}x{} | {}".format(*s.dims),
                "I(X; Y | Z)": round(s.cmi, 4),
                "I(X; Y)": round(s.mi, 4),
            }
            for t in task_names
        ]
    ).to_string(index=False)
)

# %% [markdown]
# ## Conditional MI: every estimator on the same samples

# %% tags=["nbval-ignore-output"]
cmi = jobs.run(sweeps["cmi"], **run)
save_table(cmi.drop(columns=["error"]), "cmi_runs", figure_dir)
by_task = cmi_summary(cmi, by=("task", "n", "estimator"))
save_table(by_task, "cmi_scores", figure_dir)
print(cmi_summary(cmi).round(3).to_string(index=False))
print()
print(by_task.pivot_table(index=["task", "n"], columns="estimator", values="mae").round(3).to_string())

# %%
fig, ax = plt.subplots(figsize=(7.0, 0.45 * len(task_names) + 1.0))
offsets = {e: (k - (len(cmi_estimators) - 1) / 2) * 0.22 for k, e in enumerate(cmi_estimators)}
colors = {e: color(e if e != "partial-corr" else "cca") for e in cmi_estimators}
for k, task in enumerate(task_names):
    truth = get_cmi_task(task).cmi
    ax.plot([truth, truth], [k - 0.4, k + 0.4], color=TRUTH_COLOR, lw=2, zorder=1)
    for e in cmi_estimators:
        r = cmi[(cmi.task == task) & (cmi.estimator == e)]
        ax.scatter(r.estimate, np.full(len(r), k + offsets[e]), s=14, color=colors[e], zorder=2,
                   label=e if k == 0 else None)  # fmt: skip
        if r.ci_low.notna().any():
            ax.hlines(np.full(len(r), k + offsets[e]), r.ci_low, r.ci_high, color=colors[e], lw=0.8, alpha=0.6)
ax.set_yticks(range(len(task_names)), task_names)
ax.invert_yaxis()
ax.set_xlabel("I(X; Y | Z) estimate (nats); black bar: truth; lines: anchor's 95% intervals")
ax.legend(fontsize=7, loc="lower right")
ax.set_title(f"Conditional MI, n = {', '.join(map(str, cmi_sizes))}, {cmi_seeds} data set(s) each", fontsize=9)
save_figure(fig, "cmi_tasks", figure_dir, profile=profile, stamp=stamp)
plt.show()

# %% [markdown]
# ## Explaining away and a common cause: I(X; Y) and I(X; Y | Z) move in opposite directions
#
# The anchor's two chain-rule terms are in `est.parts`; the unconditional I(X; Y) is
# `estimate_mi` on the same rows.

# %% tags=["nbval-ignore-output"]
cases = [t for t in ("explaining-away", "common-cause-linear", "common-cause-nonlinear") if t in task_names]
rows = []
for task in cases:
    t = get_cmi_task(task)
    x, y, z = t.sample(max(cmi_sizes), seed=0)
    conditional = anchor.estimate_cmi(x, y, z, progress=False, warn=False, **cmi_params)
    plain = anchor.estimate_mi(x, y, progress=False, warn=False, keep_critics=False, **cmi_params)
    rows.append(
        {
            "task": task,
            "I(X;Y) truth": t.mi,
            "I(X;Y) anchor": plain.mi,
            "I(X;Y|Z) truth": t.cmi,
            "I(X;Y|Z) anchor": conditional.mi,
            "95% CI": f"{conditional.ci_low:.3f} to {conditional.ci_high:.3f}",
            "partial corr": partial_correlation_cmi(x, y, z),
            "KSG": ksg_cmi(x, y, z),
        }
    )
opposite = pd.DataFrame(rows)
print(opposite.round(3).to_string(index=False))

# %% [markdown]
# ## The MI matrix on a table with known pairwise MI

# %% tags=["nbval-ignore-output"]
table, truth = known_mi_table(matrix_n, columns=matrix_columns, seed=0)
known = anchor.mi_matrix(table, progress=progress, **matrix_params)
print(known)
names = list(table.columns)
pairs = list(itertools.combinations(names, 2))
ksg_known = pd.DataFrame(np.nan, index=names, columns=names)
for a, b in pairs:
    ksg_known.loc[a, b] = ksg_known.loc[b, a] = ksg_mi(table[a].to_numpy(), table[b].to_numpy())
linear = -0.5 * np.log1p(-(table.corr().to_numpy() ** 2).clip(max=1 - 1e-12))
np.fill_diagonal(linear, np.nan)
linear_known = pd.DataFrame(linear, index=names, columns=names)
iu = np.triu_indices(len(names), 1)
known_errors = pd.DataFrame(
    {
        name: {
            "MAE (nats)": np.abs(m.to_numpy()[iu] - truth.to_numpy()[iu]).mean(),
            "largest error": np.abs(m.to_numpy()[iu] - truth.to_numpy()[iu]).max(),
        }
        for name, m in (("mi_matrix", known.matrix()), ("KSG", ksg_known), ("linear correlation", linear_known))
    }
).T
frame = known.frame.assign(truth=[truth.loc[r.a, r.b] for r in known.frame.itertuples()])
known_errors["coverage"] = [((frame.ci_low <= frame.truth) & (frame.truth <= frame.ci_high)).mean(), np.nan, np.nan]
save_table(known_errors.reset_index(names="estimator"), "mi_matrix_known", figure_dir)
print(known_errors.round(4).to_string())

# %%
fig = plot_mi_matrices(
    {"truth": truth, "mi_matrix": known.matrix(), "KSG": ksg_known, "linear correlation": linear_known}
)
fig.suptitle(f"A table with known pairwise MI, {matrix_columns} columns x {matrix_n} rows", y=1.02, fontsize=9)
save_figure(fig, "mi_matrix_known", figure_dir, profile=profile, stamp=stamp)
plt.show()

# %% [markdown]
# ## A real table: scikit-learn's diabetes data (442 patients)
#
# No truth here: the three matrices side by side. Most columns take few distinct values (age 58,
# s3 63, s4 66, s6 56 among 442 rows; sex is binary), so KSG's nearest-neighbour distances tie,
# and it reads many pairs far higher than the other two do. The linear correlation sees only
# straight-line dependence.

# %% tags=["nbval-ignore-output"]
from sklearn.datasets import load_diabetes

diabetes = load_diabetes(as_frame=True).frame
real = diabetes if real_columns is None else diabetes[real_columns]
real_matrix = anchor.mi_matrix(real, progress=progress, **matrix_params)
print(real_matrix)
names = list(real.columns)
ksg_real = pd.DataFrame(np.nan, index=names, columns=names)
for a, b in itertools.combinations(names, 2):
    ksg_real.loc[a, b] = ksg_real.loc[b, a] = max(ksg_mi(real[a].to_numpy(), real[b].to_numpy()), 0.0)
linear = -0.5 * np.log1p(-(real.corr().to_numpy() ** 2).clip(max=1 - 1e-12))
np.fill_diagonal(linear, np.nan)
linear_real = pd.DataFrame(linear, index=names, columns=names)
save_table(real_matrix.frame.drop(columns="warnings"), "mi_matrix_diabetes", figure_dir)
print(
    real_matrix.frame.sort_values("mi", ascending=False)
    .head(8)[["a", "b", "mi", "ci_low", "ci_high", "trusted"]]
    .round(3)
    .to_string(index=False)
)

# %%
fig = plot_mi_matrices({"mi_matrix": real_matrix.matrix(), "KSG": ksg_real, "linear correlation": linear_real})
fig.suptitle(f"Diabetes data: {len(names)} columns x {len(real)} rows", y=1.02, fontsize=9)
save_figure(fig, "mi_matrix_diabetes", figure_dir, profile=profile, stamp=stamp)
plt.show()

# %% [markdown]
# ## The claims, checked

# %%
claims = Claims(check_claims)
anchor_runs = cmi[cmi.estimator == "anchor"]
for task, kind in (("common-cause-linear", "common cause"), ("common-cause-nonlinear", "non-linear common cause")):
    r = anchor_runs[anchor_runs.task == task]
    if len(r):
        claims.test(
            f"{kind}: every anchor interval holds I(X; Y | Z) = 0",
            bool((r.ci_low == 0).all()),
            f"lower ends {r.ci_low.round(3).tolist()}",
        )
    else:
        claims.skip(f"{kind}: the interval holds 0", f"task {task} not run")
r = anchor_runs[anchor_runs.task == "explaining-away"]
if len(r):
    claims.test(
        "explaining away: every anchor interval excludes 0 (I(X; Y) = 0 but I(X; Y | Z) = 0.51)",
        bool((r.ci_low > 0).all()),
        f"lower ends {r.ci_low.round(3).tolist()}",
    )
else:
    claims.skip("explaining away: the interval excludes 0", "task explaining-away not run")
summary = cmi_summary(cmi, by=("estimator",)).set_index("estimator")
if {"anchor", "ksg"} <= set(summary.index):
    claims.test(
        "the anchor's CMI is more accurate than KSG's over the family (MAE)",
        summary.loc["anchor", "mae"] < summary.loc["ksg", "mae"],
        f"anchor {summary.loc['anchor', 'mae']:.3f}, KSG {summary.loc['ksg', 'mae']:.3f} nats",
    )
claims.test(
    "mi_matrix: mean absolute error on the known-MI table below 0.02 nats",
    known_errors.loc["mi_matrix", "MAE (nats)"] < 0.02,
    f"{known_errors.loc['mi_matrix', 'MAE (nats)']:.4f} nats",
)
claims.report()
