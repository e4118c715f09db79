"""Leave-recipe-out splits: no recipe ever sits on both sides of a split.

A recipe is measured at two thicknesses and sometimes twice, so a random row split
puts the same recipe on both sides and flatters the model. Every split here groups by
``recipe_id``.
"""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import GroupKFold

__all__ = ["grouped_folds", "split_test_recipes"]


def grouped_folds(recipe_ids, n_splits: int = 5, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Row indices of ``n_splits`` (train, test) folds, no recipe on both sides.

    Parameters
    ----------
    recipe_ids : array_like of str, one per measurement.
    n_splits : int
        Clipped to the number of distinct recipes.
    seed : int
        Shuffles which recipes share a fold.
    """
    recipe_ids = np.asarray(recipe_ids).astype(str)
    n_groups = len(np.unique(recipe_ids))
    if n_groups < 2:
        raise ValueError(f"Leave-recipe-out needs at least 2 recipes; got {n_groups}.")
    splitter = GroupKFold(n_splits=min(n_splits, n_groups), shuffle=True, random_state=seed)
    return [(train, test) for train, test in splitter.split(recipe_ids, groups=recipe_ids)]


def split_test_recipes(recipe_ids, test_fraction: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (train, test) with ``test_fraction`` of the recipes held out, grouped by recipe."""
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction={test_fraction!r}: use a fraction between 0 and 1, e.g. 0.2.")
    recipe_ids = np.asarray(recipe_ids).astype(str)
    recipes = np.unique(recipe_ids)
    rng = np.random.default_rng(seed)
    n_test = max(1, int(round(test_fraction * len(recipes))))
    test_recipes = rng.choice(recipes, size=n_test, replace=False)
    is_test = np.isin(recipe_ids, test_recipes)
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)
