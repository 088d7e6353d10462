"""GateMonitor: fit small models, read the event files back, check values.

Expected values are recomputed independently from the final weights with
the NumPy recurrence of `reference.py`.
"""

import os

import keras
import matplotlib
import numpy as np
import pytest
from conftest import tf_only
from logged import (
    FLOAT32_ATOL,
    SIGMOID,
    assert_gate_stats,
    assert_probe_stats,
    training_range,
)
from monitored import (
    FEATURES,
    GRU,
    LSTM,
    TIME,
    data,
    expected_gates,
    mask_of,
    model_with_stock_and_gates_layers,
    read_run,
)
from reference import numpy_rnn
from tensorboard.backend.event_processing import event_accumulator as ea

import keras_gates
from tensorboard_plugin_gates import metadata

pytestmark = tf_only  # TensorBoard summaries are written with TensorFlow


@pytest.mark.parametrize("jit_compile", [False, True])
def test_fit_writes_gate_summaries_matching_numpy(tmp_path, jit_compile):
    x, y = data()
    model = model_with_stock_and_gates_layers(jit_compile)
    log_dir = str(tmp_path)
    monitor = keras_gates.GateMonitor(log_dir, probe_data=x)
    board = keras.callbacks.TensorBoard(log_dir)
    model.fit(
        x, y, epochs=2, batch_size=8, verbose=0, callbacks=[monitor, board]
    )
    events = read_run(log_dir, "train")
    assert "epoch_loss" in events  # Keras's own writer, same run
    expected, mask = expected_gates(model, x)
    for layer, gates in expected.items():
        for gate, values in gates.items():
            valid = values[mask]
            steps = [s for s, _ in events[f"{layer}/{gate}/mean"]]
            assert steps == [0, 1]
            mean = events[f"{layer}/{gate}/mean"][-1][1]
            np.testing.assert_allclose(mean, valid.mean(), atol=1e-5)
            assert events[f"{layer}/{gate}/nonfinite"][-1][1] == 0
            histogram = events[f"{layer}/{gate}/histogram"][-1][1]
            assert histogram[:, 2].sum() == valid.size  # masked excluded
            assert f"{layer}/{gate}/heatmap" in events
            if gate in ("input", "forget", "output", "update", "reset"):
                left = events[f"{layer}/{gate}/saturation_left"][-1][1]
                right = events[f"{layer}/{gate}/saturation_right"][-1][1]
                np.testing.assert_allclose(
                    left, (valid < 0.1).mean(), atol=1e-6
                )
                np.testing.assert_allclose(
                    right, (valid > 0.9).mean(), atol=1e-6
                )
                open_units = (valid > 0.9).mean(axis=0) >= 0.99
                np.testing.assert_allclose(
                    events[f"{layer}/{gate}/units_always_open"][-1][1],
                    open_units.mean(),
                )
            else:
                assert f"{layer}/{gate}/saturation_left" not in events
        assert f"{layer}/saturation_scatter" in events
        text = events[f"{layer}/dimensions"][0][1].item().decode()
        total = keras_gates.describe(model).total_params(layer)
        assert f"| {total} |" in text
        assert total == model.get_layer(layer).count_params()
    # Heatmaps show the valid steps of probe sequence 0, 4 pixels a value:
    # [width (time), height (units), PNG].
    image = events["lstm/forget/heatmap"][-1][1]
    assert image.shape == (3,)
    assert int(image[0]) == mask[0].sum() * 4 and int(image[1]) == 4 * 4


def test_validation_data_is_the_default_probe(tmp_path):
    x, y = data()
    x_val, y_val = data(12, seed=1)
    x_val *= 3.0  # validation rows unlike the training rows: other gates
    model = model_with_stock_and_gates_layers()
    monitor = keras_gates.GateMonitor(str(tmp_path), max_probe=5)
    model.fit(
        x,
        y,
        epochs=1,
        batch_size=8,
        shuffle=False,
        verbose=0,
        validation_data=(x_val, y_val),
        callbacks=[monitor],
    )
    events = read_run(str(tmp_path), "validation")
    probe_note = events["gate_monitor/probe"][0][1].item().decode()
    assert "5 sequences of the validation data" in probe_note
    assert "gate_monitor/probe" not in read_run(str(tmp_path), "train")
    expected, mask = expected_gates(model, x_val[:5])
    for layer, gates in expected.items():
        assert_probe_stats(events, layer, gates, mask)
    # Statistics of training rows (the first ones, or the last batch)
    # would not pass: the check tells them apart.
    for rows in (x[:5], x[24:29]):
        other, other_mask = expected_gates(model, rows)
        for layer, gates in other.items():
            with pytest.raises(AssertionError):
                assert_probe_stats(events, layer, gates, other_mask)


def test_resumed_run_continues_steps_and_freq(tmp_path):
    x, y = data()
    model = model_with_stock_and_gates_layers()
    monitor = keras_gates.GateMonitor(str(tmp_path), probe_data=(x, y), freq=2)
    model.fit(x, y, epochs=4, initial_epoch=1, verbose=0, callbacks=[monitor])
    steps = [s for s, _ in read_run(str(tmp_path), "train")["gru/update/mean"]]
    assert steps == [1, 3]


def test_bidirectional_and_dataset_probe(tmp_path):
    import tensorflow as tf

    x, y = data()
    model = keras.Sequential(
        [
            keras.Input((TIME, FEATURES)),
            keras.layers.Bidirectional(keras.layers.GRU(2), name="bi"),
            keras.layers.Dense(1),
        ]
    )
    model.compile(loss="mse")
    probe = tf.data.Dataset.from_tensor_slices((x, y)).batch(5)
    monitor = keras_gates.GateMonitor(
        str(tmp_path / "all"), probe_data=probe, max_probe=7
    )
    backward = keras_gates.GateMonitor(
        str(tmp_path / "backward"),
        probe_data=probe,
        max_probe=7,
        layers=["bi/backward"],
        figures=False,
    )
    model.fit(x, y, epochs=1, verbose=0, callbacks=[monitor, backward])
    # Two batches of 5 taken, cut to max_probe=7 sequences; no mask.
    bi, valid = model.get_layer("bi"), np.ones((7, TIME), bool)
    expected = {
        "bi/forward": numpy_rnn(GRU, bi.forward_layer.get_weights(), x[:7]),
        "bi/backward": numpy_rnn(
            GRU, bi.backward_layer.get_weights(), x[:7], go_backwards=True
        ),
    }
    events = read_run(str(tmp_path / "all"), "train")
    for half, (_, gates) in expected.items():
        assert_probe_stats(events, half, gates, valid)
        # The dashboard's sequences are in input order: the backward
        # half's (computed last step first) flipped back.
        codes = events[f"{half}/_gates/sequences"][-1][1]
        scale = events[f"{half}/_gates/scale"][-1][1]
        assert codes.shape == (4, 4, TIME, 2)  # gates, sequences, steps, units
        for index, values in enumerate(gates.values()):
            if half == "bi/backward":
                values = values[:, ::-1]
            low, high = scale[index]
            np.testing.assert_allclose(
                metadata.dequantize(codes[index], low, high),
                values[:4],
                # The codes' rounding (see metadata) and float32's.
                atol=(high - low) / (2 * metadata.CODE_MAX) + FLOAT32_ATOL,
            )
    # layers=["bi/backward"]: that half alone, the same values.
    alone = read_run(str(tmp_path / "backward"), "train")
    assert {tag.split("/")[1] for tag in alone if tag.startswith("bi/")} == {
        "backward"
    }
    assert_probe_stats(alone, "bi/backward", expected["bi/backward"][1], valid)


def test_non_finite_gates_are_counted_and_training_goes_on(tmp_path):
    x, y = data()
    model = model_with_stock_and_gates_layers()
    lstm = model.get_layer("lstm")
    weights = lstm.get_weights()
    weights[0][0, 0] = np.nan
    lstm.set_weights(weights)
    monitor = keras_gates.GateMonitor(str(tmp_path), probe_data=x)
    history = model.fit(x, y, epochs=2, verbose=0, callbacks=[monitor])
    assert len(history.history["loss"]) == 2
    events = read_run(str(tmp_path), "train")
    assert events["lstm/input/nonfinite"][-1][1] > 0


def test_bad_inputs_give_clear_errors(tmp_path):
    x, y = data()
    model = model_with_stock_and_gates_layers()
    bad = keras_gates.GateMonitor(str(tmp_path), probe_data=x[:, :, :2])
    with pytest.raises(ValueError, match=r"expects input shape.*6, 3"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[bad])
    dense = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    dense.compile(loss="mse")
    with pytest.raises(ValueError, match="no LSTM, GRU or SimpleRNN"):
        dense.fit(
            np.ones((4, 3)),
            np.ones((4, 1)),
            verbose=0,
            callbacks=[keras_gates.GateMonitor(str(tmp_path))],
        )
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    unwritable = keras_gates.GateMonitor(str(blocker / "logs"), probe_data=x)
    with pytest.raises(ValueError, match="cannot write to log_dir"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[unwritable])
    with pytest.raises(ValueError, match="freq"):
        keras_gates.GateMonitor(str(tmp_path), freq=0)


@pytest.mark.parametrize("jit_compile", [False, True])
def test_without_probe_or_validation_the_last_training_batch_is_probed(
    tmp_path, jit_compile
):
    x, y = data()
    model = model_with_stock_and_gates_layers(jit_compile)
    monitor = keras_gates.GateMonitor(str(tmp_path), max_probe=6)
    model.fit(
        x,
        y,
        epochs=2,
        batch_size=8,
        shuffle=False,
        verbose=0,
        callbacks=[monitor],
    )
    events = read_run(str(tmp_path), "train")
    note = events["gate_monitor/probe"][0][1].item().decode()
    assert "6 sequences of the latest training batch" in note
    expected, mask = expected_gates(model, x[24:30])  # last batch, cut to 6
    for layer, gates in expected.items():
        for gate, values in gates.items():
            mean = events[f"{layer}/{gate}/mean"][-1][1]
            np.testing.assert_allclose(mean, values[mask].mean(), atol=1e-5)
    assert "call" not in model.__dict__  # the listener is gone after fit
    model.fit(x, y, epochs=1, verbose=0)


def test_no_gates_without_any_data_for_a_model_of_unknown_shape(tmp_path):
    inputs = keras.Input((None, FEATURES))
    model = keras.Model(
        inputs, keras.layers.Dense(1)(keras.layers.LSTM(2)(inputs))
    )
    model.compile(loss="mse")
    x, y = data()
    monitor = keras_gates.GateMonitor(str(tmp_path))
    with pytest.warns(UserWarning, match="no gates are logged"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[monitor])


@pytest.mark.parametrize("jit_compile", [False, True])
def test_training_statistics_cover_every_batch(tmp_path, jit_compile):
    # With a zero learning rate the weights never change, so statistics
    # accumulated over all training batches equal NumPy gates on the whole
    # training set.
    x, y = data()
    model = model_with_stock_and_gates_layers()
    model.compile(keras.optimizers.SGD(0.0), "mse", jit_compile=jit_compile)
    monitor = keras_gates.GateMonitor(
        str(tmp_path), probe_data=x[:4], track_training=True, bins=10
    )
    model.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[monitor])
    events = read_run(str(tmp_path), "train")
    expected, mask = expected_gates(model, x)
    for layer, gates in expected.items():
        for gate, values in gates.items():
            valid = values[mask]
            tag = f"{layer}/{gate}/training"
            histogram = events[f"{tag}/histogram"]
            assert [s for s, _ in histogram] == [0, 1]  # reset each epoch
            counts = histogram[-1][1][:, 2]
            assert counts.sum() == valid.size
            if gate in ("forget", "update"):
                edges = np.linspace(0.0, 1.0, 11)
                np.testing.assert_array_equal(
                    counts, np.histogram(valid, edges)[0]
                )
                right = events[f"{tag}/saturation_right"][-1][1]
                np.testing.assert_allclose(
                    right, (valid > 0.9).mean(), atol=1e-6
                )
            np.testing.assert_allclose(
                events[f"{tag}/mean"][-1][1], valid.mean(), atol=1e-5
            )
    # After fit, the model trains without the listeners.
    assert "call" not in model.get_layer("lstm").__dict__
    model.fit(x, y, epochs=1, verbose=0)


def test_mirrored_strategy_on_two_cpus(tmp_path):
    # Logical devices must be set before TensorFlow starts: use a child.
    script = tmp_path / "mirrored.py"
    script.write_text(MIRRORED_SCRIPT)
    import subprocess
    import sys

    saved = tmp_path / "saved.npz"
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "logs"), str(saved)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    events = read_run(str(tmp_path / "logs"), "train")
    with np.load(saved) as arrays:
        x = arrays["x"]
        weights = [arrays[f"w{i}"] for i in range(3)]
    # Batches of 8 split into 2 replicas of 4 rows; track_rows=3 takes the
    # first 3 rows of each replica's share (a learning rate of 0 keeps the
    # weights): rows 0-2 and 4-6 of each batch, both replicas summed.
    rows = [b + r for b in range(0, 32, 4) for r in range(3)]
    _, gates = numpy_rnn(LSTM, weights, x[rows])
    for gate, values in gates.items():
        assert_gate_stats(
            events,
            f"lstm/{gate}/training",
            values.reshape(-1, 4),
            gate in SIGMOID,
            value_range=training_range(gate),
        )
    _, probed = numpy_rnn(LSTM, weights, x[:8])
    assert_probe_stats(events, "lstm", probed, np.ones((8, TIME), bool))


MIRRORED_SCRIPT = f"""
import sys
import numpy as np
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration()] * 2
)
import keras
import keras_gates

strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
assert strategy.num_replicas_in_sync == 2
rng = np.random.default_rng(0)
x = rng.standard_normal((32, {TIME}, {FEATURES})).astype("float32")
y = np.zeros((32, 1), "float32")
with strategy.scope():
    model = keras.Sequential([
        keras.Input(({TIME}, {FEATURES})),
        keras.layers.LSTM(4, name="lstm"),
        keras.layers.Dense(1),
    ])
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")
monitor = keras_gates.GateMonitor(sys.argv[1], probe_data=x[:8],
                                  track_training=True, track_rows=3)
model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False,
          callbacks=[monitor])
weights = model.get_layer("lstm").get_weights()
np.savez(sys.argv[2], x=x, **{{f"w{{i}}": w for i, w in enumerate(weights)}})
"""


# Under mixed_float16 the layers compute in float16: 11 significant bits,
# eps16 = 2**-10 ~ 1e-3. A gate is rounded when it is stored (half an ulp)
# and carries the rounding of the float16 weights, inputs, pre-activations
# and states it came from; through 6 steps that stays within a few ulps of
# the largest magnitude involved (measured here: at most 1.1 ulp). Four ulps
# bound every value, hence also a mean.
FLOAT16_ULPS = 4 * 2.0**-10


def test_mixed_precision(tmp_path, dtype_policy):
    keras.config.set_dtype_policy("mixed_float16")
    x, y = data()
    model = model_with_stock_and_gates_layers()
    # No learning: the training statistics see the final weights too.
    model.compile(keras.optimizers.SGD(0.0), "mse")
    monitor = keras_gates.GateMonitor(
        str(tmp_path), probe_data=x, track_training=True
    )
    model.fit(x, y, epochs=1, batch_size=8, verbose=0, callbacks=[monitor])
    assert model.get_layer("lstm").compute_dtype == "float16"
    events = read_run(str(tmp_path), "train")
    # The float64 NumPy recurrence on the float32 variables: a float32 run.
    expected, mask = expected_gates(model, x)
    for layer, gates in expected.items():
        for gate, values in gates.items():
            kept, sigmoid = values[mask], gate in SIGMOID
            atol = FLOAT16_ULPS * max(1.0, np.abs(kept).max())
            assert_gate_stats(
                events, f"{layer}/{gate}", kept, sigmoid, atol=atol
            )
            assert_gate_stats(
                events,
                f"{layer}/{gate}/training",
                kept,
                sigmoid,
                value_range=training_range(gate),
                atol=atol,
            )


def test_training_statistics_on_the_first_rows_of_each_batch(tmp_path):
    x, y = data()
    model = model_with_stock_and_gates_layers()
    model.compile(keras.optimizers.SGD(0.0), "mse")
    monitor = keras_gates.GateMonitor(
        str(tmp_path), probe_data=x[:4], track_training=True, track_rows=3
    )
    model.fit(
        x,
        y,
        epochs=1,
        batch_size=8,
        shuffle=False,
        verbose=0,
        callbacks=[monitor],
    )
    rows = np.concatenate([np.arange(b, b + 3) for b in range(0, 32, 8)])
    expected, mask = expected_gates(model, x[rows])
    events = read_run(str(tmp_path), "train")
    for layer, gates in expected.items():
        for gate, values in gates.items():
            tag = f"{layer}/{gate}/training"
            counts = events[f"{tag}/histogram"][-1][1][:, 2]
            assert counts.sum() == values[mask].size
            np.testing.assert_allclose(
                events[f"{tag}/mean"][-1][1], values[mask].mean(), atol=1e-5
            )
    with pytest.raises(ValueError, match="track_rows"):
        keras_gates.GateMonitor(str(tmp_path), track_rows=0)


def test_cell_figures_are_logged_once_at_the_first_probe(tmp_path):
    import tensorflow as tf

    x, y = data()
    model = model_with_stock_and_gates_layers()
    log_dir = str(tmp_path / "figures")
    monitor = keras_gates.GateMonitor(
        log_dir, probe_data=x, freq=2, figures=True
    )
    model.fit(x, y, epochs=4, verbose=0, callbacks=[monitor])
    events = read_run(log_dir, "train")
    tags = {tag for tag in events if "/figures/" in tag}
    assert tags == {
        "lstm/figures/lstm_gates",
        "lstm/figures/lstm_dimensions",
        "lstm/figures/lstm_vs_gru",
        "gru/figures/lstm_vs_gru",
    }
    acc = ea.EventAccumulator(os.path.join(log_dir, "train"))
    acc.Reload()
    for tag in tags:
        ((step, image),) = events[tag]  # once, at the first probe (epoch 1)
        assert step == 1
        width, height, png = image
        decoded = tf.io.decode_png(png).numpy()
        assert decoded.shape == (int(height), int(width), 4)
        assert (decoded[..., :3] < 128).any()  # something is drawn
        assert acc.SummaryMetadata(tag).summary_description
    quiet_dir = str(tmp_path / "quiet")
    quiet = keras_gates.GateMonitor(quiet_dir, probe_data=x)  # the default
    model.fit(x, y, epochs=1, verbose=0, callbacks=[quiet])
    events = read_run(quiet_dir, "train")
    assert "lstm/forget/mean" in events
    assert not [tag for tag in events if "/figures/" in tag]
    with pytest.raises(ValueError, match="`figures` must be a bool"):
        keras_gates.GateMonitor(log_dir, figures="yes")


def test_training_mean_is_nan_when_no_value_is_finite(tmp_path):
    x, y = data()
    model = model_with_stock_and_gates_layers()
    model.compile(keras.optimizers.SGD(0.0), "mse")
    model.get_layer("gru").set_weights(
        [np.full_like(w, np.nan) for w in model.get_layer("gru").get_weights()]
    )
    monitor = keras_gates.GateMonitor(
        str(tmp_path), probe_data=x[:4], track_training=True
    )
    model.fit(x, y, epochs=1, batch_size=8, verbose=0, callbacks=[monitor])
    events = read_run(str(tmp_path), "train")
    assert np.isnan(events["gru/update/training/mean"][-1][1])
    assert np.isnan(events["gru/update/mean"][-1][1])  # the probe's, too
    assert events["gru/update/training/nonfinite"][-1][1] > 0
    assert 0.0 < events["lstm/forget/training/mean"][-1][1] < 1.0


class Stop(keras.callbacks.Callback):
    """Raises `error` after the second training batch."""

    def __init__(self, error):
        super().__init__()
        self.error = error

    def on_train_batch_end(self, batch, logs=None):
        if batch == 1:
            raise self.error


def replaced_calls(model):
    """Names of the model and layers whose `call` is replaced."""
    found = [model, *model._flatten_layers()]
    return [layer.name for layer in found if "call" in layer.__dict__]


def listening_fit(model, log_dir, extra=(), **kwargs):
    x, y = data()
    monitor = keras_gates.GateMonitor(
        str(log_dir), track_training=True, **kwargs
    )
    model.fit(
        x,
        y,
        batch_size=8,
        epochs=1,
        verbose=0,
        shuffle=False,
        callbacks=[monitor, *extra],
    )


@pytest.mark.parametrize("error", [KeyboardInterrupt(), RuntimeError("x")])
def test_an_interrupted_fit_leaves_nothing_to_the_next(tmp_path, error):
    x, _ = data()
    model = model_with_stock_and_gates_layers()
    with pytest.raises(type(error)):
        # No probe_data: the training batches are kept too.
        listening_fit(model, tmp_path / "a", [Stop(error)])
    assert replaced_calls(model)  # Keras ran no on_train_end
    listening_fit(model, tmp_path / "b", probe_data=x[:4])
    assert replaced_calls(model) == []
    events = read_run(str(tmp_path / "b"), "train")
    counts = events["gru/update/training/histogram"][-1][1][:, 2]
    assert counts.sum() == mask_of(x).sum() * 3  # every valid step, once
    twin = model_with_stock_and_gates_layers()
    twin.set_weights(model.get_weights())
    np.testing.assert_allclose(
        model.predict(x, verbose=0), twin.predict(x, verbose=0), atol=1e-6
    )


def test_one_listening_monitor_per_fit(tmp_path):
    x, _ = data()
    model = model_with_stock_and_gates_layers()
    second = keras_gates.GateMonitor(
        str(tmp_path / "b"), probe_data=x[:4], track_training=True
    )
    with pytest.raises(ValueError, match="listening to its training already"):
        listening_fit(model, tmp_path / "a", [second], probe_data=x[:4])
    assert replaced_calls(model) == []
    # A second monitor that only probes works beside the listening one.
    probing = keras_gates.GateMonitor(str(tmp_path / "c"), probe_data=x[:4])
    listening_fit(model, tmp_path / "a", [probing], probe_data=x[:4])
    assert replaced_calls(model) == []
    assert "gru/update/mean" in read_run(str(tmp_path / "c"), "train")
    assert "gru/update/training/mean" in read_run(str(tmp_path / "a"), "train")


def test_heatmaps_average_blocks_of_steps_past_1024_columns():
    from keras_gates.summary import images

    values = np.random.default_rng(0).random((3000, 2))
    values[2999, 1] = np.nan
    image = images.heatmap(values, True, scale=1)
    assert image.shape[:2] == (2, 1000)  # blocks of 3 steps
    means = values.reshape(1000, 3, 2).mean(axis=1)
    colours = matplotlib.colormaps["viridis"](means[:, 0])
    np.testing.assert_allclose(image[0, :, :3] / 255, colours[:, :3], atol=0.01)
    assert tuple(image[1, -1, :3]) == (255, 0, 255)  # NaN in the block


def test_a_long_sequence_writes_a_bounded_epoch(tmp_path):
    steps = 3000
    x = np.random.default_rng(0).standard_normal((2, steps, 2))
    model = keras.Sequential(
        [keras.Input((steps, 2)), keras_gates.LSTM(3, name="lstm")]
    )
    model.compile(loss="mse")
    monitor = keras_gates.GateMonitor(
        str(tmp_path), probe_data=x, figures=False, dashboard_bytes=2**16
    )
    model.fit(x, np.zeros((2, 3)), epochs=1, verbose=0, callbacks=[monitor])
    written = sum(p.stat().st_size for p in (tmp_path / "train").iterdir())
    assert written < 400_000
    events = read_run(str(tmp_path), "train")
    width = int(events["lstm/forget/heatmap"][-1][1][0])
    assert width == 4 * 1000  # 3000 steps, 3 a column, 4 pixels each
    codes = events["lstm/_gates/sequences"][-1][1]
    assert codes.nbytes <= 2**16 and codes.shape[2] < steps


def test_steps_carry_on_across_repeated_fits(tmp_path):
    x, y = data()
    model = model_with_stock_and_gates_layers()
    monitor = keras_gates.GateMonitor(
        str(tmp_path), probe_data=x[:4], track_training=True, figures=True
    )
    for _ in range(3):  # Keras's character-generation pattern
        model.fit(x, y, epochs=1, verbose=0, callbacks=[monitor])
    model.fit(x, y, initial_epoch=3, epochs=5, verbose=0, callbacks=[monitor])
    events = read_run(str(tmp_path), "train")
    for tag in (
        "lstm/forget/mean",
        "gru/update/training/mean",
        "gru/_gates/stats",
    ):
        assert [step for step, _ in events[tag]] == [0, 1, 2, 3, 4], tag
    for once in ("lstm/dimensions", "gate_monitor/probe", "gru/_gates/layer"):
        assert len(events[once]) == 1, once
    assert len(events["lstm/figures/lstm_gates"]) == 1


def test_a_new_monitor_on_an_existing_log_dir_carries_on(tmp_path):
    x, y = data()
    model = model_with_stock_and_gates_layers()
    log_dir = str(tmp_path)
    for _ in range(2):  # a new process each time, epochs from 0
        monitor = keras_gates.GateMonitor(
            log_dir, probe_data=x[:4], figures=True
        )
        board = keras.callbacks.TensorBoard(log_dir)  # its steps: its own
        model.fit(x, y, epochs=2, verbose=0, callbacks=[monitor, board])
    # Resumed: initial_epoch past the steps written keeps the epochs.
    monitor = keras_gates.GateMonitor(log_dir, probe_data=x[:4], figures=True)
    model.fit(x, y, initial_epoch=5, epochs=6, verbose=0, callbacks=[monitor])
    # Resumed from an epoch already written: moved past it.
    monitor = keras_gates.GateMonitor(log_dir, probe_data=x[:4], figures=True)
    model.fit(x, y, initial_epoch=1, epochs=2, verbose=0, callbacks=[monitor])
    events = read_run(log_dir, "train")
    for tag in ("lstm/forget/mean", "gru/_gates/stats", "gate_monitor/seconds"):
        assert [s for s, _ in events[tag]] == [0, 1, 2, 3, 5, 6], tag
    for once in (
        "lstm/dimensions",
        "gate_monitor/probe",
        "gru/_gates/layer",
        "lstm/figures/lstm_gates",
        "custom_scalars__config__",
    ):
        assert len(events[once]) == 1, once


def test_figures_are_drawn_once_per_distinct_cell(tmp_path, monkeypatch):
    from keras_gates import figures

    drawn = []
    draw = figures.draw
    monkeypatch.setattr(
        figures,
        "draw",
        lambda layer, **kw: drawn.append(layer) or draw(layer, **kw),
    )
    x = np.random.default_rng(0).standard_normal((8, 5, 3)).astype("float32")
    model = keras.Sequential(
        [
            keras.Input((5, 3)),
            keras.layers.Bidirectional(
                keras.layers.LSTM(4, return_sequences=True), name="bi"
            ),
            keras.layers.Bidirectional(keras.layers.LSTM(4), name="bi2"),
        ]
    )
    model.compile(loss="mse")
    monitor = keras_gates.GateMonitor(str(tmp_path), probe_data=x, figures=True)
    model.fit(x, np.zeros((8, 8)), epochs=1, verbose=0, callbacks=[monitor])
    # (LSTM, 3 -> 4) and (LSTM, 8 -> 4): two cells for four halves.
    assert len(drawn) == 2
    events = read_run(str(tmp_path), "train")
    first = events["bi/forward/figures/lstm_gates"][0][1]
    np.testing.assert_array_equal(
        events["bi/backward/figures/lstm_gates"][0][1], first
    )
    assert "bi2/backward/figures/lstm_dimensions" in events


def test_the_probe_is_bounded_by_probe_values(tmp_path):
    x, y = data()  # 32 sequences of 6 steps; units 4 + 3
    model = model_with_stock_and_gates_layers()
    monitor = keras_gates.GateMonitor(
        str(tmp_path), probe_data=x, probe_values=5 * TIME * 7 + 3
    )
    model.fit(x, y, epochs=1, verbose=0, callbacks=[monitor])
    events = read_run(str(tmp_path), "train")
    note = events["gate_monitor/probe"][0][1].item().decode()
    assert "on 5 sequences" in note
    expected, mask = expected_gates(model, x[:5])
    counts = events["lstm/forget/histogram"][-1][1][:, 2]
    assert counts.sum() == mask.sum() * 4
    with pytest.raises(ValueError, match="probe_values"):
        keras_gates.GateMonitor(str(tmp_path), probe_values=0)


@pytest.mark.cost_warning
def test_the_monitor_reports_its_cost_and_warns_once(tmp_path):
    x, y = data()
    model = model_with_stock_and_gates_layers()
    monitor = keras_gates.GateMonitor(str(tmp_path), probe_data=x)
    # A tiny model: the probe's work is most of an epoch.
    with pytest.warns(keras_gates.callbacks.GateMonitorCostWarning) as caught:
        model.fit(x, y, epochs=3, verbose=0, callbacks=[monitor])
    assert len(caught) == 1 and "probe_values" in str(caught[0].message)
    events = read_run(str(tmp_path), "train")
    seconds = [float(v) for _, v in events["gate_monitor/seconds"]]
    assert len(seconds) == 3 and all(s > 0 for s in seconds)


@pytest.mark.parametrize("thresholds", [(0.1, 0.9), (0.2, 0.8)])
def test_custom_scalars_titles_follow_the_thresholds(tmp_path, thresholds):
    from tensorboard.plugins.custom_scalar import layout_pb2

    left, right = thresholds
    x, y = data(8)
    model = model_with_stock_and_gates_layers()
    monitor = keras_gates.GateMonitor(
        str(tmp_path), probe_data=x, left=left, right=right, figures=False
    )
    model.fit(x, y, epochs=1, verbose=0, callbacks=[monitor])
    ((_, written),) = read_run(str(tmp_path), "train")[
        "custom_scalars__config__"
    ]
    layout = layout_pb2.Layout.FromString(written.item())
    titles = {c.title: [ch.title for ch in c.chart] for c in layout.category}
    assert set(titles) == {"gates: lstm", "gates: gru"}
    for charts in titles.values():
        assert f"left saturation (< {left})" in charts
        assert f"right saturation (> {right})" in charts
    # The scalars those charts show follow the thresholds too.
    events = read_run(str(tmp_path), "train")
    (gates,) = keras_gates.gates(model, x, layers=["gru"]).values()
    update = gates["update"][mask_of(x)]
    for side, expected in (
        ("left", (update < left).mean()),
        ("right", (update > right).mean()),
    ):
        ((_, value),) = events[f"gru/update/saturation_{side}"]
        np.testing.assert_allclose(value, expected, atol=1e-6)
