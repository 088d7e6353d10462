"""`keras-gates ablate`: the table of units by the loss they cost.

The model reads one LSTM unit only (see `test_ablation.one_unit_model`);
its labels are its own outputs. Values are checked against `ablate` in the
same process and against NumPy statistics of `keras_gates.gates`.
"""

import re

import numpy as np
import pytest
from conftest import random_inputs, to_numpy
from test_ablation import READ, TIME, one_unit_model
from test_cli import failed, run

import keras_gates

# The model is saved compiled but never trained: Keras warns, loading it,
# that the saved optimizer has fewer variables than the one it builds.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Skipping variable loading for optimizer:UserWarning"
)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ablate")
    model = one_unit_model()
    x = random_inputs((10, TIME, 4), seed=7)
    y = to_numpy(model(x))
    model.save(folder / "model.keras")
    np.save(folder / "x.npy", x)
    np.save(folder / "y.npy", y)
    return folder, model, x, y


def _rows(out):
    return [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in out.splitlines()
        if line.startswith("| ") and not line.startswith("| rank")
    ]


def test_table(capfd, saved):
    folder, model, x, y = saved
    argv = ["ablate", folder / "model.keras", "--data", folder / "x.npy"]
    argv += ["--labels", folder / "y.npy", "--layer", "lstm"]
    status, out, err = run(capfd, *argv, "--gate", "forget")
    assert status == 0, err
    rows = _rows(out)
    assert len(rows) == 4
    expected = keras_gates.ablate(model, x, y, "lstm", "forget")
    forget = keras_gates.gates(model, x)["lstm"]["forget"]
    for row, want in zip(rows, expected):
        rank, unit, loss, delta, mean, shut, opened = row
        assert int(unit) == want["unit"]
        assert float(loss) == pytest.approx(want["loss"], rel=1e-4)
        assert float(delta) == pytest.approx(want["delta"], abs=1e-4)
        values = forget[..., want["unit"]]
        assert float(mean) == pytest.approx(values.mean(), abs=1e-3)
        assert shut == f"{(values < 0.1).mean():.1%}"
        assert opened == f"{(values > 0.9).mean():.1%}"
    assert int(rows[0][1]) == READ
    status, out, _ = run(capfd, *argv, "--gate", "forget", "--top", "2")
    assert status == 0 and _rows(out) == rows[:2]
    # A number, a gate that is not a sigmoid gate: no saturation columns.
    status, out, err = run(capfd, *argv, "--gate", "cell", "--value", "0")
    assert status == 0, err
    rows = _rows(out)
    assert len(rows) == 4 and all(len(row) == 5 for row in rows)
    assert int(rows[0][1]) == READ and float(rows[0][3]) > 0
    assert "held at 0 at every step" in out


def test_errors(capfd, saved, tmp_path):
    folder, model, x, _ = saved
    argv = ["ablate", folder / "model.keras", "--data", folder / "x.npy"]
    np.save(tmp_path / "short.npy", np.zeros((3, 1), "float32"))
    for extra, message in [
        (["--labels", tmp_path / "short.npy"], "holds 3 labels for 10"),
        (["--labels", tmp_path / "none.npy"], "no such labels file"),
        (["--value", "zero"], "--value must be 'mean' or a number"),
        (["--layer", "gru"], r"the model has \['lstm'\]"),
        (["--gate", "update"], "its gates are"),
    ]:
        options = {"--labels": folder / "y.npy", "--layer": "lstm"}
        options.update({"--gate": "forget", "--value": "mean"})
        options.update(dict(zip(extra[::2], extra[1::2])))
        line = failed(capfd, *argv, *[v for kv in options.items() for v in kv])
        assert re.search(message, line), line
    status, _, err = run(capfd, *argv, "--layer", "lstm")
    assert status == 2 and "required" in err
