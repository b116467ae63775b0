"""Unit tests for champion.project.data: reading CSV files, filtering rows, checking the target."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from champion.errors import DataError
from champion.project.data import (
    apply_filter,
    check_target,
    content_digest,
    mixed_types,
    read_csv_files,
    split_tags,
)


def test_read_csv_files_reads_one_file(tmp_path):
    (tmp_path / "rows.csv").write_text("a,b\n1,x\n2,y\n")

    frame, files = read_csv_files("rows.csv", tmp_path)

    assert frame["a"].tolist() == [1, 2]
    assert frame["b"].tolist() == ["x", "y"]
    assert files == (str(tmp_path / "rows.csv"),)


def test_read_csv_files_accepts_an_absolute_path(tmp_path):
    (tmp_path / "rows.csv").write_text("a\n1\n")

    frame, _ = read_csv_files(str(tmp_path / "rows.csv"), tmp_path / "elsewhere")

    assert frame["a"].tolist() == [1]


def test_read_csv_files_concatenates_a_glob_in_name_order(tmp_path):
    # Written out of order, so the result shows the files were sorted by name.
    (tmp_path / "gen-3.csv").write_text("gen,n\n3,30\n")
    (tmp_path / "gen-1.csv").write_text("gen,n\n1,10\n1,11\n")
    (tmp_path / "gen-2.csv").write_text("gen,n\n2,20\n")
    (tmp_path / "other.csv").write_text("gen,n\n9,90\n")

    frame, files = read_csv_files("gen-*.csv", tmp_path)

    assert frame["gen"].tolist() == [1, 1, 2, 3]
    assert frame.index.tolist() == [0, 1, 2, 3]
    assert [f.rsplit("/", 1)[-1] for f in files] == ["gen-1.csv", "gen-2.csv", "gen-3.csv"]


@pytest.mark.parametrize("pattern", ["rows.csv", "r*.csv"], ids=["file", "glob"])
def test_read_csv_files_takes_the_folder_name_literally(tmp_path, pattern):
    folder = tmp_path / "runs[1]"
    folder.mkdir()
    (folder / "rows.csv").write_text("a\n1\n")

    frame, files = read_csv_files(pattern, folder)

    assert frame["a"].tolist() == [1]
    assert files == (str(folder / "rows.csv"),)


@pytest.mark.parametrize(
    ("files", "pattern", "match"),
    [
        ({}, "gen-*.csv", r"data: no file matches 'gen-\*\.csv' \(looked in .*\)"),
        ({}, "rows.csv", r"data: file '.*rows\.csv' does not exist"),
        ({"rows.csv": ""}, "rows.csv", r"data: file '.*rows\.csv' is empty"),
        ({"rows.csv": "a,b\n"}, "rows.csv", r"data: 'rows\.csv' has a header but no rows"),
        (
            {"a.csv": "a,b\n", "b.csv": "a,b\n"},
            "*.csv",
            r"data: '\*\.csv' has a header but no rows",
        ),
        (
            {"rows.csv": 'a,b\n1,"unclosed\n'},
            "rows.csv",
            r"data: file '.*rows\.csv' is not a readable CSV",
        ),
    ],
    ids=[
        "glob-matches-nothing",
        "missing-file",
        "empty-file",
        "header-only",
        "glob-of-header-only-files",
        "broken-quoting",
    ],
)
def test_read_csv_files_rejects_unusable_files(tmp_path, files, pattern, match):
    for name, text in files.items():
        (tmp_path / name).write_text(text)

    with pytest.raises(DataError, match=match) as info:
        read_csv_files(pattern, tmp_path)

    assert info.value.field == "data"


def _frame() -> pd.DataFrame:
    return pd.DataFrame({"generation": [1, 2, 3, 4, 5], "name": list("abcde")})


def test_apply_filter_keeps_matching_rows_and_resets_the_index():
    kept = apply_filter(_frame(), "generation >= 3")

    assert kept["name"].tolist() == ["c", "d", "e"]
    assert kept.index.tolist() == [0, 1, 2]


def test_apply_filter_without_expression_returns_every_row():
    frame = _frame()

    assert apply_filter(frame, None) is frame
    assert apply_filter(frame, "") is frame


@pytest.mark.parametrize(
    ("expression", "match"),
    [
        (
            "colour == 'red'",
            r"data\.filter: cannot apply 'colour == 'red'': .*colour.*; "
            r"columns are: generation, name$",
        ),
        ("generation <=", r"data\.filter: cannot apply 'generation <='.*columns are: generation"),
        ("generation > 10", r"data\.filter: 'generation > 10' keeps no rows"),
    ],
    ids=["unknown-column", "syntax-error", "keeps-nothing"],
)
def test_apply_filter_rejects_bad_expressions(expression, match):
    with pytest.raises(DataError, match=match) as info:
        apply_filter(_frame(), expression)

    assert info.value.field == "data.filter"


@pytest.mark.parametrize(
    ("frame", "targets", "task", "match"),
    [
        (
            pd.DataFrame({"a": [1, 2]}),
            ["label"],
            "binary",
            r"target: column 'label' is not in the data; columns are: a",
        ),
        (
            pd.DataFrame({"a": [1, 2], "label": [np.nan, np.nan]}),
            ["label"],
            "binary",
            r"target: column 'label' is empty \(all values missing\)",
        ),
        (
            pd.DataFrame({"label": ["yes", "yes", None]}),
            ["label"],
            "binary",
            r"target: column 'label' has 1 class \('yes'\); a binary task needs at least 2",
        ),
        (
            pd.DataFrame({"label": ["a", "b", "c", "a"]}),
            ["label"],
            "binary",
            r"column 'label' has 3 classes; task 'binary' needs exactly 2 \(use task: multiclass\)",
        ),
        (
            pd.DataFrame({"label": pd.Series(["1", "2", "3", "three"], dtype=object)}),
            ["label"],
            "multiclass",
            r"target: column 'label' mixes types: 3 numbers .* and 1 text values \(e\.g\. 'three'",
        ),
        (
            pd.DataFrame({"speed": ["fast", "10", "12"]}),
            ["speed"],
            "regression",
            r"column 'speed' must be numeric for regression; found 'fast' \(and 0 more",
        ),
        (
            pd.DataFrame({"speed": [3.0, 3.0, np.nan]}),
            ["speed"],
            "regression",
            r"target: column 'speed' is constant",
        ),
        (
            pd.DataFrame({"type_1": ["fire", "water"], "type_2": [None, None]}),
            ["type_1", "type_2"],
            "multilabel",
            r"target: column 'type_2' is empty",
        ),
    ],
    ids=[
        "missing-column",
        "all-missing",
        "one-class",
        "binary-with-three-classes",
        "classes-mix-numbers-and-text",
        "regression-with-text",
        "regression-constant",
        "multilabel-empty-column",
    ],
)
def test_check_target_rejects_unusable_targets(frame, targets, task, match):
    with pytest.raises(DataError, match=match) as info:
        check_target(frame, targets, task)

    assert info.value.field == "target"


@pytest.mark.parametrize(
    ("frame", "targets", "task"),
    [
        (pd.DataFrame({"y": [True, False, True]}), ["y"], "binary"),
        (pd.DataFrame({"y": ["a", "b", "c", None]}), ["y"], "multiclass"),
        (pd.DataFrame({"y": ["1.5", "2", None]}), ["y"], "regression"),
        (pd.DataFrame({"t1": ["fire", None], "t2": [None, "ice"]}), ["t1", "t2"], "multilabel"),
    ],
    ids=["binary", "multiclass", "regression-numeric-strings", "multilabel"],
)
def test_check_target_accepts_learnable_targets(frame, targets, task):
    assert check_target(frame, targets, task) is None


def test_check_target_reads_mixed_types_from_csv(tmp_path):
    # pandas 3 reads text columns as the "str" dtype, not object; the check must still fire.
    (tmp_path / "rows.csv").write_text("label\n1\n2\n3\nthree\n")
    frame, _ = read_csv_files("rows.csv", tmp_path)

    with pytest.raises(DataError, match=r"mixes types"):
        check_target(frame, ["label"], "multiclass")


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (pd.Series([1, "three", 4, 5], dtype=object), ("3 numbers", "1 text values")),
        (pd.Series(["1", "2", "x", None], dtype="str"), ("2 numbers", "1 text values")),
    ],
    ids=["object", "pandas-string"],
)
def test_mixed_types_describes_numbers_and_text(values, expected):
    description = mixed_types(values)

    assert description is not None
    for part in expected:
        assert part in description


@pytest.mark.parametrize(
    "values",
    [
        pd.Series([1.0, 2.0, np.nan]),
        pd.Series(["red", "blue", "green"], dtype=object),
        pd.Series(["red", "blue", "7"], dtype="str"),
        pd.Series([None, None], dtype=object),
    ],
    ids=["numbers", "text", "text-with-one-number", "all-missing"],
)
def test_mixed_types_is_none_for_clean_columns(values):
    assert mixed_types(values) is None


def test_split_tags_takes_one_tag_per_non_empty_cell_across_columns():
    frame = pd.DataFrame(
        {"type_1": ["fire", "water", "grass"], "type_2": ["flying", None, "grass"]}
    )

    tags = split_tags(frame, ["type_1", "type_2"], "|")

    assert tags == [["fire", "flying"], ["water"], ["grass"]]


def test_split_tags_splits_one_column_on_the_separator():
    frame = pd.DataFrame({"types": ["fire| flying", "water", "ice|ice|"]})

    tags = split_tags(frame, ["types"], "|")

    assert tags == [["fire", "flying"], ["water"], ["ice"]]


@pytest.mark.parametrize("dtype", [object, "str", "string"])
def test_split_tags_gives_no_tags_for_missing_cells(dtype):
    frame = pd.DataFrame({"types": pd.Series(["fire", np.nan, None], dtype=dtype)})

    assert split_tags(frame, ["types"], ";") == [["fire"], [], []]


def test_split_tags_does_not_split_when_there_are_several_columns():
    frame = pd.DataFrame({"a": ["x|y"], "b": ["z"]})

    assert split_tags(frame, ["a", "b"], "|") == [["x|y", "z"]]


def test_content_digest_is_stable_for_the_same_data():
    first = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    second = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})

    assert content_digest(first) == content_digest(second)
    assert len(content_digest(first)) == 16


@pytest.mark.parametrize(
    "change",
    [
        lambda f: f.assign(a=[1, 2, 4]),
        lambda f: f.rename(columns={"b": "c"}),
        lambda f: f.iloc[::-1].reset_index(drop=True),
        lambda f: f.iloc[:2],
    ],
    ids=["changed-value", "renamed-column", "reordered-rows", "fewer-rows"],
)
def test_content_digest_changes_with_the_data(change):
    frame = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})

    assert content_digest(change(frame)) != content_digest(frame)
