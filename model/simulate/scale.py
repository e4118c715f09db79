"""Simulated formulation databases of any size: many films, many colorants, for the scale bench.

A lab's database holds thousands of recipes over ten to twenty colorants, each recipe
one to three of them, drawn down at two thicknesses and read once. :func:`scale_dataset`
makes such a set from the film simulator (:mod:`model.simulate.film`): the demo's five
colorants first, then made-up absorbers (:func:`synthetic_colorants`: one or two
absorption bands across the visible, a little scattering each), so that the truth is
known and a fit's error on held-out recipes can be scored against it.

Scales: wt % (0–100), µm, reflectance factor 0–1 (may exceed 1: the fluorescent yellow).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from model.core.schema import RECIPE_ID_COLUMN, SAMPLE_ID_COLUMN, THICKNESS_COLUMN, WAVELENGTHS_NM, Dataset
from model.simulate.film import DEMO_COLORANTS, THICK_FILM_UM, THIN_FILM_UM, Colorant, simulate_dataset

__all__ = ["synthetic_colorants", "random_mixtures", "scale_dataset", "FILMS_UM"]

#: The two drawdowns of every recipe, µm (as in the real data).
FILMS_UM = (THIN_FILM_UM, THICK_FILM_UM)
#: Highest loading of the demo colorants (wt %), as in the demo's ladders.
_DEMO_MAXIMA = {"FluoYellow": 25.0, "BiVaYellow": 20.0, "PhthaloGreen": 2.0, "PearlBlue": 9.0, "QuinMagenta": 5.0}
_WAVELENGTHS = WAVELENGTHS_NM.astype(float)


def synthetic_colorants(count: int, seed: int = 0) -> tuple[tuple[Colorant, ...], np.ndarray]:
    """``count`` colorants and the highest loading of each (wt %): the demo's five, then made-up absorbers.

    Each made-up colorant absorbs in one or two Gaussian bands (centre 420–680 nm, width
    20–60 nm) over a small flat floor and scatters a little; its maximum loading is chosen
    so that a 12 µm film at that loading reaches an optical density of about 1.5 at the
    band's peak, like the demo's ladders.
    """
    rng = np.random.default_rng([seed, 27])
    colorants = list(DEMO_COLORANTS[:count])
    maxima = [_DEMO_MAXIMA[c.name] for c in colorants]
    for index in range(len(colorants), count):
        peak = rng.uniform(0.003, 0.03)
        absorption = np.full(len(_WAVELENGTHS), peak * 0.02)
        for _ in range(rng.integers(1, 3)):
            centre, width = rng.uniform(420.0, 680.0), rng.uniform(20.0, 60.0)
            absorption = absorption + peak * rng.uniform(0.5, 1.0) * np.exp(-0.5 * ((_WAVELENGTHS - centre) / width) ** 2)
        scattering = np.full(len(_WAVELENGTHS), rng.uniform(0.0005, 0.005))
        colorants.append(Colorant(f"Synth{index + 1:02d}", absorption=absorption, scattering=scattering))
        maxima.append(round(float(1.5 / (absorption.max() * THICK_FILM_UM)), 2))
    return tuple(colorants), np.array(maxima)


def random_mixtures(n_recipes: int, maxima: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``n_recipes`` recipes (wt %) of one to three colorants each (equally often), each uniform up to its maximum.

    Rounded to 0.01 wt %, a lab's weighing step.
    """
    k = len(maxima)
    recipes = np.zeros((n_recipes, k))
    used = rng.integers(1, min(3, k) + 1, size=n_recipes)
    for row, count in enumerate(used):
        chosen = rng.choice(k, size=count, replace=False)
        recipes[row, chosen] = rng.uniform(0.05, 1.0, size=count) * maxima[chosen]
    return np.round(recipes, 2)


def scale_dataset(n_films: int, n_colorants: int, seed: int = 0, *, noise: bool = True, first_recipe: int = 0) -> Dataset:
    """A simulated database of ``n_films`` films (``n_films // 2`` recipes, each at 8 and 12 µm) over ``n_colorants`` colorants.

    Parameters
    ----------
    n_films : int ≥ 2
    n_colorants : int ≥ 1
        The first five are the demo's (:data:`DEMO_COLORANTS`), then :func:`synthetic_colorants`.
    seed : int
        Seeds the recipes and the instrument's noise (the colorants depend on ``n_colorants`` only).
    noise : bool
        Read each film once with the simulated instrument's noise (:func:`~model.simulate.film.measure`);
        False gives the noise-free truth.
    first_recipe : int
        Recipe ids run ``R<first_recipe>`` …, so a held-out set can be told apart from a training set.
    """
    if n_films < 2 or n_colorants < 1:
        raise ValueError(f"n_films={n_films}, n_colorants={n_colorants}; expected at least 2 films and 1 colorant.")
    colorants, maxima = synthetic_colorants(n_colorants)
    rng = np.random.default_rng([seed, n_films, n_colorants])
    recipes = random_mixtures(n_films // len(FILMS_UM), maxima, rng)
    names = [c.name for c in colorants]
    frame = pd.DataFrame(np.repeat(recipes, len(FILMS_UM), axis=0), columns=names)
    frame[THICKNESS_COLUMN] = np.tile(FILMS_UM, len(recipes))
    ids = np.repeat([f"R{first_recipe + i}" for i in range(len(recipes))], len(FILMS_UM))
    frame.insert(0, RECIPE_ID_COLUMN, ids)
    frame.insert(1, SAMPLE_ID_COLUMN, [f"{r}@{t:g}" for r, t in zip(ids, frame[THICKNESS_COLUMN])])
    return simulate_dataset(frame, colorants=colorants, rng=rng if noise else None, name=f"simulated {n_films}x{n_colorants}")
