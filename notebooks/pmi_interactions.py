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
# # Pointwise MI: calibration against the truth, and interactions ranked by c(x, y)
#
# **Smoke or real run?** The committed `notebooks/pmi_interactions.ipynb` is the smoke run CI
# re-executes in seconds (tiny settings: its numbers say nothing about the method). The runs that
# made the figures are in `notebooks/executed/`, each opening with its profile, date, machine and
# run time: [pmi_interactions (quick)](executed/pmi_interactions.quick.ipynb) and [pmi_interactions
# (paper)](executed/pmi_interactions.paper.ipynb).
#
# **Claim (Ryu et al. 2025, section 7, item 4).** The anchor's critic is the log density ratio
# itself, with no free offset C(y), so c(x, y) is a pointwise mutual information (PMI) that can
# rank pairs across different y. InfoNCE's critic is the log ratio only up to C(y), so its values
# cannot be compared across y.
#
# **Part 1, calibration.** `estimate_mi` keeps its fold critics; `est.pmi(x, y)` scores new
# pairs. On tasks whose log density ratio is known in closed form (a 5-d Gaussian and suite tasks,
# `anchor.tasks`), we compare `est.pmi` on fresh pairs with the exact PMI: Pearson correlation,
# RMSE, and a calibration curve (bins of equal count by predicted PMI; bin means).
#
# **Part 2, interactions** (protocol of Gowri et al. 2024, as in the paper): entities with
# embeddings, annotated interacting pairs; in each trial 170 entities are held out, a critic is
# trained on the annotated pairs that involve none of them (negatives: the product of the
# marginals), every held-out x held-out pair is scored by c(x, y), and the AUROC against the
# annotations is reported. The paper used ProtT5 protein embeddings with kinase-target and
# ligand-receptor annotations (files not shipped; `anchor.interactions.load_interactions` reads
# them when given, `source = "files"`). By default this notebook runs two synthetic worlds with a
# known PMI for every pair (`anchor.interactions.WORLDS`): a harder "kinase-like" and an easier
# "ligand-like" one; the AUROC of the true PMI is the ceiling beside every estimator.
#
# Paper (mean ± sd over 20 trials, kinase / ligand): LMI 0.74 ± 0.08 / 0.87 ± 0.04; chi² 0.76 ±
# 0.07 / 0.92 ± 0.03; JS 0.77 ± 0.08 / 0.95 ± 0.02; InfoNCE-anchor 0.80 ± 0.06 / 0.97 ± 0.01;
# spherical 0.73 ± 0.07 / 0.87 ± 0.05. LMI (latent KSG) is not run here (README).
#
# Figures `figures/pmi_calibration.*` and `figures/pmi_interactions.*` come from the **quick**
# profile (`python -m anchor.reproduce --profile quick --only pmi_interactions`); the same names
# under `figures/paper/` from the **paper** profile (n = 10,000, five suite tasks, 20 trials).

# %% tags=["parameters"]
from typing import Any

profile: str = "smoke"
figure_dir: str = ""  # empty: results/figures of the checkout, wherever the notebook runs
stamp: bool = True  # print "anchor · profile: ..." small in a corner of every figure
cache_dir: str = ""  # folder of cached runs; empty: no cache
calibration_tasks: list[str] = ["normal-1x1"]  # suite tasks besides the 5-d Gaussian with 1 nat
calibration_objectives: list[str] = ["anchor", "infonce"]
calibration_n: int = 1000  # training pairs per task
calibration_test: int = 2000  # fresh pairs scored per task
calibration_params: dict[str, Any] = {"max_steps": 100, "eval_every": 50}  # estimate_mi's arguments
sources: list[str] = ["kinase-like", "ligand-like"]  # names in anchor.interactions.WORLDS, or "files"
world_params: dict[str, Any] = {"n_x": 120, "n_y": 120, "draws": 2000}  # overrides of every world
embeddings: str = ""  # source "files": the .npz of embeddings (empty: $ANCHOR_INTERACTIONS_DIR)
pairs: str = ""  # source "files": the CSV of annotated pairs
objectives: list[str] = ["anchor", "infonce"]
trials: int = 1
held_out: int = 40  # entities held out per trial (the paper: 170)
estimate_params: dict[str, Any] = {"max_steps": 100, "eval_every": 50}  # estimate_mi's arguments
device: str = "cpu"
workers: int = 1  # processes running trials at once
scheduler: str = ""  # Dask scheduler address such as tcp://host:8786; empty: here
progress: bool = False
check_claims: bool = False

# %%
import matplotlib.pyplot as plt
import pandas as pd

import anchor
from anchor import jobs
from anchor.interactions import auroc_table, calibration
from anchor.notebook import Claims, check_parameters
from anchor.plotting import notebook_setup, plot_interaction_roc, plot_pmi_calibration, save_figure, save_table
from anchor.references import PAPER_INTERACTIONS_AUROC
from anchor.tasks import get_task

check_parameters(globals())  # papermill's -p gives text: each parameter becomes its declared type or is refused
figure_dir = notebook_setup(figure_dir)
pd.set_option("display.width", 200)
PAPER = pd.DataFrame.from_dict(PAPER_INTERACTIONS_AUROC, orient="index", columns=["kinase (paper)", "ligand (paper)"])
print(
    f"calibration: 5-d Gaussian + {calibration_tasks}, n = {calibration_n}; interactions: {sources}, "
    f"{trials} trial(s), {held_out} held out, objectives {objectives}"
)

# %% [markdown]
# ## Part 1: `est.pmi` against the exact log ratio
#
# Each task: `estimate_mi` on `calibration_n` pairs, then `est.pmi` on `calibration_test` fresh
# pairs against the task's `log_ratio`. The anchor's PMIs should fall on the diagonal; InfoNCE's
# carry its free offset C(y).

# %% tags=["nbval-ignore-output"]
samplers = {"gaussian-5d-1nat": anchor.GaussianSampler(5, mi=1.0), **{t: get_task(t) for t in calibration_tasks}}
curves, rows = {}, []
for task, sampler in samplers.items():
    x, y = sampler.sample(calibration_n, seed=0)
    x_new, y_new = sampler.sample(calibration_test, seed=1)
    true = sampler.log_ratio(x_new, y_new).double().numpy()
    for objective in calibration_objectives:
        est = anchor.estimate_mi(x, y, objective=objective, progress=False, warn=False, **calibration_params)
        table, stats = calibration(est.pmi(x_new, y_new), true)
        curves[f"{task} | {objective}"] = (table, stats)
        rows.append({"task": task, "objective": objective, "true_mi": sampler.mi, "estimate": est.mi, **stats})
calibrated = pd.DataFrame(rows)
save_table(calibrated, "pmi_calibration", figure_dir)
print(calibrated.round(3).to_string(index=False))

# %%
fig = plot_pmi_calibration(curves)
save_figure(fig, "pmi_calibration", figure_dir, profile=profile, stamp=stamp)
plt.show()

# %% [markdown]
# ## Part 2: ranking held-out pairs by c(x, y)
#
# One sweep run per (source, objective, trial): the world (or the files), the trial's held-out
# entities, `estimate_mi` with `estimate_params` on the remaining annotated pairs (5 cross-fitted
# folds by default; the fold critics are averaged), and `est.pmi` on every held-out pair.

# %% tags=["nbval-ignore-output"]
sweeps = jobs.plan("pmi_interactions", globals())  # the runs `anchor sweep` trains for this job
scored = jobs.run(
    sweeps["trials"], cache=cache_dir, device=device, workers=workers, scheduler=scheduler, progress=progress
)
aurocs = auroc_table(scored, by=("source", "objective", "trial"))
save_table(aurocs, "pmi_interactions_auroc", figure_dir)
summary = (
    aurocs.groupby(["objective", "source"], sort=False)
    .agg(mean=("auroc", "mean"), sd=("auroc", "std"), ceiling=("ceiling", "mean"), trials=("auroc", "size"))
    .reset_index()
)
save_table(summary, "pmi_interactions_summary", figure_dir)
shown = summary.assign(auroc=[f"{m:.3f} ± {s:.3f}" for m, s in zip(summary["mean"], summary.sd.fillna(0), strict=True)])
table = shown.pivot(index="objective", columns="source", values="auroc").reindex(objectives)
ceiling = summary.groupby("source").ceiling.mean()
table.loc["true PMI (ceiling)"] = [f"{ceiling[s]:.3f}" for s in table.columns]
print(table.join(PAPER, how="left").fillna("-").to_string())

# %%
fig = plot_interaction_roc(scored[scored.trial == 0], aurocs, order=objectives)
save_figure(fig, "pmi_interactions", figure_dir, profile=profile, stamp=stamp)
plt.show()

# %% [markdown]
# ## Does the anchor's ranking beat InfoNCE's?
#
# Per trial, the AUROC difference anchor - InfoNCE on the same held-out pairs (paired), its mean
# and standard deviation over trials.

# %% tags=["nbval-ignore-output"]
if {"anchor", "infonce"} <= set(objectives):
    wide = aurocs.pivot_table(index=["source", "trial"], columns="objective", values="auroc")
    diff = (wide["anchor"] - wide["infonce"]).groupby("source").agg(["mean", "std", "size"])
    print(diff.round(3).to_string())

# %% [markdown]
# ## Claims checked (quick and paper profiles)
#
# On the 5-d Gaussian the anchor's PMI is calibrated (correlation above 0.95, mean difference
# within 0.1 nats) and closer to the exact PMI than InfoNCE's (lower RMSE); on the easier
# synthetic world every plug-in objective ranks held-out pairs with AUROC above 0.85.

# %% tags=["nbval-ignore-output"]
claims = Claims(check_claims)
g = calibrated[calibrated.task == "gaussian-5d-1nat"].set_index("objective")
text = "the anchor's PMI is calibrated on the 5-d Gaussian (correlation > 0.95, |bias| < 0.1 nats)"
if "anchor" in g.index:
    row = g.loc["anchor"]
    calibrated_ok = row.correlation > 0.95 and abs(row.bias) < 0.1
    claims.test(text, calibrated_ok, f"correlation {row.correlation:.3f}, bias {row.bias:+.3f}")
else:
    claims.skip(text, "the Gaussian task or the anchor was not run")
text = "the anchor's PMI is closer to the exact PMI than InfoNCE's (RMSE)"
if {"anchor", "infonce"} <= set(g.index):
    rmse = g.rmse
    claims.test(text, rmse["anchor"] < rmse["infonce"], f"anchor {rmse['anchor']:.3f}, InfoNCE {rmse['infonce']:.3f}")
else:
    claims.skip(text, "needs the anchor and InfoNCE on the Gaussian task")
easy = summary[(summary.source == "ligand-like") & (summary.objective != "infonce")]
text = "every plug-in objective ranks the ligand-like world's pairs with AUROC above 0.85"
if len(easy):
    claims.test(text, (easy["mean"] > 0.85).all(), f"lowest {easy['mean'].min():.3f}")
else:
    claims.skip(text, "the ligand-like world, or a plug-in objective, was not run")
claims.report()
