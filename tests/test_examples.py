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

import numpy as np
import pytest
from tensorboard.backend.event_processing import event_file_loader
from tensorboard.util import tensor_util

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"
SCRIPTS = sorted(EXAMPLES.glob("*.py"))


def load(path):
    """Import an example script as a module (its `__main__` block is off)."""
    spec = importlib.util.spec_from_file_location(f"example_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def summaries(run_dir):
    """{tag: {step: value}} over every event file of one TensorBoard run."""
    found = {}
    for path in sorted(run_dir.glob("events.out.tfevents.*")):
        for event in event_file_loader.EventFileLoader(str(path)).Load():
            for value in event.summary.value:
                data = tensor_util.make_ndarray(value.tensor)
                found.setdefault(value.tag, {})[event.step] = data
    return found


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


CHECKS = {
    "adding_problem": check_adding_problem,
    "monitor_gates": check_monitor_gates,
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
    check(load(path), tmp_path, capsys)


def test_examples_found():
    assert {path.stem for path in SCRIPTS} >= {
        "adding_problem",
        "monitor_gates",
    }
