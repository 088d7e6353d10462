"""keras_gates.figures: sizes in the labels, gate colours, files and errors.

Most tests read the text and patches of the figures without rendering
them; only `save` and `to_pixels` render (the slow part).
"""

import xml.etree.ElementTree as ElementTree

import keras
import matplotlib
import numpy as np
import pytest
from matplotlib.patches import FancyBboxPatch

import keras_gates
from keras_gates import figures

SIZES = ((3, 5), (10, 32))  # (D_x, D_h)
FIGURES_OF_LSTM = ("lstm_gates", "lstm_dimensions", "lstm_vs_gru")


def built(kind, d_x, d_h, module=keras.layers, **kwargs):
    layer = getattr(module, kind)(d_h, **kwargs)
    layer.build((None, None, d_x))
    return layer


def texts(figure):
    """Every string written on a figure (titles included)."""
    return [t.get_text() for t in figure.findobj(matplotlib.text.Text)]


def box_colour(figure, label):
    """The face colour (RGBA) of the box that holds the text `label`."""
    (text,) = [
        t for t in figure.findobj(matplotlib.text.Text) if t.get_text() == label
    ]
    point = text.axes.transData.transform(text.get_position())
    boxes = [
        p
        for p in text.axes.patches
        if isinstance(p, FancyBboxPatch) and p.contains_point(point)
    ]
    return max(boxes, key=lambda p: p.get_zorder()).get_facecolor()


@pytest.mark.parametrize("d_x, d_h", SIZES)
def test_rnn_cell_labels_match_a_simple_rnn(d_x, d_h):
    layer = built("SimpleRNN", d_x, d_h)
    (name,) = figures.shown_by(layer)
    strings = texts(figures.draw(layer, names=(name,))[name])
    weights = (d_x + d_h) * d_h
    assert f"Simple RNN cell, D_x = {d_x}, D_h = {d_h}" in strings
    assert f"{d_x} + {d_h} = {d_x + d_h} inputs" in strings
    assert f"{d_h} neurons\n(tanh)" in strings
    assert (
        f"{d_x + d_h} × {d_h} = {weights:,} weights + {d_h} biases "
        f"= {layer.count_params():,} params"
    ) in strings
    assert any(s.startswith(f"({d_x + d_h}, 1) → ({d_h}, 1)") for s in strings)


@pytest.mark.parametrize("d_x, d_h", SIZES)
def test_lstm_figures_labels_match_an_lstm(d_x, d_h):
    layer = built("LSTM", d_x, d_h)
    drawn = figures.draw(layer)
    assert list(drawn) == list(figures.FIGURES)
    assert figures.shown_by(layer) == FIGURES_OF_LSTM
    sizes = texts(drawn["lstm_dimensions"])
    assert f"LSTM cell, D_x = {d_x}, D_h = {d_h}: its sizes" in sizes
    assert f"D_x = {d_x}" in sizes and f"D_h = {d_h}" in sizes
    assert f"{d_x} + {d_h} = {d_x + d_h}" in sizes
    assert sizes.count(f"{d_x + d_h} → {d_h}") == 4  # one per layer box
    weights = f"{d_x + d_h} × {d_h} = {(d_x + d_h) * d_h:,}"
    assert sizes.count(weights) == 4
    per_layer = layer.count_params() // 4
    assert sizes.count(f"{per_layer:,}") == 4
    assert f"4 × {per_layer:,}" in sizes
    assert f"{layer.count_params():,}" in sizes
    gates = texts(drawn["lstm_gates"])
    assert f"LSTM cell, D_x = {d_x}, D_h = {d_h}: its gates" in gates
    for gate in ("forget gate", "input gate", "output gate", "candidate"):
        assert gate in gates
    versus = texts(drawn["lstm_vs_gru"])
    assert f"LSTM: 4 layers, {layer.count_params():,} params" in versus


@pytest.mark.parametrize("module", [keras.layers, keras_gates])
@pytest.mark.parametrize("d_x, d_h", SIZES)
def test_lstm_vs_gru_counts_match_keras(d_x, d_h, module):
    gru = built("GRU", d_x, d_h, module)
    lstm = built("LSTM", d_x, d_h).count_params()
    assert figures.shown_by(gru) == ("lstm_vs_gru",)
    strings = texts(figures.draw(gru, names=("lstm_vs_gru",))["lstm_vs_gru"])
    assert f"LSTM and GRU cells, D_x = {d_x}, D_h = {d_h}" in strings
    assert f"LSTM: 4 layers, {lstm:,} params" in strings
    count = gru.count_params()
    assert count == keras_gates.describe(gru).total_params()
    assert (
        f"GRU: 3 layers, {count:,} params = {count / lstm:.2f} × LSTM"
    ) in strings


@pytest.mark.parametrize(
    "kind, kwargs",
    [
        ("SimpleRNN", {"use_bias": False}),
        ("LSTM", {"use_bias": False}),
        ("GRU", {"use_bias": False}),
        ("GRU", {"reset_after": False}),
    ],
)
def test_counts_follow_the_layers_bias_options(kind, kwargs):
    layer = built(kind, 3, 5, **kwargs)
    count = layer.count_params()
    strings = "\n".join(
        text
        for figure in figures.draw(
            layer, names=figures.shown_by(layer)
        ).values()
        for text in texts(figure)
    )
    if kind == "SimpleRNN":
        assert f"weights + no biases = {count:,} params" in strings
    elif kind == "LSTM":
        assert f"LSTM: 4 layers, {count:,} params" in strings
        assert "\n".join(["total", "4 × 40", "", f"{count:,}"]) in strings
    else:
        assert f"GRU: 3 layers, {count:,} params" in strings
    drawn = figures.draw(d_x=np.int64(4), d_h=6)
    assert list(drawn) == list(figures.FIGURES)
    for figure in drawn.values():
        assert "D_x = 4, D_h = 6" in figure.get_suptitle()


def test_openness_colours_the_gate_boxes():
    shut = figures.lstm_gates(3, 4, {"forget": 0.1, "output": 0.9})
    open_ = figures.lstm_gates(3, 4, {"forget": 0.9})
    plain = figures.lstm_gates(3, 4)
    viridis = matplotlib.colormaps["viridis"]
    np.testing.assert_allclose(box_colour(shut, "forget gate"), viridis(0.1))
    np.testing.assert_allclose(box_colour(open_, "forget gate"), viridis(0.9))
    np.testing.assert_allclose(box_colour(shut, "output gate"), viridis(0.9))
    assert "0.10 open" in texts(shut) and "0.90 open" in texts(shut)
    # A gate without a value, and every gate without openness: the
    # fixed highlight colour, no value, no colour bar.
    highlight = box_colour(plain, "forget gate")
    assert box_colour(shut, "input gate") == highlight
    assert box_colour(plain, "output gate") == highlight
    assert not any(s.endswith(" open") for s in texts(plain))
    assert len(plain.axes) == 1 and len(shut.axes) == 2  # colour bar


def test_openness_of_a_gru_layer_colours_the_gru_half():
    gru = built("GRU", 2, 3)
    figure = figures.draw(gru, openness={"update": 0.8, "reset": 0.2})[
        "lstm_vs_gru"
    ]
    viridis = matplotlib.colormaps["viridis"]
    np.testing.assert_allclose(box_colour(figure, "update gate"), viridis(0.8))
    np.testing.assert_allclose(box_colour(figure, "reset gate"), viridis(0.2))
    assert box_colour(figure, "forget gate") == box_colour(figure, "input gate")
    assert {"0.80 open", "0.20 open"} <= set(texts(figure))


def test_mean_openness_matches_numpy_with_and_without_mask():
    rng = np.random.default_rng(0)
    names = ("input", "forget", "candidate", "output", "cell", "hidden")
    gates = {n: rng.uniform(size=(4, 5, 3)).astype("float32") for n in names}
    valid = rng.uniform(size=(4, 5)) > 0.4
    means = figures.mean_openness(gates)
    assert list(means) == ["input", "forget", "output"]
    masked = figures.mean_openness(gates, valid)
    for name in means:
        np.testing.assert_allclose(means[name], gates[name].mean(), rtol=1e-6)
        np.testing.assert_allclose(
            masked[name], gates[name][valid].mean(), rtol=1e-6
        )
    assert masked["forget"] != means["forget"]
    assert figures.mean_openness({"hidden": gates["hidden"]}) == {}


def test_mean_openness_of_a_model_feeds_draw():
    model = keras.Sequential(
        [keras.Input((4, 2)), keras.layers.GRU(3, name="gru")]
    )
    x = np.random.default_rng(1).standard_normal((5, 4, 2)).astype("float32")
    openness = figures.mean_openness(keras_gates.gates(model, x)["gru"])
    assert set(openness) == {"update", "reset"}
    figure = figures.draw(model.get_layer("gru"), openness=openness)
    assert f"{openness['update']:.2f} open" in texts(figure["lstm_vs_gru"])


def test_save_writes_png_and_svg(tmp_path):
    drawn = figures.draw(d_x=2, d_h=3, names=("rnn_cell",))
    paths = figures.save(drawn, tmp_path / "new" / "dir")
    assert paths == [
        tmp_path / "new" / "dir" / "rnn_cell.png",
        tmp_path / "new" / "dir" / "rnn_cell.svg",
    ]
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    root = ElementTree.parse(paths[1]).getroot()
    assert root.tag.endswith("svg")
    assert "D_x = 2, D_h = 3" in paths[1].read_text()


def test_to_pixels_renders_rgba():
    figure = figures.rnn_cell(2, 3)
    pixels = figures.to_pixels(figure)
    width, height = figure.get_size_inches() * figure.dpi
    assert pixels.dtype == np.uint8
    assert pixels.shape == (round(height), round(width), 4)
    assert (pixels[..., :3] < 128).any() and (pixels[..., 3] == 255).all()


def test_layer_errors():
    lstm = built("LSTM", 2, 3)
    with pytest.raises(ValueError, match=r"`layer`, or both `d_x` and `d_h`"):
        figures.draw()
    with pytest.raises(ValueError, match=r"`layer`, or both `d_x` and `d_h`"):
        figures.draw(d_x=3)
    with pytest.raises(ValueError, match="not both"):
        figures.draw(lstm, d_x=2, d_h=3)
    with pytest.raises(ValueError, match=r"`layer` 'lstm.*' is not built"):
        figures.draw(keras.layers.LSTM(3))
    with pytest.raises(TypeError, match="got Dense"):
        figures.draw(keras.layers.Dense(2))
    bidirectional = keras.layers.Bidirectional(keras.layers.GRU(2))
    with pytest.raises(TypeError, match="forward_layer"):
        figures.shown_by(bidirectional)
    with pytest.raises(ValueError, match="`names`"):
        figures.draw(lstm, names=("lstm_gates", "gates"))
    with pytest.raises(ValueError, match="`names`"):
        figures.draw(lstm, names="rnn_cell")


@pytest.mark.parametrize(
    "d_x, d_h, error, argument",
    [
        (0, 3, ValueError, "d_x"),
        (2, -1, ValueError, "d_h"),
        (2.0, 3, TypeError, "d_x"),
        (True, 3, TypeError, "d_x"),
        (2, "3", TypeError, "d_h"),
    ],
)
def test_size_errors(d_x, d_h, error, argument):
    with pytest.raises(error, match=f"`{argument}`"):
        figures.draw(d_x=d_x, d_h=d_h)
    with pytest.raises(error, match=f"`{argument}`"):
        figures.rnn_cell(d_x, d_h)


def test_openness_errors():
    for value in (1.5, -0.1, float("nan"), "open"):
        with pytest.raises(ValueError, match=r"`openness\['forget'\]`"):
            figures.lstm_gates(2, 3, {"forget": value})
    with pytest.raises(TypeError, match="`openness` must be a dict"):
        figures.lstm_gates(2, 3, [0.5])
    with pytest.raises(ValueError, match=r"`openness` names \['candidate'\]"):
        figures.lstm_gates(2, 3, {"candidate": 0.5})
    with pytest.raises(ValueError, match=r"`gru_openness` names \['forget'\]"):
        figures.lstm_vs_gru(2, 3, gru_openness={"forget": 0.5})
    with pytest.raises(ValueError, match=r"`openness` names \['forgot'\]"):
        figures.draw(d_x=2, d_h=3, openness={"forgot": 0.5})
    with pytest.raises(ValueError, match=r"\['forget'\].*\['update', 'reset'"):
        figures.draw(built("GRU", 2, 3), openness={"forget": 0.5})
    with pytest.raises(ValueError, match=r"expected some of \[\]"):
        figures.draw(built("SimpleRNN", 2, 3), openness={"update": 0.5})


def test_mean_openness_errors():
    gates = {"forget": np.ones((2, 3, 4))}
    with pytest.raises(TypeError, match="one layer's"):
        figures.mean_openness({"lstm": gates})
    with pytest.raises(ValueError, match="`valid` must be a bool"):
        figures.mean_openness(gates, np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"`valid` has shape \(3, 2\)"):
        figures.mean_openness(gates, np.ones((3, 2), bool))
    with pytest.raises(ValueError, match="no step as valid"):
        figures.mean_openness(gates, np.zeros((2, 3), bool))
    with pytest.raises(ValueError, match="gate 'forget' must be"):
        figures.mean_openness({"forget": np.ones((2, 3))})


def test_save_errors(tmp_path):
    drawn = {"empty": matplotlib.figure.Figure()}
    with pytest.raises(ValueError, match="`formats`"):
        figures.save(drawn, tmp_path, formats=("png", "bmpx"))
    with pytest.raises(ValueError, match="`formats`"):
        figures.save(drawn, tmp_path, formats=())
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    with pytest.raises(ValueError, match="cannot write to `directory`"):
        figures.save(drawn, blocker / "figures")
