"""Bad arguments and inputs give clear errors naming the layer/argument."""

import re

import keras
import numpy as np
import pytest
from conftest import (
    BATCH,
    FEATURES,
    TIME,
    UNITS,
    CellSpec,
    jax_only,
    random_inputs,
)
from events import summaries
from logged import assert_probe_stats
from reference import numpy_rnn

import keras_gates

LAYERS = [keras_gates.LSTM, keras_gates.GRU, keras_gates.SimpleRNN]
CELLS = [keras_gates.LSTMCell, keras_gates.GRUCell, keras_gates.SimpleRNNCell]
GATED = [cls for cls in LAYERS if cls is not keras_gates.SimpleRNN]


def _ids(classes):
    return [cls.__name__ for cls in classes]


def _owner(cls):
    """Errors from the constructor name the layer or its cell class."""
    name = cls.__name__.removesuffix("Cell")
    return rf"\b{name}(Cell)?\b"


@pytest.mark.parametrize("units", [0, -1])
@pytest.mark.parametrize("cls", LAYERS + CELLS, ids=_ids(LAYERS + CELLS))
def test_non_positive_units(cls, units):
    with pytest.raises(
        ValueError,
        match=rf"{_owner(cls)}.*`units` must be a positive integer.*{units}",
    ):
        cls(units)


@pytest.mark.parametrize("units", ["4", 2.0, None, True])
@pytest.mark.parametrize("cls", LAYERS + CELLS, ids=_ids(LAYERS + CELLS))
def test_units_of_wrong_type(cls, units):
    with pytest.raises(
        TypeError,
        match=rf"{_owner(cls)}.*`units`.*{re.escape(repr(units))}",
    ):
        cls(units)


@pytest.mark.parametrize("cls", LAYERS + CELLS, ids=_ids(LAYERS + CELLS))
def test_unknown_activation(cls):
    with pytest.raises(
        ValueError, match=rf"{_owner(cls)}.*`activation`.*'no_such_fn'"
    ):
        cls(UNITS, activation="no_such_fn")


@pytest.mark.parametrize("cls", GATED, ids=_ids(GATED))
def test_unknown_recurrent_activation(cls):
    with pytest.raises(
        ValueError, match=rf"{_owner(cls)}.*`recurrent_activation`.*'sigmoidd'"
    ):
        cls(UNITS, recurrent_activation="sigmoidd")


@pytest.mark.parametrize("cls", GATED, ids=_ids(GATED))
def test_use_cudnn_must_be_auto_or_bool(cls):
    with pytest.raises(ValueError, match=rf"{_owner(cls)}.*`use_cudnn`.*maybe"):
        cls(UNITS, use_cudnn="maybe")
    for value in ("auto", True, False):  # accepted, and without effect
        assert cls(UNITS, use_cudnn=value).use_cudnn == value


@pytest.mark.parametrize("cls", LAYERS, ids=_ids(LAYERS))
def test_two_dimensional_input(cls):
    layer = cls(UNITS, name="recurrent_under_test")
    with pytest.raises(
        ValueError,
        match=r"'recurrent_under_test'.*expected ndim=3, found ndim=2",
    ):
        layer(random_inputs((BATCH, FEATURES)))


@pytest.mark.parametrize("cls", LAYERS, ids=_ids(LAYERS))
def test_feature_size_differs_from_built_size(cls):
    layer = cls(UNITS, name="recurrent_under_test")
    layer(random_inputs((BATCH, TIME, FEATURES)))
    expected = rf"'recurrent_under_test'.*axis -1 .*value {FEATURES}\b"
    with pytest.raises(ValueError, match=expected):
        layer(random_inputs((BATCH, TIME, FEATURES + 1)))
    # The same inside a model built for FEATURES.
    model = keras.Sequential(
        [keras.Input((TIME, FEATURES)), cls(UNITS, name="in_model")]
    )
    with pytest.raises(ValueError, match=rf"'in_model'.*value {FEATURES}\b"):
        model(random_inputs((BATCH, TIME, FEATURES + 1)))


@pytest.mark.parametrize("count", [0, 1, 3])
@pytest.mark.parametrize("cls", LAYERS, ids=_ids(LAYERS))
def test_wrong_number_of_initial_states(cls, count):
    expected = 2 if cls is keras_gates.LSTM else 1
    if count == expected:
        count += 1
    layer = cls(UNITS, name="recurrent_under_test")
    states = [np.zeros((BATCH, UNITS), "float32")] * count
    with pytest.raises(
        ValueError,
        match=rf"'recurrent_under_test' expects {expected} initial state "
        rf"tensor\(s\).*got {count}",
    ):
        layer(random_inputs((BATCH, TIME, FEATURES)), initial_state=states)


@pytest.mark.parametrize("cls", LAYERS, ids=_ids(LAYERS))
def test_stateful_batch_size_mismatch(cls):
    layer = cls(UNITS, stateful=True, name="recurrent_under_test")
    layer(random_inputs((BATCH, TIME, FEATURES)))
    with pytest.raises(
        ValueError, match=rf"'recurrent_under_test'.*batch size {BATCH}"
    ):
        layer(random_inputs((BATCH + 1, TIME, FEATURES)))


@jax_only
def test_gate_monitor_on_jax_probes_but_cannot_track_training(tmp_path):
    model = keras.Sequential(
        [keras.Input((TIME, FEATURES)), keras.layers.LSTM(UNITS, name="l")]
    )
    model.compile(loss="mse")
    x = random_inputs((BATCH, TIME, FEATURES))
    y = np.zeros((BATCH, UNITS), "float32")
    monitor = keras_gates.GateMonitor(str(tmp_path), probe_data=x)
    model.fit(x, y, epochs=2, verbose=0, callbacks=[monitor])
    # Read back: the probe's statistics, at both epochs, from the final
    # weights (the last step) equal the NumPy recurrence's.
    written = summaries(tmp_path / "train")
    _, gates = numpy_rnn(CellSpec("LSTM"), model.layers[0].get_weights(), x)
    assert sorted(written["l/forget/mean"]) == [0, 1]
    assert_probe_stats(written, "l", gates, np.ones((BATCH, TIME), bool))
    with pytest.raises(ValueError, match="track_training.*TensorFlow"):
        keras_gates.GateMonitor(str(tmp_path), track_training=True)
