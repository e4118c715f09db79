"""model.io.precision: the decimals a lab reads, by column, for the downloads meant for people."""

from __future__ import annotations

import numpy as np
import pandas as pd

from model.core.schema import BAND_COLUMNS
from model.io.precision import READING_DECIMALS, reading_decimals, round_for_reading


def test_each_quantity_gets_the_decimals_a_lab_reads():
    expected = {
        "L": 2, "a*": 2, "h°": 2, "delta_e00_paths": 2, "test mean ΔE00": 2, "uncertainty_delta_e00": 2,
        "R400": 4, "R700": 4, "spectral_rms_percent": 2, "thickness_um": 1, "fluorescence_cts": 0, "GXT-10": 3, "GXT-10 (%)": 3,
    }
    assert {column: reading_decimals(column, ["GXT-10"]) for column in expected} == expected
    # A passthrough column (a name, a count) is not a quantity Huecast knows: left as it is.
    assert [reading_decimals(column, ["GXT-10"]) for column in ("name", "batch", "uncertainty_coverage", "GXT-10 note")] == [None] * 4
    assert READING_DECIMALS["reflectance"] == 4 and READING_DECIMALS["wt_percent"] == 3


def test_round_for_reading_rounds_numbers_only_and_leaves_the_input_alone():
    table = pd.DataFrame({
        "name": ["=1+1", "B"], "GXT-10": [15.705277003325303, 0.0], "thickness_um": [8.04, 12.0],
        "L": [70.36394889524092, 55.555], "R550": [0.123456789, 1.2345678], "count": [3, 4], "weight": [0.123456, 1.0],
    })
    before = table.copy()
    rounded = round_for_reading(table, ["GXT-10"])
    pd.testing.assert_frame_equal(table, before)
    assert rounded["GXT-10"].tolist() == [15.705, 0.0] and rounded["thickness_um"].tolist() == [8.0, 12.0]
    assert rounded["L"].tolist() == [70.36, 55.56] and rounded["R550"].tolist() == [0.1235, 1.2346]
    assert rounded["name"].tolist() == ["=1+1", "B"] and rounded["count"].tolist() == [3, 4]
    assert rounded["weight"].tolist() == [0.123456, 1.0]  # not a known quantity
    np.testing.assert_array_equal(round_for_reading(pd.DataFrame(columns=BAND_COLUMNS, dtype=float)).columns, BAND_COLUMNS)
