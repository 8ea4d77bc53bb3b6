"""``estimate_mi`` on small real tables, as a new user would try it: scikit-learn's bundled data.

    python benchmarks/sklearn_tables.py            # wine, diabetes, breast cancer, digits
    python benchmarks/sklearn_tables.py --only wine
    python benchmarks/sklearn_tables.py --exact    # discrete and mixed data with exact MI

Each case passes pandas columns straight to ``anchor.estimate_mi`` with its defaults and prints
what the user is told (``str(est)`` and every warning), beside two peers on the same rows: KSG
(k = 3, ``anchor.benchmark.ksg_mi``) and the Gaussian MI of the sample covariance (CCA). The true
MI of real data is unknown; a class label bounds it (I(X; label) <= H(label)), printed where it
applies. ``--exact`` instead runs the discrete and mixed samplers with known MI
(``anchor.tasks.SymmetricChannel``, ``ClassMixture``) at n = 1,000 and 5,000 on three data sets
each, and prints each estimate with its interval against the exact value.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import pandas as pd


def cases() -> dict[str, tuple[pd.DataFrame, pd.DataFrame | pd.Series, str]]:
    """name -> (x, y, what is measured)."""
    from sklearn import datasets

    wine = datasets.load_wine(as_frame=True).frame
    diabetes = datasets.load_diabetes(as_frame=True).frame
    cancer = datasets.load_breast_cancer(as_frame=True).frame
    digits = datasets.load_digits(as_frame=True).frame
    chemistry = ["alcohol", "malic_acid", "ash", "alcalinity_of_ash", "magnesium"]
    phenols = ["total_phenols", "flavanoids", "nonflavanoid_phenols", "color_intensity"]
    return {
        "wine": (wine[chemistry], wine[phenols], "5 chemistry columns against 4 phenol and colour columns"),
        "diabetes": (diabetes.drop(columns="target"), diabetes["target"], "10 features against disease progression"),
        "breast cancer": (
            cancer.drop(columns="target"),
            cancer["target"].astype("category"),
            "30 features against the diagnosis (a category)",
        ),
        "digits": (
            digits.drop(columns="target"),
            digits["target"].astype(str),
            "64 pixels (8 x 8) against the digit (a category)",
        ),
    }


def label_entropy(y: pd.DataFrame | pd.Series) -> float | None:
    """H(label) in nats for a categorical y, else None."""
    if isinstance(y, pd.Series) and (isinstance(y.dtype, pd.CategoricalDtype) or y.dtype == object):
        p = y.value_counts(normalize=True).to_numpy()
        return float(-(p * np.log(p)).sum())
    return None


def exact_checks() -> None:
    """Discrete and mixed data against their exact MI."""
    import anchor
    from anchor.tasks import ClassMixture, SymmetricChannel

    for sampler in (SymmetricChannel(4, error=0.15), ClassMixture((-2.0, 0.0, 2.0))):
        for n in (1000, 5000):
            for seed in range(3):
                x, y = sampler.sample(n, seed=seed)
                est = anchor.estimate_mi(x, y, seed=seed, progress=False, warn=False)
                held = "holds" if est.ci_low <= sampler.mi <= est.ci_high else "misses"
                print(
                    f"{sampler.name} n={n} seed={seed}: exact {sampler.mi:.3f}, estimate {est.mi:.3f} "
                    f"[{est.ci_low:.3f}, {est.ci_high:.3f}] ({held}), plug-in {est.plug_in:.3f}, "
                    f"warnings {len(est.warnings)}",
                    flush=True,
                )


def main() -> None:
    import anchor
    from anchor.benchmark import cca_mi, ksg_mi
    from anchor.tables import as_table

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="+", help="case names (default: all)")
    parser.add_argument("--exact", action="store_true", help="the discrete and mixed checks with exact MI instead")
    args = parser.parse_args()
    if args.exact:
        exact_checks()
        return
    for name, (x, y, what) in cases().items():
        if args.only and name not in args.only:
            continue
        start = time.perf_counter()
        est = anchor.estimate_mi(x, y, progress=False, warn=False)
        seconds = time.perf_counter() - start
        xv, yv = as_table("x", x).values, as_table("y", y).values
        print(f"## {name}: {what}; {len(x)} rows, x {xv.shape[1]}-d, y {yv.shape[1]}-d ({seconds:.1f} s)")
        print(str(est))
        for line in est.warnings[1:]:
            print(f"warning: {line}")
        bound = label_entropy(y)
        peers = f"KSG {ksg_mi(xv, yv):.3f}, CCA {cca_mi(xv, yv):.3f} nats"
        limit = f"; upper bound H(label) = {bound:.3f} = log {math.exp(bound):.2f}" if bound else ""
        print(f"peers: {peers}{limit}")
        print(f"plug-in {est.plug_in:.3f}, raw {est.mi_raw:.3f}, model: {est.model}\n")


if __name__ == "__main__":
    main()
