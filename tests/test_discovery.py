"""match_units and search: units planted by hand are found, every score
agrees with an exact ROC AUC computed pairwise in NumPy, data sets stream
to the same answer, and bad annotations are clear errors."""

import keras
import numpy as np
import pytest
from planted import VOCABULARY, A, planted_model, token_ids

import keras_gates
from keras_gates.lookup import recurrent_layers
from keras_gates.pattern_search import windows

STEPS = 12


def exact_auc(values, marked, valid):
    """P(marked value > unmarked value) + half the ties, over all pairs of
    valid steps (the definition, no binning)."""
    high, low = values[marked & valid], values[~marked & valid]
    above = (high[:, None] > low[None, :]).mean()
    tied = (high[:, None] == low[None, :]).mean()
    return above + 0.5 * tied


@pytest.mark.parametrize("stock", [True, False], ids=["stock", "keras_gates"])
def test_planted_units_come_first_with_their_directions(stock):
    model = planted_model(STEPS, stock=stock)
    x = token_ids(120, STEPS)
    found = keras_gates.match_units(model, x, x == A, gate="input", top=None)
    first, second, *rest = found
    assert (first["unit"], first["direction"]) in ((0, "high"), (1, "low"))
    assert {first["unit"], second["unit"]} == {0, 1}
    assert {(f["unit"], f["direction"]) for f in found[:2]} == {
        (0, "high"),
        (1, "low"),
    }
    assert min(first["score"], second["score"]) > 0.95
    assert rest and all(f["score"] < 0.95 for f in rest)
    assert {f["layer"] for f in found} == {"lstm"}
    assert sorted(f["unit"] for f in found) == list(range(5))


def test_a_backward_layer_is_matched_in_input_order():
    # The planted half runs backwards: its gates come in reverse order and
    # the annotation, given in input order, must be flipped to meet them.
    model = planted_model(STEPS, backward=True)
    x = token_ids(60, STEPS)
    found = keras_gates.match_units(
        model, x, x == A, layer="bi/backward", gate="input", top=2
    )
    assert [(f["unit"], f["direction"]) for f in found] == [
        (0, "high"),
        (1, "low"),
    ] or [(f["unit"], f["direction"]) for f in found] == [
        (1, "low"),
        (0, "high"),
    ]
    assert all(f["score"] > 0.95 for f in found)


def mixed_model():
    """Masking -> Bidirectional(stock LSTM) -> keras-gates GRU running
    backwards -> stock SimpleRNN whose unit 1 is constant (zero weights)."""
    inputs = keras.Input((STEPS, 3))
    h = keras.layers.Masking()(inputs)
    h = keras.layers.Bidirectional(
        keras.layers.LSTM(3, return_sequences=True), name="bi"
    )(h)
    h = keras_gates.GRU(2, go_backwards=True, return_sequences=True)(h)
    rnn = keras.layers.SimpleRNN(2, return_sequences=True, name="rnn")
    model = keras.Model(inputs, rnn(h))
    rng = np.random.default_rng(4)
    for weight in model.weights:
        weight.assign(rng.normal(0, 1.0, weight.shape).astype("float32"))
    kernel, recurrent, bias = rnn.get_weights()
    kernel[:, 1] = recurrent[:, 1] = recurrent[1, :] = bias[1] = 0.0
    rnn.set_weights([kernel, recurrent, bias])
    return model


def test_every_unit_of_every_gate_agrees_with_the_exact_auc():
    model = mixed_model()
    rng = np.random.default_rng(5)
    x = rng.normal(size=(40, STEPS, 3)).astype("float32")
    x[::4, -4:] = 0.0  # masked steps, left out
    valid = np.any(x != 0, axis=-1)
    marked = x[..., 0] > 0.3
    found = keras_gates.match_units(model, x, marked, top=None, batch_size=16)
    gates = keras_gates.gates(model, x)
    layers = dict(recurrent_layers(model))
    assert len(found) == sum(
        g.shape[-1] for layer in gates.values() for g in layer.values()
    )
    for f in found:
        values = gates[f["layer"]][f["gate"]][..., f["unit"]]
        if layers[f["layer"]].go_backwards:
            values = values[:, ::-1]
        auc = exact_auc(values, marked, valid)
        assert abs(max(auc, 1 - auc) - f["score"]) <= f["error"] + 1e-9, f
        assert f["direction"] == ("high" if auc >= 0.5 else "low"), f
    scores = [f["score"] for f in found]
    assert scores == sorted(scores, reverse=True)
    assert np.isfinite(scores).all()
    # Values spread continuously: the bins leave the scores sharp.
    assert np.median([f["error"] for f in found]) < 0.01
    constant = [f for f in found if f["layer"] == "rnn" and f["unit"] == 1]
    assert [f["score"] for f in constant] == [0.5]


def test_a_dataset_streams_to_the_in_memory_answer():
    import tensorflow as tf

    model = planted_model(STEPS)
    x = token_ids(50, STEPS)
    # 13 batches: a long run, compiled with XLA; the data set: 6, without.
    wanted = keras_gates.match_units(model, x, x == A, top=None, batch_size=4)
    data = tf.data.Dataset.from_tensor_slices((x, np.zeros(len(x)))).batch(9)
    streamed = keras_gates.match_units(
        model, data, lambda ids: ids == A, top=None
    )
    assert streamed == wanted
    several = keras_gates.match_units(
        model, x, {"a": x == A, "b": lambda ids: ids == 2}, top=3
    )
    assert several["a"] == wanted[:3]
    assert several["b"] == keras_gates.match_units(model, x, x == 2, top=3)


@pytest.mark.parametrize(
    "annotation, message",
    [
        (np.ones((7, STEPS), bool), "has 7 rows, but `x` holds 6"),
        (np.ones((6, STEPS, 1), bool), "of shape (sequences, time)"),
        (np.full((6, STEPS), 0.5), "must be a bool array"),
        (np.ones((6, STEPS - 1), bool), "runs 12 steps, but the annotation"),
        (np.zeros((6, STEPS), bool), "marks no valid step"),
        (lambda ids: ids[:, :2] == A, "runs 12 steps, but the annotation"),
        ({"a": lambda ids: ids[:3] == A}, "returned 3 rows for a batch of 6"),
    ],
)
def test_bad_annotations_are_clear_errors(annotation, message):
    model = planted_model(STEPS)
    with pytest.raises(ValueError, match="match_units: ") as error:
        keras_gates.match_units(model, token_ids(6, STEPS), annotation)
    assert message in str(error.value)


def test_bad_arguments_are_clear_errors():
    model = planted_model(STEPS)
    x = token_ids(6, STEPS)
    with pytest.raises(ValueError, match="no gate 'update'"):
        keras_gates.match_units(model, x, x == A, gate="update")
    with pytest.raises(ValueError, match="`top` must be a positive int"):
        keras_gates.match_units(model, x, x == A, top=0)
    with pytest.raises(ValueError, match="no recurrent layer named"):
        keras_gates.match_units(model, x, x == A, layer="gru")


def test_search_finds_a_pattern_planted_in_one_sequence_of_a_thousand():
    model = planted_model(STEPS, units=2)
    x = token_ids(1000, STEPS, padded=False)
    x[x == A] = 2
    x[::5, 4] = A  # single "a"s everywhere: too short
    x[617, 6:9] = A  # the one run of three
    found = keras_gates.search(
        model, x, "lstm", "input", [0], 3, vocabulary=VOCABULARY, context=2
    )
    assert [(f["sequence"], f["start"], f["end"]) for f in found] == [
        (617, 6, 8)
    ]
    (match,) = found
    assert match["tokens"] == ["a"] * 3
    assert match["before"] == [VOCABULARY[i] for i in x[617, 4:6]]
    assert match["after"] == [VOCABULARY[i] for i in x[617, 9:11]]
    values = keras_gates.gates(model, x[617:618])["lstm"]["input"][0, :, 0]
    neighbours = max(values[5], values[9])
    assert match["score"] == pytest.approx(values[6:9].mean() - neighbours)
    # Unit 1 shuts on "a": it is never on over a run of three steps with
    # off steps around, but unit 0 alone is on at every single "a".
    assert keras_gates.search(model, x, "lstm", "input", [0, 1], 3) == []
    singles = keras_gates.search(model, x, "lstm", "input", [0], 1, top=None)
    assert len(singles) == 200
    assert {(f["start"], f["end"]) for f in singles} == {(4, 4)}


def test_search_streams_a_dataset_and_checks_its_arguments():
    import tensorflow as tf

    model = planted_model(STEPS, units=2)
    x = token_ids(40, STEPS)
    wanted = keras_gates.search(model, x, "lstm", "input", [0], 1, top=None)
    data = tf.data.Dataset.from_tensor_slices(x).batch(16)
    assert keras_gates.search(model, data, "lstm", "input", 0, 1, top=None) == (
        wanted
    )
    with pytest.raises(ValueError, match="`length` must be a positive int"):
        keras_gates.search(model, x, "lstm", "input", [0], 0)
    with pytest.raises(ValueError, match=r"unit indices in \[0, 2\)"):
        keras_gates.search(model, x, "lstm", "input", [2], 1)


def test_windows_need_every_unit_on_inside_and_off_around():
    on, off = 0.9, 0.1
    values = np.full((4, 7, 2), off)
    values[0, 1:4] = on  # both units on at steps 1-3: a match
    values[1, 1:4] = on
    values[1, 0, 1] = on  # ... but unit 1 is already on just before
    values[2, 0:3] = on  # from the first step (no step before): a match
    values[2, 3, 0] = 0.4  # the step after it, below the threshold
    values[3, 2:5] = on
    values[3, 5] = on  # on, but masked: counts as off
    valid = np.ones((4, 7), bool)
    valid[3, 5] = False
    rows, starts, ends, scores = windows(values, valid, 0.5, (2, 4))
    assert list(zip(rows, starts, ends)) == [(0, 1, 3), (2, 0, 2), (3, 2, 4)]
    assert scores == pytest.approx([on - off, on - 0.4, on - off])
    rows, *_ = windows(values, valid, 0.5, (1, 2))
    assert list(rows) == []  # every run is three steps long
