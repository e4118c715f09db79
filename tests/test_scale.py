"""Issue 27, at scale: simulated databases, the chunked predict path and its fast reader and writer.

The chunked path must write the very bytes the whole-table path writes; the fast reader
must return the very table the full reader returns, or step aside.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from model.io import read_recipes_for_prediction
from model.io.safe_csv import write_csv
from model.registry import registry
from model.serving import batch
from model.serving.batch import predict_csv, predict_csv_to_file
from model.serving.csv_text import csv_text
from model.serving import plain_csv
from model.serving.plain_csv import read_plain_recipes
from model.simulate.scale import FILMS_UM, scale_dataset, synthetic_colorants


@pytest.fixture(scope="module")
def champion(repo_root):
    model, _ = registry.load_predictor_from_path(repo_root / "trained_models")
    return model


def recipes_csv(model, n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    table = pd.DataFrame({name: np.round(rng.uniform(0, 4, n), 3) for name in model.colorants_})
    table["thickness_um"] = rng.choice([8.0, 12.0, 10.5], n)
    table.insert(0, "name", [f"recipe {i}" for i in range(n)])
    return table


def test_a_simulated_database_has_one_to_three_colorants_per_recipe_at_both_films():
    data = scale_dataset(40, 12, seed=3)
    assert len(data) == 40 and data.n_recipes == 20 and len(data.colorants) == 12
    used = (data.recipes[list(data.colorants)] > 0).sum(axis=1)
    assert used.between(1, 3).all()
    assert set(data.recipes["thickness_um"]) == set(FILMS_UM)
    colorants, maxima = synthetic_colorants(12)
    assert [c.name for c in colorants[:5]] == list(data.colorants[:5]) and np.all(maxima > 0)
    np.testing.assert_array_equal(scale_dataset(40, 12, seed=3).reflectance, data.reflectance)  # reproducible
    truth = scale_dataset(40, 12, seed=3, noise=False)
    assert 0 < np.abs(truth.reflectance - data.reflectance).mean() < 0.05  # the instrument's noise, no more


@pytest.mark.parametrize("jobs", [1, 2])
def test_the_chunked_file_is_byte_for_byte_the_whole_table_file(champion, tmp_path, jobs, monkeypatch):
    # The same chunks on both paths (a network's sums may round differently over a batch of another size).
    monkeypatch.setattr(batch, "_CHUNK_ROWS", 10)
    source = tmp_path / "recipes.csv"
    table = recipes_csv(champion, 53)
    table.loc[3, "name"] = "=SUM(A1)"  # neutralised in both
    table.loc[4, "name"] = "-5"
    table.to_csv(source, index=False)
    whole, chunked = tmp_path / "whole.csv", tmp_path / "chunked.csv"
    write_csv(predict_csv(source, champion, max_rows=None).table, whole)
    result = predict_csv_to_file(source, champion, chunked, chunk_rows=10, n_jobs=jobs)
    assert result.n_predicted == 53 and not result.problems
    assert chunked.read_bytes() == whole.read_bytes()


def test_a_file_with_bad_rows_and_quoted_names_takes_the_full_path_and_still_matches(champion, tmp_path, monkeypatch):
    monkeypatch.setattr(batch, "_CHUNK_ROWS", 4)
    source = tmp_path / "recipes.csv"
    table = recipes_csv(champion, 12).astype({champion.colorants_[0]: str})
    table.loc[2, "name"] = "red, warm"  # quoted in the file and in the output
    table.loc[5, champion.colorants_[0]] = "lots"  # a bad cell: the row is left out and reported
    table.loc[6, champion.colorants_[0]] = "2.5%"
    table.to_csv(source, index=False)
    whole, chunked = tmp_path / "whole.csv", tmp_path / "chunked.csv"
    expected = predict_csv(source, champion, max_rows=None)
    write_csv(expected.table, whole)
    result = predict_csv_to_file(source, champion, chunked, chunk_rows=4)
    assert [p.row for p in result.problems] == [p.row for p in expected.problems] and len(result.problems) == 1
    assert result.n_predicted == 11
    assert chunked.read_bytes() == whole.read_bytes()


def test_the_fast_reader_returns_the_full_readers_table_or_steps_aside(champion, tmp_path):
    colorants = list(champion.colorants_)
    table = recipes_csv(champion, 300)
    table.loc[290, "name"] = "  padded  "  # beyond the rows both readers read: stripped as the full reader strips it
    plain = table.to_csv(index=False).encode()
    fast = read_plain_recipes(plain, colorants)
    full, problems = read_recipes_for_prediction(plain, colorants)
    assert fast is not None and not problems
    pd.testing.assert_frame_equal(fast, full, check_exact=True)
    # A program writes a small concentration with an exponent (pandas: 6.5e-05); still plain.
    tiny = table.astype({colorants[1]: float})
    tiny.loc[[5, 250], colorants[1]] = [6.5e-05, 1.25e-07]
    exponent = tiny.to_csv(index=False).encode()
    assert b"6.5e-05" in exponent and b"1.25e-07" in exponent
    fast, (full, problems) = read_plain_recipes(exponent, colorants), read_recipes_for_prediction(exponent, colorants)
    assert fast is not None and not problems
    pd.testing.assert_frame_equal(fast, full, check_exact=True)
    # Not plain: a percent sign, a semicolon file, a value out of range beyond the rows both readers read.
    assert read_plain_recipes(plain.replace(b",0.5,", b",0.5%,", 1), colorants) is None
    assert read_plain_recipes(plain.replace(b",", b";"), colorants) is None
    late = recipes_csv(champion, 300)
    late.loc[290, colorants[0]] = 150.0
    assert read_plain_recipes(late.to_csv(index=False).encode(), colorants) is None


def test_the_fast_reader_without_pyarrow_reads_the_same_table(champion, monkeypatch):
    # pyarrow comes with streamlit; without it pandas' C parser reads the cells, to the same table.
    colorants = list(champion.colorants_)
    table = recipes_csv(champion, 300, seed=4)
    table.loc[[7, 260], colorants[0]] = [3.5e-05, 2e-10]
    plain = table.to_csv(index=False).encode()
    with_arrow = read_plain_recipes(plain, colorants)
    monkeypatch.setattr(plain_csv, "_PARSER", "c")
    without = read_plain_recipes(plain, colorants)
    assert with_arrow is not None and without is not None
    pd.testing.assert_frame_equal(without, with_arrow, check_exact=True)
    pd.testing.assert_frame_equal(without, read_recipes_for_prediction(plain, colorants)[0], check_exact=True)


def test_csv_text_writes_what_pandas_writes():
    values = np.array([0.0, -0.0, 1e-4, 9.99e-5, 1e-5, 1e15, 1e16, 123.456, np.nan, np.inf, -np.inf, 5e-324, 1 / 3, -2.5e-9])
    table = pd.DataFrame({
        "x": values, "y": values[::-1], "flag": [True, False] * 7, "text": ["a", "", "'=b", "c d", None, *["e"] * 9],
        "count": np.arange(14),
    })
    expected = io.StringIO()
    table.to_csv(expected, index=False)
    assert csv_text(table) == expected.getvalue()
    assert csv_text(table.assign(text="needs, quoting")) is None  # pandas would quote it: left to pandas
