"""anchor: InfoNCE-anchor and the proper-scoring-rule family of mutual-information estimators.

The spine::

    logits = critic(x, y)                 # (B, B), logits[i, j] = c(x_i, y_j); diagonal = joint
    objective.loss(logits)                # scalar to minimise
    objective.estimate(logits)            # MI in nats: a bound, or the plug-in mean of the diagonal

The modules form three layers; each imports only from its own layer and the ones above it
(``tests/test_repo.py`` checks this):

- the estimator: ``critics``, ``scoring``, ``objectives``, ``data``, ``train``, ``marginals``,
  ``copula`` (the Gaussian-copula start), ``tables`` (DataFrames and categories in), ``estimate``
  (torch, numpy, pandas, scipy only);
- the experiments: ``tasks``, ``theory``, ``staircase``, ``unstructured``, ``overlap``, ``images``,
  ``encoders``, ``representation``, ``ssl``, ``interactions``, ``benchmark``;
- the pipeline: ``sweep`` and ``cache`` (used by the experiments to run and store their runs),
  ``reproduce``, ``plotting``, ``results``, ``cli``, ``staircase_cli``, ``adapters``.

Reference: Ryu, Yeddanapudi, Xu, Wornell, "Contrastive Predictive Coding Done Right for Mutual
Information Estimation" (2025).
"""

from .cache import CacheFileError, ResultCache, config_key
from .critics import (
    CRITICS,
    BilinearCritic,
    Critic,
    InnerProductCritic,
    JointCritic,
    Logits,
    OracleCritic,
    QuadraticCritic,
    SeparableCritic,
    get_critic,
    mlp,
)
from .data import (
    SAMPLERS,
    STAIRCASE_BITS,
    CubicSampler,
    GaussianSampler,
    Sampler,
    Staircase,
    bits_to_nats,
    gaussian_staircase,
    mi_to_rho,
    nats_to_bits,
    rho_to_mi,
)
from .encoders import ENCODERS, ContrastiveCritic, ResNet18, SmallCNN
from .estimate import Estimate, EstimateError, EstimateWarning, estimate_mi
from .images import IMAGE_DATASETS, Augment, ImageData, find_cifar, load_images
from .interactions import WORLDS, InteractionData, InteractionWorld, load_interactions
from .marginals import MARGINALS, fit_marginals
from .objectives import (
    ESTIMATORS,
    OBJECTIVES,
    Objective,
    anchor_objective,
    chi2_loss,
    dv,
    get_objective,
    infonce,
    js_fgan,
    nwj,
    plug_in,
    smile,
    tuba,
)
from .overlap import class_posterior_mi, linear_class_posterior
from .representation import alignment, knn_accuracy, linear_cka, linear_probe, uniformity
from .scoring import SCORING_RULES, anchor_loss, get_scoring_rule, window_logsumexp
from .ssl import (
    PAPER_SSL_CIFAR100,
    RANDOM_INIT,
    SSL_DEFAULTS,
    SSL_OBJECTIVES,
    checkpoint_features,
    encode,
    run_ssl,
    ssl_configs,
    ssl_summary,
    sweep_ssl,
)
from .staircase import (
    DOMAINS,
    LEE_RHEE_GAUSSIAN_JOINT,
    level_summary,
    make_staircase,
    oracle_batch_noise,
    run_staircase,
    seed_summary,
    staircase_configs,
    sweep_staircase,
)
from .sweep import run_sweep
from .train import (
    DIVERGENCE_NATS,
    DIVERGENCE_STEPS,
    ArraySampler,
    DivergedError,
    Fit,
    HeldOut,
    NonFiniteLossError,
    evaluate,
    fit,
    held_out_loss,
)
from .unstructured import ImdbBitsSampler, MnistBitsSampler, bsc_crossover, find_imdb_embeddings

__version__ = "0.1.0"

__all__ = [
    "CRITICS",
    "DIVERGENCE_NATS",
    "DIVERGENCE_STEPS",
    "DOMAINS",
    "ENCODERS",
    "ESTIMATORS",
    "IMAGE_DATASETS",
    "LEE_RHEE_GAUSSIAN_JOINT",
    "MARGINALS",
    "OBJECTIVES",
    "PAPER_SSL_CIFAR100",
    "RANDOM_INIT",
    "SAMPLERS",
    "SCORING_RULES",
    "SSL_DEFAULTS",
    "SSL_OBJECTIVES",
    "STAIRCASE_BITS",
    "WORLDS",
    "ArraySampler",
    "Augment",
    "BilinearCritic",
    "CacheFileError",
    "ContrastiveCritic",
    "Critic",
    "CubicSampler",
    "DivergedError",
    "Estimate",
    "EstimateError",
    "EstimateWarning",
    "Fit",
    "GaussianSampler",
    "HeldOut",
    "ImageData",
    "ImdbBitsSampler",
    "InnerProductCritic",
    "InteractionData",
    "InteractionWorld",
    "JointCritic",
    "Logits",
    "MnistBitsSampler",
    "NonFiniteLossError",
    "Objective",
    "OracleCritic",
    "QuadraticCritic",
    "ResNet18",
    "ResultCache",
    "Sampler",
    "SeparableCritic",
    "SmallCNN",
    "Staircase",
    "alignment",
    "anchor_loss",
    "anchor_objective",
    "bits_to_nats",
    "bsc_crossover",
    "checkpoint_features",
    "chi2_loss",
    "class_posterior_mi",
    "config_key",
    "dv",
    "encode",
    "estimate_mi",
    "evaluate",
    "find_cifar",
    "find_imdb_embeddings",
    "fit",
    "fit_marginals",
    "gaussian_staircase",
    "get_critic",
    "get_objective",
    "get_scoring_rule",
    "held_out_loss",
    "infonce",
    "js_fgan",
    "knn_accuracy",
    "level_summary",
    "linear_cka",
    "linear_class_posterior",
    "linear_probe",
    "load_images",
    "load_interactions",
    "make_staircase",
    "mi_to_rho",
    "mlp",
    "nats_to_bits",
    "nwj",
    "oracle_batch_noise",
    "plug_in",
    "rho_to_mi",
    "run_ssl",
    "run_staircase",
    "run_sweep",
    "seed_summary",
    "smile",
    "ssl_configs",
    "ssl_summary",
    "staircase_configs",
    "sweep_ssl",
    "sweep_staircase",
    "tuba",
    "uniformity",
    "window_logsumexp",
]
