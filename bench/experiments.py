"""Does planning experiments pay? Error against recipes measured, on a simulator whose truth is known.

    python bench/experiments.py [--seeds 0 1 2 3 4] [--rounds 6] [--png bench/experiments.png]
    python bench/experiments.py --real [PATH]   # the plan on the real pp-inks data, printed

Ground truth is the Kubelka–Munk film simulator with fluorescence
(:mod:`model.simulate.film`, the demo's five colorants). Each seed starts from the same
12 random recipes for every strategy, then adds rounds of 6 recipes chosen

- (a) by :func:`model.formulation.plan_experiments` (uncertainty, distance, spread);
- (b) at random, from the same distribution as the test set (that of
  :func:`~model.formulation.experiments.candidate_recipes`: three in four recipes hold
  one to three colorants, as real designs do);
- (c) by a Latin hypercube over the allowed box (``scipy.stats.qmc.LatinHypercube``,
  36 points, revealed 6 per round): dense mixtures of all five colorants,

each recipe drawn down at 8 and 12 µm and "measured" with the simulator's instrument
noise. After every round the model is refitted and scored as mean ΔE00 (CIEDE2000, D65
10°) on a fixed test set of 400 recipes × 2 films, noise-free truth. The model is the
champion's kind, a :class:`~model.models.hybrid.HybridModel`, with fewer iterations and
inner folds (:data:`BENCH_MODEL`) so the run fits in about 15 minutes on 2 cores; the
acquisition uses that same model.

Prints mean ± standard deviation over seeds per strategy and size, how many recipes
the plan needs to reach the error random selection reaches at each size, and the error
floor (random designs of 48 and 96 recipes fitted on noisy and on noise-free readings:
what limits the error is the instrument's noise, which only more readings average out);
writes the
per-seed results to ``bench/out/experiments.json``, the plot to ``bench/out/experiments.html``
and a screenshot of it (Chromium under Playwright) to ``--png``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from scipy.stats import qmc

from model.core import colorimetry
from model.core.schema import RECIPE_ID_COLUMN, SAMPLE_ID_COLUMN, THICKNESS_COLUMN, Dataset
from model.formulation import Constraints
from model.formulation.experiments import candidate_recipes, plan_experiments
from model.models import HybridModel
from model.presentation.figures import log_ticks
from model.simulate import DEMO_COLORANTS, simulate_dataset, simulate_reflectance

OUT = Path(__file__).resolve().parent / "out"
REAL_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "pp-inks"
NAMES = [c.name for c in DEMO_COLORANTS]
#: The allowed box, wt %: the demo data's highest level of each colorant.
DOMAIN_MAX = np.array([25.0, 20.0, 2.0, 9.0, 5.0])
FILMS_UM = (8.0, 12.0)
START, BATCH, TEST_RECIPES = 12, 6, 400
BENCH_MODEL = {"max_iter": 500, "inner_folds": 2, "n_ensemble": 3}
STRATEGIES = ("planned", "random", "latin hypercube")
COLOURS = {"planned": (214, 39, 40), "random": (31, 119, 180), "latin hypercube": (44, 160, 44)}


def draw_recipes(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` recipes from the test distribution (:func:`candidate_recipes`: three in four sparse, one to three colorants)."""
    pool = candidate_recipes(np.zeros(len(NAMES)), DOMAIN_MAX, None, n * 4, rng)
    return pool[rng.choice(len(pool), size=n, replace=False)]


def measured_dataset(recipes: np.ndarray, rng: np.random.Generator | None, first_id: int = 0) -> Dataset:
    """Each recipe at both films, with the simulated instrument's noise (None: noise-free); ids from ``R<first_id>``."""
    rows = [
        {RECIPE_ID_COLUMN: f"R{i}", SAMPLE_ID_COLUMN: f"R{i}@{t:g}", **dict(zip(NAMES, recipe)), THICKNESS_COLUMN: t}
        for i, recipe in enumerate(recipes, start=first_id) for t in FILMS_UM
    ]
    return simulate_dataset(pd.DataFrame(rows), rng=rng, name="bench")


def with_new_films(dataset: Dataset, batch: np.ndarray, rng: np.random.Generator) -> Dataset:
    """``dataset`` plus the films of ``batch``, measured once now: earlier films keep the readings they had."""
    new = measured_dataset(batch, rng, first_id=dataset.n_recipes)
    return Dataset(pd.concat([dataset.table, new.table], ignore_index=True), dataset.colorants, dataset.name)


def reaches(needed: float, n: int) -> str:
    """How many recipes a strategy needed to reach a level random selection reached with ``n``."""
    if not np.isfinite(needed):
        return f"does not reach it within {n} recipes"
    change = 100 * (1 - needed / n)
    return f"reaches it at {needed:.1f} recipes ({change:.0f} % fewer)" if change >= 0 else f"reaches it at {needed:.1f} recipes ({-change:.0f} % more)"


def test_set(seed: int = 12345) -> tuple[pd.DataFrame, np.ndarray]:
    """The fixed test films (recipes × both films) and their true CIELAB."""
    recipes = draw_recipes(TEST_RECIPES, np.random.default_rng(seed))
    frame = pd.DataFrame(np.repeat(recipes, len(FILMS_UM), axis=0), columns=NAMES)
    frame[THICKNESS_COLUMN] = np.tile(FILMS_UM, len(recipes))
    truth = colorimetry.reflectance_to_Lab(simulate_reflectance(frame[NAMES].to_numpy(), frame[THICKNESS_COLUMN].to_numpy()))
    return frame, truth


def score(model, test: pd.DataFrame, truth: np.ndarray) -> float:
    return float(np.mean(colorimetry.delta_E00(model.predict(test).Lab, truth)))


def next_batch(strategy: str, model, dataset, recipes: np.ndarray, round_number: int, rng, lhs: np.ndarray) -> np.ndarray:
    if strategy == "planned":
        constraints = Constraints(maximum=dict(zip(NAMES, DOMAIN_MAX)), thicknesses_um=FILMS_UM)
        plan = plan_experiments(model, dataset, constraints, batch_size=BATCH, seed=round_number)
        return np.array([[s.concentrations[name] for name in NAMES] for s in plan.suggestions])
    if strategy == "random":
        return draw_recipes(BATCH, rng)
    return lhs[round_number * BATCH:(round_number + 1) * BATCH]


def run_seed(seed: int, rounds: int, test: pd.DataFrame, truth: np.ndarray) -> dict[str, list[float]]:
    """Error after the start and after each round, per strategy."""
    rng = np.random.default_rng(seed)
    start = draw_recipes(START, rng)
    start_data = measured_dataset(start, np.random.default_rng([seed, 0]))
    start_model = HybridModel(random_state=seed, **BENCH_MODEL).fit(start_data)
    start_error = score(start_model, test, truth)
    lhs = qmc.scale(qmc.LatinHypercube(d=len(NAMES), seed=seed, optimization="random-cd").random(rounds * BATCH), 0, DOMAIN_MAX)
    errors = {}
    for strategy in STRATEGIES:
        recipes, model, dataset, curve = start, start_model, start_data, [start_error]
        strategy_rng = np.random.default_rng([seed, 1])
        for round_number in range(rounds):
            batch = next_batch(strategy, model, dataset, recipes, round_number, strategy_rng, lhs)
            recipes = np.vstack([recipes, batch])
            # Each round's films are read once, with the same draws for every strategy (common random numbers).
            dataset = with_new_films(dataset, batch, np.random.default_rng([seed, 0, round_number + 1]))
            model = HybridModel(random_state=seed, **BENCH_MODEL).fit(dataset)
            curve.append(score(model, test, truth))
        errors[strategy] = curve
        print(f"  seed {seed} {strategy:>16}: " + " ".join(f"{e:.2f}" for e in curve), flush=True)
    return errors


def recipes_to_reach(sizes: np.ndarray, curve: np.ndarray, level: float) -> float:
    """The first size (linear between rounds) at which the mean curve is at or below ``level``; NaN if never."""
    below = np.flatnonzero(curve <= level)
    if not len(below):
        return float("nan")
    i = below[0]
    if i == 0:
        return float(sizes[0])
    fraction = (curve[i - 1] - level) / (curve[i - 1] - curve[i])
    return float(sizes[i - 1] + fraction * (sizes[i] - sizes[i - 1]))


def figure(sizes: np.ndarray, results: dict[int, dict[str, list[float]]]) -> go.Figure:
    fig = go.Figure()
    plotted = []
    for strategy in STRATEGIES:
        curves = np.array([results[seed][strategy] for seed in results])
        mean, sd = curves.mean(axis=0), curves.std(axis=0, ddof=1) if len(curves) > 1 else np.zeros(curves.shape[1])
        plotted.extend([*(mean + sd), *(mean - sd)])
        red, green, blue = COLOURS[strategy]
        fig.add_scatter(x=np.r_[sizes, sizes[::-1]], y=np.r_[mean + sd, (mean - sd)[::-1]], fill="toself", mode="lines",
                        fillcolor=f"rgba({red},{green},{blue},0.12)", line={"width": 0}, showlegend=False, hoverinfo="skip")
        fig.add_scatter(x=sizes, y=mean, mode="lines+markers", name=strategy, line={"color": f"rgb({red},{green},{blue})", "width": 3})
    random_final = float(np.mean([results[seed]["random"][-1] for seed in results]))
    fig.add_scatter(x=[sizes[0], sizes[-1]], y=[random_final, random_final], mode="lines", line={"dash": "dot", "color": "grey"},
                    name=f"random at {sizes[-1]} recipes", hoverinfo="skip")
    fig.update_layout(
        title=f"Error against recipes measured (mean ± 1 sd over {len(results)} seeds; simulated films)",
        xaxis_title="Recipes measured (each at 8 and 12 µm)",
        yaxis={"title": f"Mean ΔE00 on {TEST_RECIPES * len(FILMS_UM)} test films (CIEDE2000, log scale)", "type": "log", **log_ticks(plotted)},
        width=900, height=520, template="plotly_white", legend={"x": 0.72, "y": 0.97}, xaxis={"dtick": BATCH},
    )
    return fig


def screenshot(html: Path, png: Path) -> None:
    """Render the HTML in Debian's Chromium with Playwright (plotly's own export needs kaleido)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--headless", "--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 920, "height": 540})
        page.goto(html.resolve().as_uri())
        page.wait_for_selector(".main-svg")
        page.screenshot(path=str(png))
        browser.close()


def plan_real(folder: Path) -> None:
    """Fit the champion's kind (default settings) on the real data and print the plan for it."""
    from model import load_dataset

    dataset = load_dataset(folder)[0]
    started = time.perf_counter()
    model = HybridModel().fit(dataset)
    plan = plan_experiments(model, dataset)
    print(f"{folder}: {dataset.n_recipes} recipes, {len(dataset)} films; fitted and planned in {time.perf_counter() - started:.0f} s")
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(plan.to_frame().drop(columns=["why", "measure as"]).to_string(index=False))
    for suggestion in plan.suggestions:
        print(f"{suggestion.recipe_id}: {suggestion.reason}")


def noise_floor(seeds: list[int], test: pd.DataFrame, truth: np.ndarray) -> None:
    """What limits the error at 48 recipes: the same random designs fitted on noisy and on noise-free readings, and twice as many."""
    print("\nerror floor (random designs; mean ΔE00 over seeds):")
    for n in (48, 96):
        noisy, clean = [], []
        for seed in seeds:
            recipes = draw_recipes(n, np.random.default_rng([seed, 2]))
            noisy.append(score(HybridModel(random_state=seed, **BENCH_MODEL).fit(measured_dataset(recipes, np.random.default_rng([seed, 0]))), test, truth))
            clean.append(score(HybridModel(random_state=seed, **BENCH_MODEL).fit(measured_dataset(recipes, None)), test, truth))
        print(f"{n:>4} recipes: {np.mean(noisy):.2f} with the instrument's noise, {np.mean(clean):.2f} noise-free")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", type=Path, nargs="?", const=REAL_DATA, help=f"print the plan for real data instead (default {REAL_DATA})")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--rounds", type=int, default=6, help="rounds of 6 after the 12-recipe start (default 6: up to 48 recipes)")
    parser.add_argument("--floor", action="store_true", help="only print the error floor (printed after the main run too)")
    parser.add_argument("--png", type=Path, default=Path(__file__).resolve().parent / "experiments.png")
    args = parser.parse_args(argv)
    if args.real:
        return plan_real(args.real)
    started = time.perf_counter()
    test, truth = test_set()
    if args.floor:
        return noise_floor(args.seeds, test, truth)
    results = {seed: run_seed(seed, args.rounds, test, truth) for seed in args.seeds}
    sizes = START + BATCH * np.arange(args.rounds + 1)
    print(f"\nmean ΔE00 ± sd over seeds {args.seeds} ({time.perf_counter() - started:.0f} s; model HybridModel{BENCH_MODEL}):")
    table = {}
    for strategy in STRATEGIES:
        curves = np.array([results[seed][strategy] for seed in results])
        table[strategy] = curves.mean(axis=0)
        sd = curves.std(axis=0, ddof=1) if len(curves) > 1 else np.zeros(len(sizes))
        print(f"{strategy:>16}: " + "  ".join(f"{n}: {m:.2f}±{s:.2f}" for n, m, s in zip(sizes, table[strategy], sd)))
    for n, level in zip(sizes[1:], table["random"][1:]):
        needed = recipes_to_reach(sizes, table["planned"], level)
        print(f"random's error at {n} recipes ({level:.2f} ΔE00): the plan {reaches(needed, n)}")
    level = table["random"][-1]
    print(f"\nrandom at {sizes[-1]} recipes: {level:.2f} ΔE00. Recipes needed to reach it (mean curve, linear between rounds):")
    for strategy in STRATEGIES:
        needed = recipes_to_reach(sizes, table[strategy], level)
        print(f"{strategy:>16}: {reaches(needed, sizes[-1])}")
    OUT.mkdir(exist_ok=True)
    (OUT / "experiments.json").write_text(json.dumps({"sizes": sizes.tolist(), "results": results}, indent=1))
    html = OUT / "experiments.html"
    figure(sizes, results).write_html(html, include_plotlyjs=True)
    screenshot(html, args.png)
    print(f"wrote {OUT / 'experiments.json'}, {html} and {args.png}")
    noise_floor(args.seeds, test, truth)


if __name__ == "__main__":
    sys.exit(main())
