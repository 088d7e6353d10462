"""The dimension table against Keras's own parameter counts."""

import keras
import pytest

import keras_gates

LAYERS = {
    "lstm": lambda units, **kw: keras.layers.LSTM(units, **kw),
    "gru": lambda units, **kw: keras.layers.GRU(units, **kw),
    "gru_before": lambda units, **kw: keras.layers.GRU(
        units, reset_after=False, **kw
    ),
    "simple": lambda units, **kw: keras.layers.SimpleRNN(units, **kw),
    "kg_lstm": lambda units, **kw: keras_gates.LSTM(units, **kw),
    "kg_gru": lambda units, **kw: keras_gates.GRU(units, **kw),
    "kg_simple": lambda units, **kw: keras_gates.SimpleRNN(units, **kw),
}
NN_LAYERS = {"lstm": 4, "gru": 3, "gru_before": 3, "simple": 1}


@pytest.mark.parametrize("kind", sorted(LAYERS))
@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("d_x,d_h", [(10, 10), (3, 7)])
def test_totals_match_keras(kind, use_bias, d_x, d_h):
    layer = LAYERS[kind](d_h, use_bias=use_bias)
    layer.build((None, 4, d_x))
    table = keras_gates.describe(layer)
    assert table.total_params() == layer.count_params()
    layers = [r for r in table.rows if r.weight_shape is not None]
    assert len(layers) == NN_LAYERS[kind.removeprefix("kg_")]
    for row in layers:
        assert row.input_size == d_x + d_h
        assert row.weight_shape == (d_x + d_h, d_h)
        assert row.seed_notation == f"({d_x + d_h}, 1) -> ({d_h}, 1)"
    for row in table.rows:
        if row.weight_shape is None:
            assert row.params == 0 and row.kind == "operator"


def test_lstm_of_ten_units_on_ten_inputs_has_840_parameters():
    layer = keras_gates.LSTM(10)
    layer.build((None, 3, 10))
    assert keras_gates.describe(layer).total_params() == 840


def test_gru_is_about_three_quarters_of_an_lstm():
    gru = keras.layers.GRU(16, reset_after=False)
    gru.build((None, 3, 8))
    markdown = keras_gates.describe(gru).to_markdown()
    assert "0.75 x an LSTM of this size" in markdown


def test_model_with_bidirectional_and_nested_model():
    inner = keras.Sequential(
        [keras.Input((5, 12)), keras_gates.GRU(4, name="inner_gru")]
    )
    model = keras.Sequential(
        [
            keras.Input((5, 3)),
            keras.layers.Bidirectional(
                keras.layers.LSTM(6, return_sequences=True), name="bi"
            ),
            inner,
            keras.layers.Dense(2),
        ]
    )
    table = keras_gates.describe(model)
    assert table.layer_names() == ["bi/forward", "bi/backward", "inner_gru"]
    rnn_params = model.count_params() - model.layers[-1].count_params()
    assert table.total_params() == rnn_params
    gru_rows = [
        r for r in table.rows if r.layer == "inner_gru" and r.weight_shape
    ]
    assert {r.d_x for r in gru_rows} == {12}  # 2 x 6 from Bidirectional
    assert "| bi/forward | forget gate | sigmoid layer |" in table.to_markdown()


def test_errors_are_clear():
    with pytest.raises(ValueError, match="no LSTM, GRU or SimpleRNN"):
        keras_gates.describe(keras.Sequential([keras.layers.Dense(2)]))
    with pytest.raises(ValueError, match="not built"):
        keras_gates.describe(keras_gates.LSTM(3))
