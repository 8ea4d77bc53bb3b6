"""anchor: InfoNCE-anchor and the proper-scoring-rule family of mutual-information estimators.

The spine::

    logits = critic(x, y)                 # (B, B), logits[i, j] = c(x_i, y_j); diagonal = joint
    objective.loss(logits)                # scalar to minimise
    objective.estimate(logits)            # MI in nats: a bound, or the plug-in mean of the diagonal

``import anchor`` gives the names most uses need (``anchor.__all__``): ``estimate_mi`` and its
``Estimate``, the critics, the objectives, samplers and tasks with known MI, ``fit`` and
``evaluate``, and the sweep entry points. Everything else stays importable from its module.

The modules form four layers; each imports only from its own layer and the ones before it
(``tests/test_repo.py`` checks this, and that no import cycle exists):

- the estimator: ``critics``, ``scoring``, ``objectives``, ``data``, ``train``, ``marginals``,
  ``copula``, ``tables``, ``folds``, ``estimate_result``, ``estimate_checks``, ``fitting``,
  ``estimate``, ``conditional``, ``shared_pairs``, ``matrix`` (torch, numpy, pandas, scipy only);
- runs: ``sweep``, ``cache`` (parallel runs and their result cache);
- the experiments: ``tasks``, ``true_critic``, ``staircase``, ``bit_channels``, ``class_posterior``, ``images``,
  ``encoders``, ``representation``, ``ssl``, ``interactions``, ``benchmark``, ``cmi_tasks``,
  ``cmi_benchmark``, ``references``,
  and ``jobs`` (every figure notebook's training runs);
- the pipeline: ``paths``, ``names``, ``notebook``, ``plotting``, ``heatmaps``, ``results``, ``runner``,
  ``reproduce``, ``sweep_cli``, ``cli``, ``cli_tables``, ``data_files``, ``adapters``.

Reference: Ryu, Yeddanapudi, Xu, Wornell, "Contrastive Predictive Coding Done Right for Mutual
Information Estimation" (2025).
"""

from .bit_channels import ImdbBitsSampler, MnistBitsSampler
from .conditional import estimate_cmi
from .critics import (
    CRITICS,
    BilinearCritic,
    Critic,
    InnerProductCritic,
    JointCritic,
    OracleCritic,
    QuadraticCritic,
    SeparableCritic,
    get_critic,
)
from .data import (
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
from .estimate import Estimate, EstimateError, EstimateWarning, estimate_mi
from .matrix import MiMatrix, mi_matrix
from .objectives import OBJECTIVES, Objective, get_objective
from .ssl import run_ssl, ssl_configs
from .staircase import level_summary, run_staircase, staircase_configs
from .sweep import run_sweep
from .tasks import SUITE, get_task
from .train import Fit, evaluate, fit

__version__ = "0.1.0"

__all__ = [  # noqa: RUF022 (grouped by topic)
    # The estimator
    "estimate_mi",
    "Estimate",
    "EstimateError",
    "EstimateWarning",
    "estimate_cmi",
    "mi_matrix",
    "MiMatrix",
    # Critics
    "CRITICS",
    "Critic",
    "SeparableCritic",
    "JointCritic",
    "BilinearCritic",
    "InnerProductCritic",
    "QuadraticCritic",
    "OracleCritic",
    "get_critic",
    # Objectives
    "OBJECTIVES",
    "Objective",
    "get_objective",
    # Samplers with known MI
    "Sampler",
    "GaussianSampler",
    "CubicSampler",
    "MnistBitsSampler",
    "ImdbBitsSampler",
    "Staircase",
    "gaussian_staircase",
    "bits_to_nats",
    "nats_to_bits",
    "mi_to_rho",
    "rho_to_mi",
    "SUITE",
    "get_task",
    # Training
    "fit",
    "evaluate",
    "Fit",
    # Sweeps
    "run_staircase",
    "staircase_configs",
    "level_summary",
    "run_ssl",
    "ssl_configs",
    "run_sweep",
]
