"""The Gates dashboard's summary format: 16-bit codes and size bounds."""

import json

import numpy as np
import pytest

from tensorboard_plugin_gates import metadata, writer


@pytest.mark.parametrize(
    "sigmoid,spread", [(True, 1.0), (False, 1.0), (False, 40.0)]
)
def test_values_come_back_within_1_over_256(sigmoid, spread):
    rng = np.random.default_rng(0)
    values = rng.uniform(-spread, spread, (5, 7, 11)).astype(np.float32)
    if sigmoid:
        values = 1 / (1 + np.exp(-4 * values))
    values[0, 0, :3] = [np.nan, np.inf, -np.inf]
    finite = values[np.isfinite(values)]
    low, high = metadata.value_range(finite.min(), finite.max(), sigmoid)
    back = metadata.dequantize(metadata.quantize(values, low, high), low, high)
    finite = np.isfinite(values)
    assert np.isnan(back[~finite]).all()
    error = np.abs(back[finite] - values[finite]).max()
    assert error <= (high - low) / (2 * metadata.CODE_MAX) + 1e-6
    assert error < 1 / 256
    if sigmoid:
        assert (low, high) == (0.0, 1.0)
    else:
        assert low == -high == -np.abs(values[finite]).max()


@pytest.mark.parametrize(
    "gates,sequences,steps,units,wanted,budget,expected",
    [
        (6, 64, 64, 128, 4, 2**20, (4, 64)),  # the demo's LSTM: fits
        (6, 64, 1000, 128, 4, 2**20, (1, 682)),  # long: 1 sequence, cut
        (4, 2, 10, 8, 4, 2**20, (2, 10)),  # fewer sequences than wanted
        (6, 8, 100, 512, 4, 2**20, (1, 100)),
    ],
)
def test_fit_sequences_stays_under_the_budget(
    gates, sequences, steps, units, wanted, budget, expected
):
    kept, shown = writer.fit_sequences(
        gates, sequences, steps, units, wanted, budget
    )
    assert (kept, shown) == expected
    assert gates * kept * shown * units * 2 <= budget


def test_tags_parse_back():
    tag = metadata.tag("bi/forward", "sequences")
    assert tag == "bi/forward/_gates/sequences"
    assert metadata.parse_tag(tag) == ("bi/forward", "sequences")
    assert metadata.parse_tag("bi/forward/forget/mean") is None
    assert metadata.parse_tag(metadata.TOKENS_TAG) is None


@pytest.mark.parametrize("kind", metadata.LAYER_KINDS + ("tokens",))
def test_plugin_content_written_is_read_back(kind):
    written = metadata.create_summary_metadata(kind)
    content = written.plugin_data.content
    parsed = metadata.parse_plugin_content(content)
    assert parsed == {"version": metadata.VERSION, "kind": kind}
    # What a reader of the same version sees, however the writer spaced it.
    spaced = b'{ "kind": "%s",  "version": 1, "extra": [] }' % kind.encode()
    assert metadata.parse_plugin_content(spaced)["version"] == 1


def test_plugin_content_of_a_newer_format_is_refused():
    newer = json.dumps({"version": metadata.VERSION + 1, "kind": "layer"})
    message = (
        f"written by a newer keras-gates (Gates format version "
        f"{metadata.VERSION + 1}); this dashboard reads version "
        f"{metadata.VERSION}: upgrade keras-gates"
    )
    with pytest.raises(metadata.FormatError) as raised:
        metadata.parse_plugin_content(newer.encode())
    assert str(raised.value) == message
    assert isinstance(raised.value, ValueError)


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"\xff\xfe",
        b"not json",
        b"[1, 2]",
        b'{"kind": "layer"}',
        b'{"version": "1", "kind": "layer"}',
        b'{"version": true, "kind": "layer"}',
        b'{"version": 1.0, "kind": "layer"}',
        b'{"version": 0, "kind": "layer"}',
        b'{"version": 1}',
        b'{"version": 1, "kind": 3}',
        b"x" * 200,
    ],
)
def test_malformed_plugin_content_is_refused(content):
    with pytest.raises(metadata.FormatError, match="not Gates plugin data"):
        metadata.parse_plugin_content(content)


def test_plugin_content_must_be_bytes():
    with pytest.raises(TypeError, match="`content` must be bytes, got str"):
        metadata.parse_plugin_content('{"version": 1, "kind": "layer"}')


def test_tokens_of_ids_and_of_features():
    ids = np.array([[1, 0, 7]])
    text = writer.tokens_json(ids, 4, ["pad", "a"])
    assert '"tokens": [["a", "pad", "#7"]]' in text and '"text": true' in text
    assert '[["1", "0", "7"]]' in writer.tokens_json(ids, 4)
    features = np.array([[[0.5, -1.25, 3.0, 9.0]]], np.float32)
    text = writer.tokens_json(features, 4)
    assert '"text": false' in text and "0.5, -1.25, 3, ..." in text
    assert writer.tokens_json(np.zeros((2, 3, 4, 5)), 4) is None


def test_codes_are_written_two_bytes_each_and_read_back():
    from tensorboard.util import tensor_util

    from keras_gates.summary.write import Summaries

    codes = np.arange(6 * 4 * 64 * 8, dtype=np.uint16).reshape(6, 4, 64, 8)
    summaries = Summaries()
    summaries.tensor("x", codes, metadata.create_summary_metadata("sequences"))
    tensor = summaries.proto.value[0].tensor
    assert tensor.ByteSize() < 2 * codes.size + 64
    back = tensor_util.make_ndarray(tensor)
    assert back.dtype == np.uint16 and np.array_equal(back, codes)


def test_monitor_arguments_of_the_dashboard_are_checked(tmp_path):
    import keras_gates

    with pytest.raises(TypeError, match="`vocabulary` must be a sequence"):
        keras_gates.GateMonitor(tmp_path, vocabulary=42)
    for name, value in (("dashboard_sequences", 0), ("dashboard_bytes", -1)):
        with pytest.raises(ValueError, match=f"`{name}` must be a positive"):
            keras_gates.GateMonitor(tmp_path, **{name: value})
    with pytest.raises(ValueError, match="`dashboard` must be a bool"):
        keras_gates.GateMonitor(tmp_path, dashboard="yes")
    with pytest.raises(ValueError, match=r"`steps` must be \(start, stop\)"):
        keras_gates.GateMonitor(tmp_path, steps=(3,))
