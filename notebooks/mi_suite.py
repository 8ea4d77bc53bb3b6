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
# # An MI benchmark beyond the Gaussian staircase
#
# **Smoke or real run?** The committed `notebooks/mi_suite.ipynb` is the smoke run CI re-executes in
# seconds (tiny settings: its numbers say nothing about the method). The runs that made the figures
# are in `notebooks/executed/`, each opening with its profile, date, machine and run time: [mi_suite
# (quick)](executed/mi_suite.quick.ipynb).
#
# **Question.** How accurate is `anchor.estimate_mi` on distributions other than the staircase's
# Gaussians: heavy tails, non-linear maps, many dimensions, few samples, high MI? And how does it
# compare with the field's estimators on the same samples?
#
# **Tasks** (`anchor.tasks`, 31 of them, each with a closed-form MI): joint normals with dense
# (all coordinates equicorrelated) and sparse (two correlated pairs) covariances from 1x1 to
# 25x25; multivariate Student-t with 1, 2, 3 and 5 degrees of freedom (one with an identity scale
# matrix, whose MI comes from the heavy tails alone); the same behind invertible maps of X and Y,
# which keep the MI (half-cube, asinh, normal CDF, a wiggly monotone map, a spiral that rotates by
# an angle growing with the radius, a two-layer affine-coupling flow with fixed random weights);
# and five independent correlated pairs with MI 1 to 8 nats, two of them also behind the spiral.
# The design follows the "Beyond Normal" benchmark (Czyż et al., NeurIPS 2023) with our own
# parameters, so its published numbers are on other task instances.
#
# **Estimators**, all on the same samples (`anchor.benchmark`): the package's neural objectives
# through `estimate_mi` with one protocol for all (anchor, InfoNCE, NWJ, MINE, SMILE with
# tau = 5, NCE), KSG (k = 3, by `ennemi`) and CCA (the Gaussian MI of the sample covariance).
#
# **Scores**: mean absolute error (nats); the share of tasks solved, |log(estimate / truth)| <
# log 1.5 (the Beyond Normal criterion); the share within 10%; median seconds per estimate on this
# machine; and the coverage of `estimate_mi`'s 95% interval over independent data sets.
#
# **Published reference** (Beyond Normal's 40 tasks at n = 10,000, mean absolute error in nats,
# other task instances): MINDE-C 0.065, a zero-shot transformer estimator 0.060, InfoNCE 0.083,
# MINE 0.108, CCA 0.181, KSG 0.219.
#
# Figures `figures/mi_suite_*.*` and tables `figures/mi_suite_*.csv` come from the **quick**
# profile (`python -m anchor.reproduce --profile quick --only mi_suite`): one data set per task
# at n = 2,000, and for the neural estimators `estimate_mi`'s defaults except 2 cross-fitting
# folds instead of 5 (the same for all of them); the interval coverage uses the full defaults.
# The **paper** profile runs the defaults on every task at every size with 5 data seeds.

# %% tags=["parameters"]
from typing import Any, Optional

profile: str = "smoke"
figure_dir: str = ""  # empty: results/figures of the checkout, wherever the notebook runs
stamp: bool = True  # print "anchor · profile: ..." small in a corner of every figure
cache_dir: str = ""  # folder of cached runs; empty: no cache
tasks: Optional[list[str]] = ["normal-1x1", "student-dof3-2x2", "spiral-sparse-3x3"]  # None: every task
estimators: list[str] = ["anchor", "infonce", "nwj", "mine", "smile-5", "nce", "ksg", "cca"]
n: int = 500  # samples per data set in the main table
seeds: list[int] = [0]  # data seeds (each a new data set; also the estimators' seeds)
estimator_params: dict[str, Any] = {"folds": 2, "max_steps": 100, "eval_every": 50}  # for every neural estimator
size_tasks: Optional[list[str]] = ["normal-1x1"]  # the sample-size sweep; None: every task
sizes: list[int] = [200, 500]
size_estimators: list[str] = ["anchor", "infonce", "ksg", "cca"]
coverage_tasks: list[str] = ["normal-1x1"]  # estimate_mi's 95% interval over independent data sets
coverage_n: int = 500
coverage_seeds: int = 3  # number of data sets per task
coverage_params: dict[str, Any] = {"max_steps": 100, "eval_every": 50}  # estimate_mi's arguments ({}: its defaults)
device: str = "cpu"
workers: int = 1  # processes running estimates at once
scheduler: str = ""  # Dask scheduler address such as tcp://host:8786; empty: here
progress: bool = False
check_claims: bool = False

# %%
import math

import matplotlib.pyplot as plt
import pandas as pd

from anchor import jobs
from anchor.benchmark import coverage, family_scores, score
from anchor.notebook import Claims, check_parameters
from anchor.plotting import notebook_setup, plot_sample_sizes, plot_suite_heatmap, save_figure, save_table
from anchor.tasks import SUITE, get_task

check_parameters(globals())  # papermill's -p gives text: each parameter becomes its declared type or is refused
figure_dir = notebook_setup(figure_dir)
pd.set_option("display.width", 200)
pd.set_option("display.max_columns", 30)
task_names = list(SUITE) if tasks is None else tasks
sweeps = jobs.plan("mi_suite", globals())  # the runs `anchor sweep` trains for this job
run = dict(cache=cache_dir, device=device, workers=workers, scheduler=scheduler, progress=progress)
print(f"{len(task_names)} tasks, {len(estimators)} estimators, n = {n}, data seeds {seeds}")
print(
    pd.DataFrame(
        [
            {
                "task": t,
                "family": (s := get_task(t)).family,
                "dims": f"{s.dim_x}x{s.dim_y}",
                "true MI (nats)": round(s.mi, 4),
            }
            for t in task_names
        ]
    ).to_string(index=False)
)

# %% [markdown]
# ## The main table: every task, every estimator, the same samples

# %% tags=["nbval-ignore-output"]
results = jobs.run(sweeps["main"], **run)
save_table(results.drop(columns=["error"]), "mi_suite_runs", figure_dir)
failed = results[results.error != ""]
print(f"{len(results)} runs; failed: {len(failed)}")
for row in failed.itertuples():
    print(f"  {row.estimator} on {row.task}: {row.error[:160]}")
scores = score(results)
save_table(scores, "mi_suite_scores", figure_dir)
print(scores.round(3).to_string(index=False))

# %%
fig = plot_suite_heatmap(results, order=estimators)
fig.suptitle(f"Estimate / true MI, n = {n}", y=1.0)
save_figure(fig, "mi_suite_heatmap", figure_dir, profile=profile, stamp=stamp)
plt.show()

# %% [markdown]
# ## Per task family: MAE (nats) and each estimator's rank (1 = lowest MAE)

# %% tags=["nbval-ignore-output"]
families = family_scores(results)
save_table(families.reset_index(), "mi_suite_families", figure_dir)
print(families[[e for e in estimators if e in families]].round(3).to_string())
if "anchor" in estimators:
    print("\nrank of the anchor per family:", families["rank_anchor"].to_dict())

# %% [markdown]
# ## Where the anchor loses
#
# Per task: the anchor's absolute error against the best other estimator's (mean over data
# seeds), and the tasks where another estimator is closer to the truth by more than 0.02 nats.

# %% tags=["nbval-ignore-output"]
if "anchor" in estimators and len(estimators) > 1:
    err = results.assign(error_nats=results.estimate - results.truth).groupby(["task", "estimator"]).error_nats.mean()
    err = err.unstack()
    others = err.drop(columns="anchor").abs()
    versus = pd.DataFrame(
        {
            "family": results.drop_duplicates("task").set_index("task").family,
            "truth": results.drop_duplicates("task").set_index("task").truth,
            "anchor_error": err["anchor"],
            "best_other": others.idxmin(axis=1),
            "best_other_error": others.min(axis=1),
        }
    ).loc[task_names]
    loses = versus[versus.anchor_error.abs() > versus.best_other_error + 0.02]
    print(versus.round(3).to_string())
    print(f"\nthe anchor is beaten by more than 0.02 nats on {len(loses)} of {len(versus)} tasks:")
    print(loses.round(3).to_string() if len(loses) else "none")

# %% [markdown]
# ## Sample size
#
# Estimate / truth against n on a few tasks; the grey band is the "solved" range (within a factor
# 1.5 of the truth).

# %% tags=["nbval-ignore-output"]
by_size = jobs.run(sweeps["sizes"], **run)
save_table(by_size.drop(columns=["error"]), "mi_suite_sizes", figure_dir)
print(
    score(by_size, by=("task", "n", "estimator"))
    .pivot_table(index=["task", "n"], columns="estimator", values="mae", sort=False)
    .round(3)
    .to_string()
)

# %%
fig = plot_sample_sizes(by_size, order=size_estimators)
save_figure(fig, "mi_suite_sizes", figure_dir, profile=profile, stamp=stamp)
plt.show()

# %% [markdown]
# ## Does `estimate_mi`'s 95% interval hold the truth?
#
# The anchor with `coverage_params` (the quick and paper profiles: `estimate_mi`'s defaults) on
# `coverage_seeds` independent data sets per task. The interval spans from the held-out plug-in
# to the plug-in on the critics' own training rows, each end widened by the spread of the
# cross-fitted folds (`anchor.Estimate`), so it can show the bias every fold shares.

# %% tags=["nbval-ignore-output"]
cover_runs = jobs.run(sweeps["coverage"], **run)
covered = coverage(cover_runs)
save_table(covered, "mi_suite_coverage", figure_dir)
print(covered.round(3).to_string(index=False))
print(
    f"overall: {covered.coverage.mul(covered.data_sets).sum() / covered.data_sets.sum():.2f} of "
    f"{covered.data_sets.sum()} intervals hold the truth"
)

# %% [markdown]
# ## Claims checked (quick and paper profiles)
#
# What must hold whatever the CPU: CCA, the exact estimator for normal data, is within 0.05 nats
# on the normal tasks up to 10x10; InfoNCE cannot exceed log B (B = 64) plus its test noise, so
# it reads below 4.3 nats on the 6- and 8-nat tasks; KSG, a non-parametric estimator, falls short
# on the 25x25 normal tasks (below 80% of the truth on both, below half on the sparse one, whose
# MI sits in 2 of 50 coordinates), its known failure in many dimensions.

# %% tags=["nbval-ignore-output"]
claims = Claims(check_claims)
one = results.groupby(["task", "estimator"]).estimate.mean().unstack()
truth = results.groupby("task").truth.first()


def present(names, estimator):
    """The tasks of ``names`` that were run, and whether ``estimator`` was run on them."""
    run_tasks = [t for t in names if t in one.index]
    return run_tasks, bool(run_tasks) and estimator in one.columns


small_normal, ran = present([t for t in one.index if get_task(t).family == "normal" and get_task(t).dim_x <= 10], "cca")
text = "CCA within 0.05 nats on the normal tasks up to 10x10"
if ran:
    miss = (one.loc[small_normal, "cca"] - truth[small_normal]).abs().max()
    claims.test(text, miss < 0.05, f"largest miss {miss:.3f} on {len(small_normal)} tasks")
else:
    claims.skip(text, "no such task, or CCA, was run")
high, ran = present(["highmi-5pairs-6nat", "highmi-5pairs-8nat"], "infonce")
text = "InfoNCE below log 64 + 0.15 on the 6- and 8-nat tasks"
if ran:
    top = one.loc[high, "infonce"].max()
    claims.test(text, top < math.log(64) + 0.15, f"highest {top:.3f}")
else:
    claims.skip(text, "those tasks, or InfoNCE, were not run")
big, ran = present(["dense-25x25", "sparse-25x25"], "ksg")
text = "KSG below 80% of the truth on the 25x25 normal tasks (below half on the sparse one)"
if ran:
    ratio = one.loc[big, "ksg"] / truth[big]
    holds = ratio.max() < 0.8 and ratio.get("sparse-25x25", 0.0) < 0.5
    claims.test(text, holds, f"ratios {ratio.round(2).to_dict()}")
else:
    claims.skip(text, "those tasks, or KSG, were not run")
claims.report()
