"""The stakeholder report: out-of-fold table, plain-words summary, HTML, CLI and browser;
and the admin's review of a challenger and of the model history (model.registry.review)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from model.__main__ import main as cli
from model.auth.access import LOCAL_ADMIN
from model.presentation.report import build_report
from model.presentation.swatches import swatch_grid_html
from model.registry import registry, review
from model.registry.registry import ModelRegistry
from model.registry.training_data import TrainingData


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory, tiny_evaluated):
    """Two promoted versions of a tiny model; the second has its out-of-fold table saved."""
    root = tmp_path_factory.mktemp("models")
    evaluation, model, info = tiny_evaluated.evaluation, tiny_evaluated.model, tiny_evaluated.info
    worse = {**evaluation.metrics, **{f"delta_e00_{stat}_headline": evaluation.metrics[f"delta_e00_{stat}_headline"] + 1.0 for stat in ("mean", "median")}}
    first = ModelRegistry(root).save_model(model, metrics=worse, dataset_info=info, version="v1")
    second = ModelRegistry(root).save_model(model, metrics=evaluation.metrics, dataset_info=info, version="v2")
    review.save_out_of_fold(evaluation, second.version, root)
    ModelRegistry(root).promote(first.version, user=LOCAL_ADMIN)
    ModelRegistry(root).promote(second.version, user=LOCAL_ADMIN)
    return root


def test_out_of_fold_round_trip(models_dir):
    table = review.load_out_of_fold("v2", models_dir)
    assert table is not None and {"delta_e00", "sample_id", "L_measured", "seed"} <= set(table.columns)
    assert review.load_out_of_fold("v1", models_dir) is None
    with pytest.raises(FileNotFoundError, match="save the model first"):
        review.save_out_of_fold(None, "v9", models_dir)


def test_summary_counts_recipes_each_averaged_over_its_films_and_seeds(models_dir):
    card = ModelRegistry(models_dir).read_card("v2")
    # Recipe a: films a1, a2; recipe b: film b1. Seed 1 misses a1 by 6: averaged in, not counted as its own error.
    table = pd.DataFrame({
        "seed": [0, 0, 0, 1, 1, 1],
        "sample_id": ["a1", "a2", "b1"] * 2,
        "recipe_id": ["a", "a", "b"] * 2,
        "delta_e00": [0.5, 0.9, 1.5, 6.0, 0.9, 1.5],
    })
    summary = review.summarise_accuracy(card, table)
    errors = review.recipe_errors(table)
    assert errors[["recipe_id", "n_films", "n_seeds"]].values.tolist() == [["a", 2, 2], ["b", 1, 2]]
    np.testing.assert_allclose(errors["delta_e00"], [(3.25 + 0.9) / 2, 1.5])
    assert (summary.n_recipes, summary.n_measurements, summary.n_seeds) == (2, 3, 2)
    assert summary.share_under_1 == 0.0 and summary.share_under_2 == 0.5
    assert summary.median_delta_e00 == pytest.approx(np.median(errors["delta_e00"]))  # the histogram's median, not the card's
    assert summary.mean_delta_e00 == pytest.approx(np.mean(errors["delta_e00"]))
    assert summary.sentence.startswith(f"On 2 recipes the model never saw, the median colour error was {summary.median_delta_e00:.2f} ΔE00, with 0 % of recipes under 1.0")
    assert summary.sentence.endswith("A recipe's error is the mean over its films and the 2 repeats of the test.")
    facts = dict(review.champion_facts(card, summary))
    assert facts["95 % of recipes below"] == f"{np.percentile(errors['delta_e00'], 95):.2f} ΔE00"
    # The tiles: one per film, its error averaged over the seeds, so none is below its recipe's error's reach.
    tiles = review.swatch_table(table.assign(**{f"{axis}_{path}": 50.0 for axis in "Lab" for path in ("measured", "spectral", "head")},
                                             delta_e00_spectral=table["delta_e00"], delta_e00_head=table["delta_e00"]))
    assert tiles["sample_id"].tolist() == ["a1", "b1", "a2"] and tiles["delta_e00"].tolist() == [3.25, 1.5, 0.9]
    assert errors["delta_e00"].max() <= tiles["delta_e00"].max()
    fallback = review.summarise_accuracy(card, None)
    assert fallback.share_under_1 is None and fallback.median_delta_e00 == pytest.approx(card.metrics["delta_e00_median_headline"])
    assert dict(review.champion_facts(card))["95 % of measurements below"] == f"{card.metrics['delta_e00_p95_headline']:.2f} ΔE00"


def test_fluorescence_by_recipe_counts_films_not_films_times_seeds():
    table = pd.DataFrame({
        "seed": [0, 0, 0, 1, 1, 1, 2, 2, 2],
        "sample_id": ["a1", "a2", "b1"] * 3,
        "recipe_id": ["a", "a", "b"] * 3,
        "fluorescence_measured_cts": [1000.0, 2000.0, float("nan")] * 3,
        "fluorescence_predicted_cts": [1100.0, 1900.0, 500.0, 1300.0, 1900.0, 500.0, 1000.0, 1900.0, 500.0],
    })
    shown = review.fluorescence_by_recipe(table)
    # a1 predicted (1100 + 1300 + 1000) / 3 with errors 100, 300, 0; a2 1900 (error 100); b1 has no reading.
    assert shown.to_dict("records") == [
        {"recipe": "a", "films with a reading": 2, "measured (ct/s)": 1500.0, "predicted (ct/s)": 1517.0, "error (ct/s)": 117.0},
    ]


def test_tolerance_bands_at_their_edges():
    assert list(review.tolerance_band([0.0, 0.999, 1.0, 1.999, 2.0, 9.0])) == ["green", "green", "amber", "amber", "red", "red"]


def test_swatch_table_worst_first_one_row_per_sample(models_dir):
    table = review.swatch_table(review.load_out_of_fold("v2", models_dir))
    assert table["sample_id"].is_unique
    assert np.all(np.diff(table["delta_e00"]) <= 0)
    assert table["measured_hex"].str.fullmatch(r"#[0-9a-f]{6}").all()
    html = swatch_grid_html(table)
    assert html.count('class="hc-tile"') == len(table)


def test_out_of_fold_table_prefers_the_saved_table(models_dir, monkeypatch):
    def no_search(card):
        raise AssertionError("a saved table must be used without looking for the training data")

    monkeypatch.setattr(review, "find_training_data", no_search)
    calls = []
    table = review.out_of_fold_table(ModelRegistry(models_dir).read_card("v2"), models_dir, progress=lambda *call: calls.append(call))
    pd.testing.assert_frame_equal(table, review.load_out_of_fold("v2", models_dir))
    assert calls == []


def test_out_of_fold_table_recomputes_from_the_training_data(models_dir, monkeypatch, tiny_dataset):
    card = ModelRegistry(models_dir).read_card("v1")  # no saved table
    monkeypatch.setattr(review, "find_training_data", lambda found: TrainingData(tiny_dataset, "test"))
    calls = []
    table = review.out_of_fold_table(card, models_dir, progress=lambda fraction, message: calls.append((fraction, message)))
    assert calls[0] == (0.0, review.RECOMPUTING_MESSAGE)
    # One seed of leave-recipe-out CV: every measurement predicted once, by a model that never saw its recipe.
    assert sorted(table["sample_id"]) == sorted(tiny_dataset.sample_ids)
    assert table["delta_e00"].notna().all()


def test_out_of_fold_table_is_none_without_table_or_data(models_dir, monkeypatch):
    monkeypatch.setattr(review, "find_training_data", lambda card: TrainingData(None, "nowhere"))
    calls = []
    assert review.out_of_fold_table(ModelRegistry(models_dir).read_card("v1"), models_dir, progress=lambda *call: calls.append(call)) is None
    assert calls == []


def test_recipe_wins_counts_every_side_even_when_it_wins_nothing():
    per_recipe = pd.DataFrame({"recipe_id": list("abcd"), "winner": ["challenger", "challenger", "tie", "challenger"]})
    assert review.recipe_wins(per_recipe) == {"challenger": 3, "champion": 0, "tie": 1}


def test_comparison_with_previous_champion(models_dir):
    sentence = review.previous_champion_comparison(ModelRegistry(models_dir).read_card("v2"), models_dir)
    assert "previous champion (v1" in sentence and "lower mean colour error" in sentence
    card = ModelRegistry(models_dir).read_card("v2")
    assert f"({card.metrics['delta_e00_mean_headline']:.2f} ΔE00, was" in sentence  # the sidebar's figure, not a median
    assert "first champion" in review.previous_champion_comparison(ModelRegistry(models_dir).read_card("v1"), models_dir)


def test_cli_report_is_self_contained(models_dir, tmp_path):
    out = tmp_path / "report.html"
    assert cli(["report", "--out", str(out), "--model", str(models_dir)]) == 0
    text = out.read_text(encoding="utf-8")
    assert "model never saw" in text and "v2" in text
    assert "<script src=\"http" not in text and "plotly" in text.lower()  # Plotly inlined: works offline
    assert len(text) > 1_000_000


def test_cli_report_without_out_of_fold_data_shows_summary_figures_only(models_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(review, "find_training_data", lambda card: TrainingData(None, "nowhere"))
    out = tmp_path / "summary.html"
    assert cli(["report", "--out", str(out), "--model", str(models_dir / "v1")]) == 0
    assert "the report shows summary figures only" in capsys.readouterr().err
    text = out.read_text(encoding="utf-8")
    assert "only its summary figures are shown" in text and 'class="hc-tile"' not in text


@pytest.mark.browser
def test_report_opens_in_headless_chromium(models_dir, tmp_path):
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("Debian chromium is not installed at /usr/bin/chromium")
    from playwright.sync_api import sync_playwright

    out = tmp_path / "report.html"
    card = ModelRegistry(models_dir).read_card("v2")
    out_of_fold = review.load_out_of_fold("v2", models_dir)
    # Readings for the fluorescence table (the tiny model has no head): its headers must sit over their columns.
    out_of_fold = out_of_fold.assign(fluorescence_measured_cts=1000.0, fluorescence_predicted_cts=np.linspace(900.0, 1200.0, len(out_of_fold)))
    out.write_text(build_report(card, out_of_fold, models_dir), encoding="utf-8")
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        page = browser.new_page()
        page.route("http*://**", lambda route: route.abort())  # offline: nothing may be fetched
        page.goto(out.as_uri())
        page.wait_for_selector(".plot-container", timeout=15000)
        assert "model never saw" in page.inner_text(".headline")
        assert page.locator(".hc-tile").count() > 0
        # Each header is aligned as its cells are, and its text ends where theirs end (numbers) or starts where they start.
        misaligned = page.evaluate("""() => {
          const table = [...document.querySelectorAll('table')].find(t => t.innerText.includes('films with a reading'));
          const headers = [...table.querySelectorAll('thead th')], cell = [...table.querySelector('tbody tr').children];
          return headers.map((th, i) => [th.innerText, getComputedStyle(th).textAlign, getComputedStyle(cell[i]).textAlign])
                        .filter(([, header, body]) => header !== body);
        }""")
        assert misaligned == [], misaligned
        browser.close()


def test_data_sets_carry_the_names_people_gave_them(isolated_install, tiny_dataset):
    from model.io import PreparedUpload
    from model.store.measurements import DEMO_DATA_NAME, open_store

    assert review.data_name({"name": "demo"}) == DEMO_DATA_NAME == "Synthetic demo"
    assert review.data_name({"name": "pp-inks"}) == "pp-inks"
    assert review.data_name({}) == "unknown data"
    store = open_store(seed=False)
    store.add(PreparedUpload(tiny_dataset, None, ("Spectra.csv", "Concentrations.csv"), "x"), user=LOCAL_ADMIN)
    version = store.version()
    # An older card recorded only "store <version>": it is named by its upload now.
    named = review.data_name({"name": f"store {version[:12]}", "store_version": version})
    assert named.startswith("Spectra.csv + Concentrations.csv (uploaded ") and named == store.data_name()
    by_fingerprint = review.data_name({"name": f"store {version[:12]}", "fingerprint": tiny_dataset.fingerprint()})
    assert by_fingerprint == named
    assert review.data_name({"name": "store 0123456789ab", "store_version": "0" * 64}) == "measurement store version 0123456789ab"
    card = registry.ModelCard(**{**{f.name: None for f in dataclasses.fields(registry.ModelCard)}, "version": "v", "dataset": {"name": "demo", "n_recipes": 2, "n_samples": 4}, "metrics": {}, "notes": {}, "created_at": "2026-12-01T00:00:00+00:00"})
    assert ("Data", "“Synthetic demo”: 2 recipes, 4 measurements") in review.champion_facts(card)


def test_the_report_of_a_demo_model_says_its_figures_are_simulated(models_dir):
    from model.presentation.demo_notice import DEMO_ACCURACY_CAVEAT

    card = ModelRegistry(models_dir).read_card("v2")
    table = review.load_out_of_fold("v2", models_dir)
    assert DEMO_ACCURACY_CAVEAT not in build_report(card, table, models_dir)
    demo = dataclasses.replace(card, dataset={**card.dataset, "name": "demo"})
    assert f"{DEMO_ACCURACY_CAVEAT}</p>" in build_report(demo, table, models_dir).replace("&#x27;", "'")
