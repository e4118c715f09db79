"""The stakeholder report: out-of-fold table, plain-words summary, HTML, CLI and browser."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from model import cross_validate
from model.__main__ import main as cli
from model.ops import registry
from model.ops import review as report
from model.ops.access import LOCAL_ADMIN


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory, tiny_dataset, quick_model):
    """Two promoted versions of a tiny model; the second has its out-of-fold table saved."""
    root = tmp_path_factory.mktemp("models")
    evaluation = cross_validate(tiny_dataset, quick_model, n_splits=2, seeds=(0,))
    model = clone(quick_model).fit(tiny_dataset)
    info = {"name": "tiny", "fingerprint": tiny_dataset.fingerprint(), "n_samples": len(tiny_dataset), "n_recipes": tiny_dataset.n_recipes, "colorants": list(tiny_dataset.colorants)}
    worse = {**evaluation.metrics, "delta_e00_median_headline": evaluation.metrics["delta_e00_median_headline"] + 1.0}
    first = registry.save_model(model, metrics=worse, dataset_info=info, models_dir=root, version="v1")
    second = registry.save_model(model, metrics=evaluation.metrics, dataset_info=info, models_dir=root, version="v2")
    report.save_out_of_fold(evaluation, second.version, root)
    registry.promote(first.version, root, user=LOCAL_ADMIN)
    registry.promote(second.version, root, user=LOCAL_ADMIN)
    return root


def test_out_of_fold_round_trip(models_dir):
    table = report.load_out_of_fold("v2", models_dir)
    assert table is not None and {"delta_e00", "sample_id", "L_measured", "seed"} <= set(table.columns)
    assert report.load_out_of_fold("v1", models_dir) is None
    with pytest.raises(FileNotFoundError, match="save the model first"):
        report.save_out_of_fold(None, "v9", models_dir)


def test_summary_counts_shares_under_1_and_2(models_dir):
    card = registry.read_card("v2", models_dir)
    table = pd.DataFrame({"sample_id": list("abcd"), "recipe_id": list("aabb"), "delta_e00": [0.5, 0.9, 1.5, 3.0]})
    summary = report.summarise_accuracy(card, table)
    assert (summary.n_recipes, summary.n_measurements) == (2, 4)
    assert summary.share_under_1 == 0.5 and summary.share_under_2 == 0.75
    assert summary.median_delta_e00 == pytest.approx(1.2)
    assert "On 2 recipes the model never saw, the median colour error was 1.20 ΔE00, with 50 % under 1.0" in summary.sentence
    fallback = report.summarise_accuracy(card, None)
    assert fallback.share_under_1 is None and fallback.median_delta_e00 == pytest.approx(card.metrics["delta_e00_median_headline"])


def test_tolerance_bands_at_their_edges():
    assert list(report.tolerance_band([0.0, 0.999, 1.0, 1.999, 2.0, 9.0])) == ["green", "green", "amber", "amber", "red", "red"]


def test_swatch_table_worst_first_one_row_per_sample(models_dir):
    table = report.swatch_table(report.load_out_of_fold("v2", models_dir))
    assert table["sample_id"].is_unique
    assert np.all(np.diff(table["delta_e00"]) <= 0)
    assert table["measured_hex"].str.fullmatch(r"#[0-9a-f]{6}").all()
    html = report.swatch_grid_html(table)
    assert html.count('class="hc-tile"') == len(table)


def test_comparison_with_previous_champion(models_dir):
    sentence = report.previous_champion_comparison(registry.read_card("v2", models_dir), models_dir)
    assert "previous champion (v1" in sentence and "lower median colour error" in sentence
    assert "first champion" in report.previous_champion_comparison(registry.read_card("v1", models_dir), models_dir)


def test_cli_report_is_self_contained(models_dir, tmp_path):
    out = tmp_path / "report.html"
    assert cli(["report", "--out", str(out), "--model", str(models_dir)]) == 0
    text = out.read_text(encoding="utf-8")
    assert "model never saw" in text and "v2" in text
    assert "<script src=\"http" not in text and "plotly" in text.lower()  # Plotly inlined: works offline
    assert len(text) > 1_000_000


def test_report_opens_in_headless_chromium(models_dir, tmp_path):
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("Debian chromium is not installed at /usr/bin/chromium")
    from playwright.sync_api import sync_playwright

    out = tmp_path / "report.html"
    card = registry.read_card("v2", models_dir)
    out.write_text(report.build_report(card, report.load_out_of_fold("v2", models_dir), models_dir), encoding="utf-8")
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
        browser.close()
