"""Unit tests for champion.project.spec: reading and validating the project file."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from champion.errors import SpecError
from champion.project.spec import load_spec, parse_spec

MINIMAL = """\
name: pokemon_legendary
data: ../data/pokemon.csv
target: is_legendary
task: binary
"""


def _write(tmp_path: Path, text: str, name: str = "champion.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def _raw(**changes) -> dict:
    raw = {"name": "m", "data": "d.csv", "target": "y", "task": "binary"}
    raw.update(changes)
    return {k: v for k, v in raw.items() if v is not None}


def test_load_spec_reads_a_minimal_file_and_fills_defaults(tmp_path):
    path = _write(tmp_path, MINIMAL)

    project = load_spec(path)

    spec = project.spec
    assert spec.name == "pokemon_legendary"
    assert spec.target == "is_legendary"
    assert spec.task == "binary"
    assert spec.target_columns == ["is_legendary"]
    assert spec.split.method == "auto"
    assert spec.seed == 42
    assert spec.candidates is None
    assert project.base_dir == tmp_path.resolve()
    assert project.source == str(path)


def test_data_shorthand_is_the_path():
    project = parse_spec(_raw(data="rows/*.csv"))

    assert project.spec.data.path == "rows/*.csv"
    assert project.spec.data.filter is None


def test_data_mapping_keeps_the_filter():
    project = parse_spec(_raw(data={"path": "rows.csv", "filter": "generation <= 6"}))

    assert project.spec.data.path == "rows.csv"
    assert project.spec.data.filter == "generation <= 6"


def test_list_target_with_multilabel_gives_every_column():
    project = parse_spec(_raw(target=["type_1", "type_2"], task="multilabel"))

    assert project.spec.target_columns == ["type_1", "type_2"]


def test_parse_spec_resolves_base_dir(tmp_path):
    project = parse_spec(_raw(), base_dir=tmp_path / "sub" / "..")

    assert project.base_dir == tmp_path.resolve()


_CANDIDATE = {"name": "rf", "estimator": "random_forest"}


def _search(space: dict) -> list[dict]:
    return [{**_CANDIDATE, "search": {"space": space}}]


@pytest.mark.parametrize(
    ("raw", "field", "match"),
    [
        (
            _raw(colour="red"),
            "colour",
            r"unknown key 'colour'; allowed keys here: name, data, target, task, .*promotion",
        ),
        (
            _raw(split={"foo": 1}),
            "split.foo",
            r"unknown key 'split\.foo'; allowed keys here: method, test_size, column, last",
        ),
        (
            _raw(candidates=[{**_CANDIDATE, "bogus": 1}]),
            "candidates.0.bogus",
            r"unknown key 'candidates\.0\.bogus'; allowed keys here: name, estimator, params, "
            r"search",
        ),
        (
            _raw(data={"path": "x.csv", "where": "a > 1"}),
            "data.where",
            r"unknown key 'data\.where'; allowed keys here: path, filter",
        ),
        (_raw(seed="abc"), "seed", r"'seed': Input should be a valid integer.*\(got 'abc'\)"),
        (
            _raw(training={"jobs": 0}),
            "training.jobs",
            r"'training\.jobs': Input should be greater than or equal to 1 \(got 0\)",
        ),
        (
            _raw(training={"workers": 2}),
            "training.workers",
            r"unknown key 'training\.workers'; allowed keys here: jobs",
        ),
        (_raw(task=None), "task", r"missing required key 'task'"),
        (
            _raw(task="ranking"),
            "task",
            r"'task': Input should be 'binary', 'multiclass', 'regression' or 'multilabel' "
            r"\(got 'ranking'\)",
        ),
        (
            _raw(target=5),
            "target",
            r"'target': Input should be a valid string or input should be a valid list \(got 5\)",
        ),
        (_raw(name="my model!"), "name", r"'name': must start with a letter or digit"),
        (_raw(split={"method": "group"}), "split", r"split method 'group' needs 'column'"),
        (_raw(split={"method": "ordered"}), "split", r"split method 'ordered' needs 'column'"),
        (
            _raw(split={"test_size": 1.5}),
            "split.test_size",
            r"'split\.test_size': Input should be less than 1 \(got 1\.5\)",
        ),
        (
            _raw(target=["type_1", "type_2"]),
            "target",
            r"target: a list of columns needs task 'multilabel', not 'binary'",
        ),
        (
            _raw(target=[], task="multilabel"),
            "target",
            r"target: the list of tag columns is empty",
        ),
        (
            _raw(candidates=[_CANDIDATE, {**_CANDIDATE, "estimator": "extra_trees"}]),
            "candidates",
            r"candidates: names must be unique; got \['rf', 'rf'\]",
        ),
        (_raw(candidates=[]), "candidates", r"candidates: the list is empty"),
        (
            _raw(candidates=_search({"max_depth": {"type": "int", "low": 12, "high": 2}})),
            "candidates.0.search.space",
            r"'candidates\.0\.search\.space': 'max_depth': int needs low < high",
        ),
        (
            _raw(candidates=_search({"max_depth": {"type": "normal"}})),
            "candidates.0.search.space",
            r"'max_depth': type must be one of int, float, categorical; got 'normal'",
        ),
        (
            _raw(candidates=_search({"criterion": {"type": "categorical", "choices": []}})),
            "candidates.0.search.space",
            r"'criterion': categorical needs a non-empty 'choices' list",
        ),
        (
            _raw(preprocessing={"log_transform": "always"}),
            "preprocessing.log_transform",
            r"'preprocessing\.log_transform': Input should be 'auto' or 'none' or input should "
            r"be a valid list \(got 'always'\)",
        ),
    ],
    ids=[
        "unknown-top-level-key",
        "unknown-split-key",
        "unknown-candidate-key",
        "unknown-data-key",
        "seed-not-an-integer",
        "training-jobs-zero",
        "unknown-training-key",
        "missing-task",
        "unknown-task",
        "target-wrong-type",
        "bad-model-name",
        "group-split-without-column",
        "ordered-split-without-column",
        "test-size-out-of-range",
        "list-target-not-multilabel",
        "empty-target-list",
        "duplicate-candidate-names",
        "empty-candidate-list",
        "search-low-not-below-high",
        "search-unknown-type",
        "search-categorical-without-choices",
        "log-transform-not-allowed",
    ],
)
def test_parse_spec_rejects_bad_input(raw, field, match):
    with pytest.raises(SpecError, match=match) as info:
        parse_spec(raw, source="champion.yaml")

    assert str(info.value).startswith("champion.yaml: ")
    assert info.value.field == field


def test_parse_spec_reports_every_problem_at_once():
    with pytest.raises(SpecError) as info:
        parse_spec(_raw(seed="abc", colour="red"))

    message = str(info.value)
    assert "'seed'" in message
    assert "unknown key 'colour'" in message


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("- name: m\n- task: binary\n", r"must be a mapping of keys .*; got list"),
        ("", r"must be a mapping of keys .*; got NoneType"),
        (
            "name: m\ndata: [unclosed\ntarget: y\n",
            r"champion\.yaml line \d+, column \d+: not valid YAML",
        ),
        ("name: m\n  task: binary\n", r"champion\.yaml line 2, column 7: not valid YAML"),
    ],
    ids=["a-list", "empty-file", "unclosed-bracket", "bad-indentation"],
)
def test_load_spec_rejects_unusable_yaml(tmp_path, text, match):
    path = _write(tmp_path, text)

    with pytest.raises(SpecError, match=match):
        load_spec(path)


def test_load_spec_rejects_a_missing_file(tmp_path):
    missing = tmp_path / "nowhere.yaml"

    with pytest.raises(SpecError, match=r"project file '.*nowhere\.yaml' does not exist") as info:
        load_spec(missing)

    assert info.value.field == str(missing)


def test_load_spec_rejects_a_file_that_is_not_utf8(tmp_path):
    path = tmp_path / "champion.yaml"
    path.write_bytes(b"name: \xff\xfe\x00bad\n")

    with pytest.raises(SpecError, match=r"not a UTF-8 text file"):
        load_spec(path)


def test_load_spec_names_the_file_in_validation_errors(tmp_path):
    path = _write(tmp_path, MINIMAL + "seed: abc\n")

    with pytest.raises(SpecError, match=rf"^{re.escape(str(path))}: 'seed'"):
        load_spec(path)
