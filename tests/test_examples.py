"""Every script in examples/, run in-process in its --quick mode.

Each script is imported by path and its `main(argv)` called, so that a
failure shows a normal traceback. Each example needs an entry in `CHECKS`
saying how to run it and what its result must look like; a new example
without one fails here until it gets one.
"""

import importlib.util
import math
import pathlib
import shlex
import zipfile

import keras
import numpy as np
import pytest
from events import summaries

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"
SCRIPTS = sorted(EXAMPLES.glob("*.py"))


def load(path):
    """Import an example script as a module (its `__main__` block is off)."""
    spec = importlib.util.spec_from_file_location(f"example_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def check_adding_problem(module, tmp_path, capsys):
    losses = module.main(["--quick"])
    assert set(losses) == {"LSTM", "GRU"}
    assert all(math.isfinite(loss) for loss in losses.values()), losses


def check_monitor_gates(module, tmp_path, capsys):
    log_dir = tmp_path / "logs"
    epochs = 3
    history = module.main(
        ["--quick", "--logdir", str(log_dir), "--epochs", str(epochs)]
    )
    for key in ("loss", "val_loss"):
        assert len(history[key]) == epochs, history
        assert np.isfinite(history[key]).all(), history
    out = capsys.readouterr().out
    assert f"tensorboard --logdir {shlex.quote(str(log_dir))}" in out

    # keras.callbacks.TensorBoard and GateMonitor share the log directory.
    epoch_steps = list(range(epochs))
    train = summaries(log_dir / "train")
    validation = summaries(log_dir / "validation")
    for run in (train, validation):
        assert sorted(run["epoch_loss"]) == epoch_steps
    # GateMonitor: both halves of the Bidirectional stock LSTM and the
    # keras-gates GRU, every epoch; the probe is `probe_data`, so "train".
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
            mean = np.array(list(train[f"{tag}/mean"].values()))
            assert ((mean > 0) & (mean < 1)).all(), (tag, mean)
            for side in ("saturation_left", "saturation_right"):
                values = train[f"{tag}/{side}"]
                assert sorted(values) == epoch_steps, (tag, side)
                assert all(0 <= v <= 1 for v in values.values()), values
    assert not any(tag.startswith(("bilstm/", "gru/")) for tag in validation)


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
    for name, values in gates["lstm"].items():
        assert values.shape == (*x.shape[:2], 4), name
        assert np.isfinite(values).all(), name
    for name in ("input", "forget", "output"):
        values = gates["lstm"][name]
        assert ((values > 0) & (values < 1)).all(), name
    assert result["max_difference"] <= 1e-5
    # The model rebuilt with return_gates=True returns the same gates.
    assert tuple(result["gate_outputs"]) == names
    for name, values in result["gate_outputs"].items():
        np.testing.assert_allclose(values, gates["lstm"][name], atol=1e-5)
    out = capsys.readouterr().out
    assert "| lstm | forget gate | sigmoid layer | 2 + 4 = 6 |" in out
    assert "transparent(model): largest prediction difference" in out

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
        "test_a_gate",
    }
