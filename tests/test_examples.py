"""Every script in examples/, run in-process in its --quick mode.

Each script is imported by path and its `main(argv)` called, so that a
failure shows a normal traceback. Each example needs an entry in `CHECKS`
saying how to run it and what its result must look like; a new example
without one fails here until it gets one.
"""

import importlib.util
import json
import math
import pathlib
import re
import shlex
import zipfile

import keras
import numpy as np
import pytest
from conftest import CellSpec
from events import summaries
from logged import SIGMOID, assert_probe_stats
from reference import numpy_rnn

import keras_gates

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"
SCRIPTS = sorted(EXAMPLES.glob("*.py"))


def adding_problem(*args, **kwargs):
    """The data of examples/adding_problem.py."""
    return load(EXAMPLES / "adding_problem.py").adding_problem(*args, **kwargs)


def load(path):
    """Import an example script as a module (its `__main__` block is off)."""
    spec = importlib.util.spec_from_file_location(f"example_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# How far the examples' float32 gates and outputs may lie from the float64
# NumPy recurrence: half an ulp (eps32 / 2 = 6e-8) per operation, through
# at most 12 steps of sums of at most 13 terms of magnitude <= ~3:
# 12 * 13 * 3 * 6e-8 ~ 3e-5 at the very worst.
ATOL = 3e-5

# A row of a printed gate table: [layer] gate mean [<0.1 share >0.9 share].
ROW = re.compile(
    r"^(?:(?P<layer>\S+)\s+)?(?P<gate>[a-z]+)\s+(?P<mean>-?\d+\.\d{3})"
    r"(?:\s+(?P<left>\d+\.\d)%\s+(?P<right>\d+\.\d)%)?$"
)


def gate_rows(text):
    """The rows of the gate tables printed in `text`, in order."""
    found = (ROW.match(line.strip()) for line in text.splitlines())
    return [match.groupdict() for match in found if match]


def assert_gate_table(rows, gates):
    """Printed rows (mean to 3 decimals, shares below 0.1 and above 0.9 to
    0.1%) of NumPy's `gates` {name: values}, in order."""
    assert [row["gate"] for row in rows] == list(gates)
    for row, (name, values) in zip(rows, gates.items()):
        # Half the last printed digit, and float32's error.
        assert abs(float(row["mean"]) - values.mean()) <= 5e-4 + ATOL, name
        if name not in SIGMOID:
            assert row["left"] is None, name
            continue
        for printed, share in (
            (row["left"], (values < 0.1).mean()),
            (row["right"], (values > 0.9).mean()),
        ):
            assert abs(float(printed) / 100 - share) <= 5e-4 + ATOL, name


def numpy_model(model, x):
    """Gates and prediction of a model Input -> one recurrent layer ->
    Dense, by the float64 NumPy recurrence from its weights."""
    recurrent, dense = [layer for layer in model.layers if layer.weights]
    spec = CellSpec(type(recurrent).__name__)
    (last, *_), gates = numpy_rnn(spec, recurrent.get_weights(), x)
    kernel, bias = dense.get_weights()
    return gates, last @ kernel + bias


def check_adding_problem(module, tmp_path, capsys):
    result = module.main(["--quick"])
    out = capsys.readouterr().out
    # The data again, independently: the quick sizes, the script's seeds.
    x, y = adding_problem(256, 10)
    x_val, y_val = adding_problem(256, 10, seed=1)
    baseline = ((y_val - y.mean()) ** 2).mean()
    np.testing.assert_allclose(result["baseline"], baseline, rtol=1e-6)
    tables = re.split(r"\n(LSTM|GRU)\(4\): validation MSE ", out)[1:]
    assert [name for name in tables[::2]] == ["LSTM", "GRU"]
    for name, text in zip(tables[::2], tables[1::2]):
        val_loss, model = result[name]["val_loss"], result[name]["model"]
        # Seeded: 3 quick epochs take the validation MSE down by more
        # than a third (measured: to 46% and 31%).
        assert val_loss[-1] < val_loss[0] / 1.5, (name, val_loss)
        gates, prediction = numpy_model(model, x_val)
        mse = ((prediction - y_val) ** 2).mean()
        np.testing.assert_allclose(val_loss[-1], mse, rtol=1e-5, atol=ATOL)
        printed = float(text.split()[0])
        assert abs(printed - mse) <= 5e-5 + ATOL, (name, printed, mse)
        assert f"({val_loss[-1] / baseline:.0%} of the baseline)" in text
        assert_gate_table(gate_rows(text), gates)


def check_monitor_gates(module, tmp_path, capsys):
    log_dir = tmp_path / "logs"
    epochs = 3
    result = module.main(
        ["--quick", "--logdir", str(log_dir), "--epochs", str(epochs)]
    )
    history, model = result["history"], result["model"]
    for key in ("loss", "val_loss"):
        assert len(history[key]) == epochs, history
    # Seeded: the validation MSE falls by more than a third over 3 quick
    # epochs (measured: 0.58 to 0.25).
    assert history["val_loss"][-1] < history["val_loss"][0] / 1.5, history
    out = capsys.readouterr().out
    assert f"tensorboard --logdir {shlex.quote(str(log_dir))}" in out

    # keras.callbacks.TensorBoard and GateMonitor share the log directory.
    epoch_steps = list(range(epochs))
    train = summaries(log_dir / "train")
    validation = summaries(log_dir / "validation")
    for run in (train, validation):
        assert sorted(run["epoch_loss"]) == epoch_steps
    # GateMonitor: both halves of the Bidirectional stock LSTM and the
    # keras-gates GRU, every epoch; the probe is `probe_data` (the first
    # 64 validation sequences), so "train".
    expected = {
        "bilstm/forward": ("input", "forget", "output"),
        "bilstm/backward": ("input", "forget", "output"),
        "gru": ("update", "reset"),
    }
    for layer, sigmoid_gates in expected.items():
        assert sorted(train[f"{layer}/dimensions"]) == [0]
        assert sorted(train[f"{layer}/saturation_scatter"]) == epoch_steps
        assert sorted(train[f"{layer}/candidate/histogram"]) == epoch_steps
        for gate in sigmoid_gates:
            tag = f"{layer}/{gate}"
            assert sorted(train[f"{tag}/heatmap"]) == epoch_steps, tag
            assert train[f"{tag}/nonfinite"] == dict.fromkeys(epoch_steps, 0)
            for side in ("saturation_left", "saturation_right"):
                assert sorted(train[f"{tag}/{side}"]) == epoch_steps, tag
    assert not any(tag.startswith(("bilstm/", "gru/")) for tag in validation)
    # The last epoch's statistics (the final weights) against NumPy.
    steps = model.inputs[0].shape[1]
    probe = adding_problem(256, steps, seed=1)[0][:64]
    lstm, cell = model.get_layer("bilstm"), CellSpec("LSTM")
    _, forward = numpy_rnn(cell, lstm.forward_layer.get_weights(), probe)
    _, backward = numpy_rnn(
        cell, lstm.backward_layer.get_weights(), probe, go_backwards=True
    )
    # The GRU reads both halves' outputs, the backward one in input order.
    sequence = np.concatenate(
        [forward["hidden"], backward["hidden"][:, ::-1]], axis=-1
    )
    _, gru = numpy_rnn(
        CellSpec("GRU"), model.get_layer("gru").get_weights(), sequence
    )
    valid = np.ones(probe.shape[:2], bool)
    for layer, gates in (
        ("bilstm/forward", forward),
        ("bilstm/backward", backward),
        ("gru", gru),
    ):
        assert_probe_stats(train, layer, gates, valid, atol=ATOL)


def check_char_rnn(module, tmp_path, capsys):
    result = module.main(["--quick"])
    assert math.isfinite(result["val_loss"]), result
    assert len(result["sample"]) == 200
    units = result["memory_units"]
    assert len(units) == 5 and len(set(units)) == 5
    out = capsys.readouterr().out
    assert "units whose forget gate is most often > 0.9" in out
    assert "tensorboard --logdir logs/char_rnn" in out
    train = summaries(tmp_path / "logs" / "char_rnn" / "train")
    assert set(train["lstm/forget/mean"]) == {0}
    assert set(train["lstm/figures/lstm_gates"]) == {0}
    validation = summaries(tmp_path / "logs" / "char_rnn" / "validation")
    assert set(validation["epoch_loss"]) == {0}


def check_time_series(module, tmp_path, capsys):
    log_dir = tmp_path / "logs"
    result = module.main(["--quick", "--logdir", str(log_dir)])
    history = result["history"]
    assert np.isfinite(history["loss"] + history["val_loss"]).all(), history
    assert history["loss"][-1] < history["loss"][0], history
    for key in ("val_mse", "naive_mse", "last_value_mse"):
        assert 0 < result[key] < math.inf, result
    ratio = result["val_mse"] / result["naive_mse"]
    winner = "the LSTM" if ratio < 1 else "seasonal naive"
    out = capsys.readouterr().out
    assert f"{winner} wins: LSTM / seasonal naive = {ratio:.2f}" in out
    assert f"tensorboard --logdir {shlex.quote(str(log_dir))}" in out

    train = summaries(log_dir / "train")
    epochs = list(range(len(history["loss"])))
    assert sorted(train["epoch_loss"]) == epochs
    for gate in ("input", "forget", "output"):
        mean = train[f"lstm/{gate}/mean"]
        assert sorted(mean) == epochs, gate
        assert all(0 < v < 1 for v in mean.values()), (gate, mean)
    assert sorted(train["lstm/dimensions"]) == [0]


def check_inspect_stock_lstm(module, tmp_path, capsys):
    result = module.main(["--quick"])
    model_path = tmp_path / "stock_lstm.keras"
    x = np.load(tmp_path / "stock_lstm_inputs.npy")
    # The saved model is plain Keras: nothing of keras-gates in it.
    with zipfile.ZipFile(model_path) as archive:
        assert "keras_gates" not in archive.read("config.json").decode()
    model = keras.saving.load_model(model_path)
    assert type(model.get_layer("lstm")) is keras.layers.LSTM

    gates = result["gates"]
    assert list(gates) == ["lstm"]
    names = ("input", "forget", "candidate", "output", "cell", "hidden")
    assert tuple(gates["lstm"]) == names
    # Independently: the float64 NumPy recurrence from the saved weights.
    expected, prediction = numpy_model(model, x)
    for name, values in expected.items():
        np.testing.assert_allclose(gates["lstm"][name], values, atol=ATOL)
        # The model rebuilt with return_gates=True returns them too.
        np.testing.assert_allclose(
            result["gate_outputs"][name], values, atol=ATOL
        )
    assert tuple(result["gate_outputs"]) == names
    out = capsys.readouterr().out
    assert_gate_table(gate_rows(out), expected)
    assert "| lstm | forget gate | sigmoid layer | 2 + 4 = 6 |" in out
    # transparent(model) predicts what NumPy does.
    clear = keras_gates.transparent(model).predict(x, verbose=0)
    np.testing.assert_allclose(clear, prediction, atol=ATOL)
    stock = model.predict(x, verbose=0)
    np.testing.assert_allclose(stock, prediction, atol=ATOL)
    # Both printed differences are those recomputed here (predictions of
    # the same inputs repeat exactly; both are 0 here).
    difference = np.abs(clear - stock).max()
    assert f"largest prediction difference {difference:.2e}\n" in out
    gap = max(
        np.abs(values - gates["lstm"][name]).max()
        for name, values in result["gate_outputs"].items()
    )
    assert f"largest difference to gates() {gap:.2e}\n" in out

    # Inspecting the saved file again gives the same gates.
    again = module.main(
        ["--model", str(model_path), "--data", "stock_lstm_inputs.npy"]
    )
    for name, values in gates["lstm"].items():
        np.testing.assert_array_equal(again["gates"]["lstm"][name], values)
    with pytest.raises(SystemExit):
        module.main(["--model", str(model_path)])  # --data is missing


def check_bidirectional_text(module, tmp_path, capsys):
    log_dir = tmp_path / "logs"
    result = module.main(["--quick", "--logdir", str(log_dir)])
    history = result["history"]
    assert np.isfinite(history["loss"] + history["val_loss"]).all(), history
    assert 0.5 <= result["majority"] < 1, result
    assert result["val_accuracy"] > result["majority"], result

    # Both halves, at padded steps exactly 0; the backward half's gates
    # are in processing order, the line read from its end.
    gates, real = result["gates"], result["real"]
    assert set(gates) == {"bilstm/forward", "bilstm/backward"}
    assert not real.all(), "the probe should have padded steps"
    for half, valid in (("forward", real), ("backward", real[:, ::-1])):
        for name, values in gates[f"bilstm/{half}"].items():
            assert (values[~valid] == 0).all(), (half, name)
        for name in ("input", "forget", "output"):
            values = gates[f"bilstm/{half}"][name][valid]
            assert ((values > 0) & (values < 1)).all(), (half, name)
    out = capsys.readouterr().out
    assert "bilstm/backward: largest |gate| at padded steps 0.0;" in out
    assert f"tensorboard --logdir {shlex.quote(str(log_dir))}" in out

    # GateMonitor leaves padded steps out too: its last logged mean is the
    # mean over real tokens that the script prints.
    train = summaries(log_dir / "train")
    last = len(history["loss"]) - 1
    for half, mean in result["forget_mean"].items():
        logged = train[f"bilstm/{half}/forget/mean"]
        assert sorted(logged) == list(range(last + 1)), half
        assert abs(float(logged[last]) - mean) < 1e-5, (half, logged, mean)


def check_why_gates_open(module, tmp_path, capsys):
    result = module.main(["--quick", "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out
    drops = result["drops"]
    assert np.all(np.diff(drops) <= 0)  # ranked, largest drop first
    assert f"unit {result['units'][0]:3d}: {drops[0]:+.3f}" in out
    seq, step, values = result["case"]
    assert values.shape == (64,)
    # The gate at a step cannot depend on later characters.
    assert np.all(values[step + 1 :] == 0) and values[: step + 1].any()
    share = result["by_offset"]
    assert share.sum() > 0 and np.all(share >= 0)
    assert result["figure"].is_file()
    assert result["figure"].stat().st_size > 10_000
    assert "keras-gates board logs/why_gates_open" in out
    logged = summaries(tmp_path / "logs" / "why_gates_open" / "train")
    assert sorted(logged["lstm/_gates/attribution"]) == [0]
    assert sorted(logged["_gates/output_attribution"]) == [0]


def check_text_classifier(module, tmp_path, capsys):
    log_dir = tmp_path / "logs"
    result = module.main(["--quick", "--logdir", str(log_dir)])
    history = result["history"]
    assert np.isfinite(history["loss"] + history["val_loss"]).all(), history
    # Labels from ast: every line is a docstring's first line, half of
    # them of functions.
    probe, vectorizer = result["probe"], result["vectorizer"]
    assert probe.dtype.kind == "U" and probe.shape[1] == 1
    out = capsys.readouterr().out
    assert "keras-gates board" in out and "push towards 'class'" in out
    # The dashboard's tokens are the model's own words at the validation
    # texts' steps, without a vocabulary given; padding unlabelled.
    validation = summaries(log_dir / "validation")
    tokens = json.loads(validation["_gates/tokens"][0].item())["tokens"]
    vocabulary = vectorizer.get_vocabulary()
    ids = keras.ops.convert_to_numpy(vectorizer(probe[: len(tokens), 0]))
    assert tokens == [[vocabulary[i] if i else "" for i in row] for row in ids]
    assert sorted(validation["lstm/forget/mean"]) == [0]
    assert sorted(validation["_gates/output_attribution"]) == [0]
    # Attribution per word: zero at padding, not all zero elsewhere.
    values, ids = result["attribution"], result["ids"]
    assert values.shape == ids.shape
    assert (values[ids == 0] == 0).all() and (values[ids != 0] > 0).any()
    words = result["ranked"]["function"] + result["ranked"]["class"]
    assert set(words) <= set(vocabulary[2:])


def check_test_a_gate(module, tmp_path, capsys):
    result = module.main(["--quick", "--out", str(tmp_path / "gate.png")])
    out = capsys.readouterr().out
    plain, held = result["loss"]["plain"], result["loss"]["held"]
    assert plain.shape == held.shape and plain.shape[1] == 64
    at = module.AT
    # The edit starts at the newline: no earlier prediction can change;
    # later ones do.
    np.testing.assert_allclose(held[:, :at], plain[:, :at], atol=1e-5)
    assert np.abs(held[:, at:] - plain[:, at:]).max() > 1e-4
    assert len(result["loss"]["random"]) == 2
    units, rate = result["units"], result["rate"]
    assert units and all(0 <= rate[u] <= 1 for u in units)
    assert f"the {len(units)} shut units" in out
    assert "| held open from the newline | before it |" in out
    assert result["figure"].is_file()
    assert result["figure"].stat().st_size > 10_000


CHECKS = {
    "test_a_gate": check_test_a_gate,
    "why_gates_open": check_why_gates_open,
    "char_rnn": check_char_rnn,
    "adding_problem": check_adding_problem,
    "monitor_gates": check_monitor_gates,
    "time_series": check_time_series,
    "inspect_stock_lstm": check_inspect_stock_lstm,
    "bidirectional_text": check_bidirectional_text,
    "text_classifier": check_text_classifier,
}


@pytest.mark.parametrize("path", SCRIPTS, ids=[path.stem for path in SCRIPTS])
def test_example(path, tmp_path, capsys, monkeypatch):
    check = CHECKS.get(path.stem)
    if check is None:
        pytest.fail(
            f"examples/{path.name} has no entry in CHECKS of "
            "tests/test_examples.py: say how to run it in quick mode and "
            "what its result must look like"
        )
    monkeypatch.chdir(tmp_path)  # whatever an example writes by default
    # As `python examples/x.py` does: its folder first on the path, for
    # the data of examples/adding_problem.py.
    monkeypatch.syspath_prepend(str(EXAMPLES))
    check(load(path), tmp_path, capsys)


def test_adding_problem_data():
    """examples/adding_problem.py's data: two markers per sequence, the
    target the sum of the marked values, the same for the same seed."""
    make = load(EXAMPLES / "adding_problem.py").adding_problem
    x, y = make(5, 12, seed=3)
    assert x.shape == (5, 12, 2) and y.shape == (5, 1)
    assert x.dtype == y.dtype == np.float32
    values, markers = x[..., 0], x[..., 1]
    assert np.all((values >= 0) & (values < 1))
    assert set(np.unique(markers)) == {0.0, 1.0}
    assert np.all(markers.sum(axis=1) == 2)
    marked = [row[mark == 1].sum() for row, mark in zip(values, markers)]
    np.testing.assert_allclose(y[:, 0], marked, rtol=1e-6)
    assert np.array_equal(make(5, 12, seed=3)[0], x)
    assert not np.array_equal(make(5, 12, seed=4)[0], x)


def test_examples_found():
    assert {path.stem for path in SCRIPTS} >= {
        "adding_problem",
        "char_rnn",
        "monitor_gates",
        "time_series",
        "inspect_stock_lstm",
        "bidirectional_text",
        "why_gates_open",
        "text_classifier",
        "test_a_gate",
    }
