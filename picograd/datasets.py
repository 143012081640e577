"""The demo's data: 2-D, two-class scikit-learn datasets with labels in {-1, +1}.

    from picograd.datasets import make_dataset
    X, y = make_dataset("moons", samples=100, seed=1337)   # micrograd's demo data

scikit-learn is imported only when a dataset is made (``pip install "picogradlib[demo]"``).
"""

from __future__ import annotations

from typing import Any

DATASETS = ("moons", "circles", "blobs")
MAX_SEED = 2**32 - 1  # numpy's and scikit-learn's random_state range is [0, 2**32 - 1]

__all__ = ["DATASETS", "MAX_SEED", "make_dataset"]


def make_dataset(name: str = "moons", samples: int = 100, seed: int = 1337) -> tuple[Any, Any]:
    """``(X, y)``: a 2-D two-class scikit-learn dataset with labels in {-1.0, +1.0}."""
    import numpy as np
    from sklearn import datasets  # type: ignore[import-untyped]

    if name == "moons":
        X, y = datasets.make_moons(n_samples=samples, noise=0.1, random_state=seed)
    elif name == "circles":
        X, y = datasets.make_circles(n_samples=samples, noise=0.1, factor=0.4,
                                     random_state=seed)
    elif name == "blobs":
        X, y = datasets.make_blobs(n_samples=samples, centers=[(-1.0, -0.5), (1.0, 0.5)],
                                   cluster_std=0.6, random_state=seed)
    else:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    return np.asarray(X, dtype=float), np.where(y > 0, 1.0, -1.0)
