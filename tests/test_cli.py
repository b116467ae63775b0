"""The command line: bad input gets one clear line and a non-zero exit, never a
traceback, and leaves the tracking store untouched; the happy path end to end."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest

from champion.cli import run
from support.projects import REPO, sqlite_store, write_project

VALID = """
name: cli_test
data: data.csv
target: label
task: binary
"""


def _frame(n: int = 60) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "size": [float(i % 13) for i in range(n)],
            "colour": ["red", "blue", "green"] * (n // 3),
            "label": ["yes" if i % 13 > 6 else "no" for i in range(n)],
        }
    )


def _case_unknown_key(folder: Path) -> None:
    _frame().to_csv(folder / "data.csv", index=False)
    write_project(folder, VALID + "colour: blue\n")


def _case_wrong_type(folder: Path) -> None:
    _frame().to_csv(folder / "data.csv", index=False)
    write_project(folder, VALID + "seed: forty-two\n")


def _case_broken_yaml(folder: Path) -> None:
    write_project(folder, "name: x\ndata: [unclosed\ntarget: y\n")


def _case_missing_file(folder: Path) -> None:
    write_project(folder, VALID)


def _case_empty_file(folder: Path) -> None:
    (folder / "data.csv").write_text("")
    write_project(folder, VALID)


def _case_missing_target(folder: Path) -> None:
    _frame().drop(columns="label").to_csv(folder / "data.csv", index=False)
    write_project(folder, VALID)


def _case_one_class(folder: Path) -> None:
    _frame().assign(label="yes").to_csv(folder / "data.csv", index=False)
    write_project(folder, VALID)


def _case_all_nan_target(folder: Path) -> None:
    _frame().assign(label=None).to_csv(folder / "data.csv", index=False)
    write_project(folder, VALID)


def _case_mixed_column(folder: Path) -> None:
    frame = _frame()
    frame["size"] = frame["size"].astype(object)
    frame.loc[5, "size"] = "large"
    frame.to_csv(folder / "data.csv", index=False)
    write_project(folder, VALID)


def _case_unknown_task(folder: Path) -> None:
    _frame().to_csv(folder / "data.csv", index=False)
    write_project(folder, VALID.replace("task: binary", "task: clustering"))


BAD_INPUT = [
    (
        _case_unknown_key,
        "SpecError",
        r"unknown key 'colour'; allowed keys here: name, data, target, task",
    ),
    (_case_wrong_type, "SpecError", r"'seed': Input should be a valid integer.*'forty-two'"),
    (_case_broken_yaml, "SpecError", r"champion.yaml line \d+, column \d+: not valid YAML"),
    (_case_missing_file, "DataError", r"data: file '.*data.csv' does not exist"),
    (_case_empty_file, "DataError", r"data: file '.*data.csv' is empty"),
    (
        _case_missing_target,
        "DataError",
        r"target: column 'label' is not in the data; columns are: size, colour",
    ),
    (_case_one_class, "DataError", r"target: column 'label' has 1 class \('yes'\)"),
    (_case_all_nan_target, "DataError", r"target: column 'label' is empty \(all values missing\)"),
    (
        _case_mixed_column,
        "DataError",
        r"column 'size' mixes types: .* numbers .* text values \(e.g. 'large'\)",
    ),
    (
        _case_unknown_task,
        "SpecError",
        r"'task': Input should be 'binary', 'multiclass', 'regression' or 'multilabel'",
    ),
]


@pytest.mark.parametrize(
    ("make", "error", "message"), BAD_INPUT, ids=[case[0].__name__[6:] for case in BAD_INPUT]
)
def test_train_rejects_bad_input_with_one_line(make, error, message, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    make(tmp_path)
    code = run(["train", "-c", str(tmp_path / "champion.yaml")])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"{error}: ")
    assert re.search(message, err), err
    assert "Traceback" not in err
    # Nothing was accepted, so nothing was written: no tracking store was even created.
    assert not (tmp_path / "mlflow.db").exists()
    assert not (tmp_path / "mlartifacts").exists()


def test_console_script_prints_no_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "champion", "promote", "-c", str(tmp_path / "nowhere.yaml")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"},
        timeout=120,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert (
        "SpecError: project file" in result.stderr
        and "nowhere.yaml' (given with -c) does not exist" in result.stderr
    )


USAGE_ERRORS = [
    (["traine"], r"^UsageError: No such command 'traine'\..*\(see 'champion --help'\)$"),
    (
        ["train", "--colour", "red"],
        r"^UsageError: No such option: --colour.*\(see 'champion train --help'\)$",
    ),
    (
        ["train", "--jobs", "0"],
        r"^UsageError: Invalid value for '--jobs': Input should be greater than or equal to 1",
    ),
    (["feedback"], r"^UsageError: Missing argument 'file'.*\(see 'champion feedback --help'\)$"),
    (
        ["register", "--best", "--run", "abc"],
        r"^UsageError: Invalid value: give --best or --run, not both",
    ),
]


@pytest.mark.parametrize(
    ("argv", "message"),
    USAGE_ERRORS,
    ids=[
        "unknown-command",
        "unknown-option",
        "jobs-below-one",
        "missing-argument",
        "conflicting-options",
    ],
)
def test_usage_error_is_one_line_with_exit_2(argv, message, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "champion", *argv],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"},
        timeout=120,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert re.search(message, result.stderr.strip()), result.stderr
    assert result.stdout == ""


def test_cli_train_compare_register_promote_refuse(
    tmp_path, capsys, monkeypatch, breast_cancer_csv, sqlite_template
):
    for key, value in sqlite_store(tmp_path, sqlite_template).items():
        monkeypatch.setenv(key, value)
    config = write_project(
        tmp_path,
        f"""
name: cli_flow
data: {breast_cancer_csv}
target: diagnosis
task: binary
positive_class: malignant
candidates:
  - {{name: linear, estimator: linear}}
  - name: majority
    estimator: sklearn.dummy.DummyClassifier
    params: {{strategy: most_frequent}}
""",
    )
    c = ["-c", str(config)]
    assert run(["train", *c]) == 0
    out = capsys.readouterr().out
    assert "cli_flow: candidates by f1" in out
    # Not a terminal: one plain line per step, counted over both candidates.
    steps = [line for line in out.splitlines() if re.match(r"^\[\d+/8\] ", line)]
    assert "[8/8]" in steps[-1] and steps[-1].endswith(": done")
    assert {"linear: explain", "majority: explain"} <= {s.split("] ", 1)[1] for s in steps}

    assert run(["compare", *c, "--json"]) == 0
    ranked = json.loads(capsys.readouterr().out)
    assert [r["candidate"] for r in ranked] == ["linear", "majority"]
    assert ranked[0]["metrics"]["f1"] > ranked[1]["metrics"]["f1"]

    assert run(["register", *c, "--best"]) == 0
    out = capsys.readouterr().out
    assert out.strip().splitlines()[-1] == "1"
    assert "ONNX: compiled, verified at registration on " in out
    assert run(["promote", *c]) == 0
    assert "Promoted" in capsys.readouterr().out

    assert run(["register", *c, "--run", ranked[1]["run_id"]]) == 0
    capsys.readouterr()
    assert run(["promote", *c]) == 1  # the gate refuses the majority-class model
    captured = capsys.readouterr()
    assert "Gate evidence" in captured.out and "mcnemar_exact" in captured.out
    # MLflow may draw a download progress bar on stderr first; the error is the last line.
    last = captured.err.strip().splitlines()[-1]
    assert last.startswith("PromotionRefused: 'cli_flow' version 2 was not promoted: f1 0.0000")

    assert run(["models", *c, "--json"]) == 0
    versions = {v["version"]: v for v in json.loads(capsys.readouterr().out)}
    assert versions["1"]["aliases"] == ["champion"] and versions["2"]["aliases"] == ["challenger"]
    assert versions["2"]["tags"]["gate.decision"] == "refused"

    assert run(["register", *c, "--run", "0123456789abcdef"]) == 2
    assert (
        "NotFoundError: run '0123456789abcdef' is not a finished candidate"
        in capsys.readouterr().err
    )
    assert run(["rollback", *c]) == 2
    assert "has no previous champion" in capsys.readouterr().err


def test_demo_runs_end_to_end_then_serves(tmp_path):
    """``champion demo --no-serve`` as the README runs it, in a copy of the example;
    then ``champion demo`` again: a second version meets the gate, and the champion is
    served with a curl that works."""
    example = tmp_path / "examples" / "pokemon-legendary"
    example.mkdir(parents=True)
    text = (REPO / "examples" / "pokemon-legendary" / "champion.yaml").read_text()
    text = text.replace("../../data/pokemon", str(REPO / "data" / "pokemon"))
    (example / "champion.yaml").write_text(text)
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"} | {"COLUMNS": "200"}
    result = subprocess.run(
        [sys.executable, "-m", "champion", "demo", "--no-serve"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert "3. Promoted version 1 to champion" in result.stdout
    assert f"mlflow ui --backend-store-uri sqlite:///{example / 'mlflow.db'}" in result.stdout
    assert (example / "mlflow.db").is_file()

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "champion", "demo", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    try:
        lines = []
        for line in process.stdout:
            lines.append(line)
            if line.startswith("curl "):
                break
        output = "".join(lines)
        assert "version 2" in output and "3. Promoted version 2" in output, output[-3000:]
        body = re.search(r"--data '(.*)' http", lines[-1]).group(1)
        for _ in range(100):
            try:
                response = httpx.post(
                    f"http://127.0.0.1:{port}/invocations",
                    content=body,
                    headers={"Content-Type": "application/json"},
                )
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert response.status_code == 200, response.text
        assert len(response.json()["predictions"]) == 2
        assert all(isinstance(p, bool) for p in response.json()["predictions"])
    finally:
        process.terminate()
        process.wait(30)


def _commands_with_config() -> dict[str, list[str]]:
    """Every command that takes -c, with a placeholder for each required argument; a
    command with an optional MODEL argument is listed twice, the second time with a
    model name (which spares it reading the project file for one)."""
    import typer.main

    from champion.cli import app

    commands = {}
    for name, command in typer.main.get_command(app).commands.items():
        if any(param.name == "config" for param in command.params):
            required = [p for p in command.params if p.required and p.name != "config"]
            commands[name] = ["placeholder"] * len(required)
            if any(p.name == "model" and not p.required for p in command.params):
                commands[f"{name} MODEL"] = ["some_model", *commands[name]]
    return commands


COMMANDS_WITH_CONFIG = _commands_with_config()


def test_every_command_that_reads_a_project_takes_config():
    assert {"train", "compare", "register", "promote", "rollback", "models", "demo"} <= set(
        COMMANDS_WITH_CONFIG
    )


@pytest.mark.parametrize("command", sorted(COMMANDS_WITH_CONFIG))
def test_a_missing_project_file_named_with_c_is_an_error(command, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    missing = tmp_path / "nonexistent.yaml"

    code = run([command.split()[0], *COMMANDS_WITH_CONFIG[command], "-c", str(missing)])

    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1, err
    assert err.startswith("SpecError: ") and str(missing) in err, err
    # It did not fall back to the current folder: no tracking store was created there.
    assert not (tmp_path / "mlflow.db").exists()
