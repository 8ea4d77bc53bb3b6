"""Tables in: DataFrames, Series, categories and array-likes (``anchor.tables``)."""

import numpy as np
import pandas as pd
import pytest
import torch

from anchor.tables import as_table, identical_columns, looks_discrete, paired_tables, repeated_rows


def test_a_dataframe_keeps_its_names_and_encodes_each_kind_of_column():
    frame = pd.DataFrame(
        {
            "height": [1.5, 1.7, 1.6, 1.8],
            "count": [1, 2, 2, 3],
            "flag": [True, False, True, True],
            "colour": pd.Categorical(["red", "blue", "green", "red"]),
            "size": pd.Categorical(["s", "l", "m", "s"], categories=["s", "m", "l"], ordered=True),
            "tag": ["a", "b", "a", "b"],
        }
    )
    table = as_table("x", frame)
    assert table.columns == [
        "height",
        "count",
        "flag",
        "colour=blue",
        "colour=green",
        "colour=red",
        "size",
        "tag=b",
    ]
    assert table.encoding == {
        "height": "number",
        "count": "integer",
        "flag": "boolean",
        "colour": "one-hot (3 levels)",
        "size": "ordered codes",
        "tag": "indicator",
    }
    assert table.values.dtype == np.float64 and table.values.shape == (4, 8)
    assert table.values[:, 3:6].tolist() == [[0, 0, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1]]
    assert table.values[:, 6].tolist() == [0, 2, 1, 0]  # the order of the levels, not of the text
    assert table.values[:, 7].tolist() == [0, 1, 0, 1]


def test_series_arrays_tensors_and_array_likes():
    assert as_table("y", pd.Series([1.0, 2.0, 3.0], name="target")).columns == ["target"]
    assert as_table("y", pd.Series([1.0, 2.0])).columns == ["y"]
    assert as_table("x", np.zeros((3, 2))).columns == ["x0", "x1"]
    assert as_table("x", torch.zeros(3)).values.shape == (3, 1)

    class ArrayLike:
        def __array__(self, dtype=None, copy=None):
            return np.arange(6.0).reshape(3, 2)

    assert as_table("x", ArrayLike()).values.tolist() == [[0, 1], [2, 3], [4, 5]]
    strings = as_table("x", np.array(["u", "v", "w", "u"]))
    assert strings.columns == ["x0=u", "x0=v", "x0=w"]


@pytest.mark.parametrize(
    "data, message",
    [
        (pd.DataFrame({"a": [1.0, None]}), r"x column 'a' has 1 missing value\(s\) \(first in row 1\)"),
        (pd.DataFrame({"id": [f"row{i}" for i in range(150)]}), r"x column 'id' holds 150 distinct text values"),
        ({"a": [1, 2]}, r"x must be a pandas DataFrame or Series, a numpy array, .* got dict"),
        (pd.DataFrame(index=range(3)), r"x has no columns"),
        (np.zeros((2, 2, 2)), r"x must be 2-D with shape \(n, d\) or 1-D, got shape \(2, 2, 2\)"),
    ],
)
def test_bad_tables_are_named(data, message):
    with pytest.raises(ValueError, match=message):
        as_table("x", data)


def test_paired_tables_check_rows_and_values():
    with pytest.raises(ValueError, match="same number of samples"):
        paired_tables(pd.DataFrame({"a": [1.0, 2.0]}), np.zeros(3))
    with pytest.raises(ValueError, match="NaN or infinite"):
        paired_tables(np.array([1.0, np.inf]), np.zeros(2))


def test_identical_columns_are_found_up_to_a_monotone_map_and_only_when_continuous():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=200), rng.normal(size=200)
    x = as_table("x", pd.DataFrame({"a": a, "b": b}))
    y = as_table("y", pd.DataFrame({"a_cubed": a**3, "c": rng.normal(size=200)}))
    assert identical_columns(x, y) == [("a", "a_cubed")]
    assert identical_columns(x, as_table("y", pd.DataFrame({"minus_b": -b}))) == [("b", "minus_b")]
    labels = rng.integers(0, 4, 200).astype(float)  # a shared discrete column has finite MI: H(label)
    assert identical_columns(as_table("x", labels), as_table("y", labels)) == []


def test_repeated_rows_are_counted_for_continuous_columns_only():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(100, 2)), rng.normal(size=(100, 1))
    assert repeated_rows(as_table("x", x), as_table("y", y)) == 0.0
    rows = np.repeat(np.arange(100), 50)
    assert repeated_rows(as_table("x", x[rows]), as_table("y", y[rows])) == pytest.approx(0.98)
    symbols = rng.integers(0, 4, (5000, 1)).astype(float)  # discrete data repeats rows by nature
    assert repeated_rows(as_table("x", symbols), as_table("y", symbols)) == 0.0
    assert looks_discrete(np.array([0.0, 1.0, 2.0])) and not looks_discrete(rng.normal(size=100))
