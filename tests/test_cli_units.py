"""`keras-gates match` and `keras-gates search` on a saved model whose
units were planted by hand (tests/planted.py)."""

import json

import numpy as np
import pytest
from planted import VOCABULARY, A, planted_model, token_ids
from test_cli import failed, run

STEPS = 10


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("units")
    planted_model(STEPS).save(folder / "model.keras")
    x = token_ids(30, STEPS, padded=False)
    x[x == A] = 2
    x[::4, 3] = A
    x[13, 5:8] = A  # the one run of three
    np.save(folder / "x.npy", x)
    np.save(folder / "a.npy", x == A)
    (folder / "vocabulary.json").write_text(json.dumps(VOCABULARY))
    return folder


def rows(out):
    """The data rows of a markdown table, as lists of cells."""
    return [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in out.splitlines()
        if line.startswith("| ") and not line.startswith("| rank")
    ]


def test_match_prints_the_planted_units_first(capfd, files):
    model, data = files / "model.keras", files / "x.npy"
    by_array = run(
        capfd,
        "match",
        model,
        "--data",
        data,
        "--annotation",
        files / "a.npy",
        "--gate",
        "input",
        "--top",
        3,
    )
    by_regex = run(
        capfd,
        "match",
        model,
        "--data",
        data,
        "--regex",
        "a",
        "--vocabulary",
        files / "vocabulary.json",
        "--gate",
        "input",
        "--top",
        3,
    )
    for status, out, err in (by_array, by_regex):
        assert status == 0, err
        first, second, third = rows(out)
        assert {
            tuple(first[2:4] + first[5:6]),
            tuple(second[2:4] + second[5:6]),
        } == {
            ("input", "0", "high"),
            ("input", "1", "low"),
        }
        assert float(first[4]) > 0.95 and float(third[4]) < 0.95
    assert rows(by_array[1]) == rows(by_regex[1])
    assert "the regex 'a'" in by_regex[1]


def test_search_prints_the_planted_range_with_its_tokens(capfd, files):
    status, out, err = run(
        capfd,
        "search",
        files / "model.keras",
        "--data",
        files / "x.npy",
        "--layer",
        "lstm",
        "--gate",
        "input",
        "--units",
        0,
        "--length",
        3,
        "--vocabulary",
        files / "vocabulary.json",
    )
    assert status == 0, err
    ((rank, sequence, steps, score, tokens),) = rows(out)
    assert (rank, sequence, steps) == ("1", "13", "5-7")
    assert float(score) > 0.9
    assert "[a a a]" in tokens


@pytest.mark.parametrize(
    "extra, message, status",
    [
        ([], "give --annotation or --regex", 2),
        (["--regex", "a"], "--regex needs --vocabulary", 2),
        (["--annotation", "x.npy"], "must be a bool array", 1),
        (["--regex", "(", "--vocabulary", "vocabulary.json"], "--regex '('", 1),
    ],
)
def test_match_errors(capfd, files, extra, message, status):
    extra = [files / e if e.endswith((".npy", ".json")) else e for e in extra]
    line = failed(
        capfd,
        "match",
        files / "model.keras",
        "--data",
        files / "x.npy",
        *extra,
        status=status,
    )
    assert message in line
