"""Text models as Keras users write them: a model that takes raw strings
(`TextVectorization`, `StringLookup` or a KerasHub tokenizer inside),
compared with the same model fed the token ids.

Every reference is independent of keras-gates' own reading of the model:
the vectorizer called by hand and its `get_vocabulary()`, the id-fed twin
of the model, the tokenizer's own pieces, the text itself.
"""

import json

import keras
import numpy as np
import pytest
from board import board_server, chromium, client, get_json
from conftest import BACKEND, jax_only
from events import summaries

import keras_gates
import keras_gates_cli
from tensorboard_plugin_gates import writer

# Keras feeds strings into a model on TensorFlow only; on JAX the text
# layers stay in tf.data (the last test).
tf_only = pytest.mark.skipif(
    BACKEND != "tensorflow", reason="strings enter a Keras model on TF only"
)

WORDS = "the a cat dog sat ran on mat and fast slowly home".split()
LENGTH = 10  # tokens per text (output_sequence_length)
SHOWN = 3  # dashboard sequences


def texts(count, seed=0):
    """(count, 1) texts of 2 to 8 words, so that some steps are padding."""
    rng = np.random.default_rng(seed)
    return np.array(
        [
            [" ".join(rng.choice(WORDS, rng.integers(2, 9)))]
            for _ in range(count)
        ]
    )


def text_model(corpus):
    """Input((1,), string) -> TextVectorization -> Embedding(mask_zero) ->
    LSTM -> Dense, as keras-io's text classification ends; and its
    vectorizer."""
    vectorizer = keras.layers.TextVectorization(
        output_sequence_length=LENGTH, name="words"
    )
    vectorizer.adapt(corpus[:, 0])
    inputs = keras.Input((1,), dtype="string")
    h = keras.layers.Embedding(
        vectorizer.vocabulary_size(), 4, mask_zero=True, name="embed"
    )(vectorizer(inputs))
    h = keras.layers.LSTM(3, name="lstm")(h)
    model = keras.Model(inputs, keras.layers.Dense(1, name="out")(h))
    return model, vectorizer


def id_model(model, vectorizer):
    """The layers after the vectorizer, with their weights, fed token ids."""
    ids = keras.Input((LENGTH,), dtype="int64")
    h = keras.layers.Embedding(
        vectorizer.vocabulary_size(), 4, mask_zero=True, name="embed"
    )(ids)
    h = keras.layers.LSTM(3, name="lstm")(h)
    twin = keras.Model(ids, keras.layers.Dense(1, name="out")(h))
    for name in ("embed", "lstm", "out"):
        twin.get_layer(name).set_weights(model.get_layer(name).get_weights())
    return twin


def on_texts_and_ids(count, seed):
    """`count` texts, the text model, its id-fed twin and the ids."""
    corpus = texts(count, seed)
    model, vectorizer = text_model(corpus)
    ids = keras.ops.convert_to_numpy(vectorizer(corpus[:, 0]))
    return corpus, model, id_model(model, vectorizer), ids


def shown_words(vectorizer, batch):
    """What the dashboard must show: each step's word from the
    vectorizer's own vocabulary, padding (id 0) unlabelled."""
    vocabulary = vectorizer.get_vocabulary()
    ids = keras.ops.convert_to_numpy(vectorizer(batch[:, 0]))
    return [[vocabulary[i] if i else "" for i in row] for row in ids]


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """The text model and its id-fed twin, fitted alike for one epoch with
    GateMonitor probing the validation data (as `validation_split` makes
    it); yields (log dir, model, vectorizer, validation texts)."""
    import tensorflow as tf

    logdir = tmp_path_factory.mktemp("text_models")
    corpus = texts(32)
    y = np.linspace(-1, 1, 32, dtype="float32")[:, None]
    model, vectorizer = text_model(corpus)
    twin = id_model(model, vectorizer)
    ids = keras.ops.convert_to_numpy(vectorizer(corpus[:, 0]))
    fit = dict(epochs=1, batch_size=8, shuffle=False, validation_split=0.25)
    for fed, x, run, vocabulary in (
        (model, tf.constant(corpus), "texts", None),
        (twin, ids, "ids", vectorizer),
    ):
        fed.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
        monitor = keras_gates.GateMonitor(
            logdir / run,
            vocabulary=vocabulary,
            dashboard_sequences=SHOWN,
            figures=False,
        )
        fed.fit(x, y, callbacks=[monitor], verbose=0, **fit)
    yield logdir, model, vectorizer, corpus[24:]


@tf_only
def test_fit_on_texts_writes_what_the_id_fed_model_writes(fitted):
    logdir, model, vectorizer, held_out = fitted
    for run in ("train", "validation"):
        on_texts = summaries(logdir / "texts" / run)
        on_ids = summaries(logdir / "ids" / run)
        assert set(on_texts) == set(on_ids), run
        for tag, steps in on_ids.items():
            if tag == "gate_monitor/seconds":
                continue
            for step, value in steps.items():
                mine = on_texts[tag][step]
                if value.dtype == object:  # texts: JSON, PNG images
                    if tag.endswith(("_gates/layer", "_gates/tokens")):
                        assert mine == value, tag
                    continue
                if value.dtype.kind in "iu":
                    # Codes and counts: a value within float error of a
                    # code's or a bin's edge may land one step over.
                    differ = mine.astype(np.int64) - value
                    assert np.abs(differ).max(initial=0) <= 1, tag
                    assert (differ != 0).mean() < 0.01, tag
                    continue
                np.testing.assert_allclose(
                    mine, value, rtol=1e-5, atol=1e-6, err_msg=tag
                )
    validation = summaries(logdir / "texts" / "validation")
    assert "lstm/forget/mean" in validation
    tokens = json.loads(validation["_gates/tokens"][0].item())
    assert tokens["tokens"] == shown_words(vectorizer, held_out[:SHOWN])


@tf_only
def test_the_dashboard_shows_the_vectorizers_words(fitted):
    logdir, _, vectorizer, held_out = fitted
    app = client(logdir / "texts")
    _, runs = get_json(app, "runs")
    assert runs["validation"]["lstm"]["tokens"] is True
    expected = shown_words(vectorizer, held_out[:SHOWN])
    for sequence in range(SHOWN):
        query = dict(run="validation", layer="lstm", gate="forget", epoch=0)
        status, got = get_json(app, "values", **query, sequence=sequence)
        assert status == 200, got
        assert got["tokens"] == expected[sequence]
        assert got["valid"] == [bool(word) for word in expected[sequence]]


@tf_only
def test_the_dashboard_in_a_browser_labels_steps_with_words(fitted):
    from playwright.sync_api import expect, sync_playwright

    logdir, _, vectorizer, held_out = fitted
    expected = shown_words(vectorizer, held_out[:1])[0]
    with board_server(logdir / "texts") as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium())
        page = browser.new_page(viewport={"width": 1400, "height": 1200})
        page.goto(url)
        frame = page.frame_locator(
            'iframe[src="data/plugin_entry.html?name=gates"]'
        )
        frame.locator(".heatmap canvas").first.wait_for()
        frame.locator("select[name=run]").select_option("validation")
        labels = frame.locator("svg.axes text.token")
        expect(labels).to_have_count(LENGTH)
        assert labels.all_text_contents() == expected
        browser.close()


@tf_only
def test_gates_of_texts_are_the_gates_of_their_ids():
    corpus, model, twin, ids = on_texts_and_ids(6, seed=1)
    expected = keras_gates.gates(twin, ids)["lstm"]
    for got in (
        keras_gates.gates(model, corpus)["lstm"],
        keras_gates.gates(keras_gates.transparent(model), corpus)["lstm"],
        keras_gates.GatesOf(model)(corpus)[1]["lstm"],
    ):
        assert list(got) == list(expected)
        for gate, values in expected.items():
            np.testing.assert_allclose(got[gate], values, atol=1e-6)
    forget = keras_gates.gate_model(model, "lstm", "forget")(corpus)
    np.testing.assert_allclose(forget, expected["forget"], atol=1e-6)


@tf_only
def test_attribution_of_texts_is_that_of_their_ids():
    corpus, model, twin, ids = on_texts_and_ids(3, seed=2)
    # The output on one text (a batch of one), a gate unit on three.
    for rows, target in (
        (slice(0, 1), dict(output=None)),
        (slice(0, 3), dict(layer="lstm", gate="forget", unit=1)),
    ):
        got = keras_gates.attribution(model, corpus[rows], **target)
        expected = keras_gates.attribution(twin, ids[rows], **target)
        assert got.shape == (len(ids[rows]), LENGTH)
        np.testing.assert_allclose(got, expected, atol=1e-6)
        assert (got[ids[rows] == 0] == 0).all()  # padding
        assert (got[ids[rows] != 0] != 0).any()


@tf_only
def test_match_and_search_on_texts_are_those_on_their_ids(tmp_path, capfd):
    corpus, model, twin, ids = on_texts_and_ids(12, seed=4)
    vocabulary = model.get_layer("words").get_vocabulary()
    marks = ids == vocabulary.index("the")
    expected = keras_gates.match_units(twin, ids, marks, top=None)
    got = keras_gates.match_units(model, corpus, marks, top=None)
    for found in (expected, got):
        for match in found:
            match["score"] = round(match["score"], 5)
    assert got == expected
    # A range search labels its steps with the model's own words.
    forget = keras_gates.gates(twin, ids)["lstm"]["forget"][..., 0]
    threshold = float(np.median(forget[ids != 0]))
    kwargs = dict(threshold=threshold, top=None, context=2)
    on_ids = keras_gates.search(
        twin, ids, "lstm", "forget", [0], 1, vocabulary=vocabulary, **kwargs
    )
    assert on_ids, "the median threshold finds ranges"
    on_texts = keras_gates.search(
        model, corpus, "lstm", "forget", [0], 1, **kwargs
    )
    assert [m["tokens"] for m in on_texts] == [m["tokens"] for m in on_ids]
    for match in on_texts:
        row = ids[match["sequence"]]
        span = row[match["start"] : match["end"] + 1]
        assert match["tokens"] == [vocabulary[i] for i in span]
    # The command reads the words with the model's own vocabulary too.
    model.save(tmp_path / "m.keras")
    np.save(tmp_path / "texts.npy", corpus[:, 0])
    status = keras_gates_cli.main(
        ["match", str(tmp_path / "m.keras"), "--data"]
        + [str(tmp_path / "texts.npy"), "--regex", r"\bthe\b", "--top", "3"]
    )
    out = capfd.readouterr().out
    assert status == 0, out
    rows = [line.split("|")[1:-1] for line in out.splitlines()]
    rows = [r for r in rows if r and r[0].strip().isdigit()]
    units = [(r[1].strip(), r[2].strip(), int(r[3])) for r in rows]
    assert units == [(m["layer"], m["gate"], m["unit"]) for m in got[:3]]


def monitor_once(model, probe, logdir, **kwargs):
    """One logged epoch of GateMonitor on `probe`, without a fit (as
    `keras-gates inspect` does); returns the train run's summaries."""
    monitor = keras_gates.GateMonitor(
        logdir, probe_data=probe, figures=False, **kwargs
    )
    monitor.set_model(model)
    monitor.on_train_begin()
    monitor.on_epoch_end(0)
    monitor.on_train_end()
    return summaries(logdir / "train")


@tf_only
def test_the_probe_budget_counts_tokens_not_texts(tmp_path):
    corpus = texts(8)
    model, _ = text_model(corpus)
    # Two sequences of LENGTH tokens of the LSTM's 3 units, not two texts.
    logged = monitor_once(model, corpus, tmp_path, probe_values=2 * LENGTH * 3)
    said = logged["gate_monitor/probe"][0].item().decode()
    assert said == "Gates are computed on 2 sequences of probe_data."


@tf_only
def test_string_lookup_over_split_words(tmp_path):
    vocabulary = ["cat", "dog", "sat", "ran"]
    lookup = keras.layers.StringLookup(vocabulary=vocabulary, mask_token="")
    inputs = keras.Input((5,), dtype="string")
    h = keras.layers.Embedding(lookup.vocabulary_size(), 3, mask_zero=True)(
        lookup(inputs)
    )
    model = keras.Model(inputs, keras.layers.GRU(2, name="gru")(h))
    words = np.array(
        [["cat", "sat", "", "", ""], ["dog", "ran", "fast", "", ""]]
    )
    logged = monitor_once(model, words, tmp_path)
    tokens = json.loads(logged["_gates/tokens"][0].item())["tokens"]
    # Unknown words are the lookup's "[UNK]"; padding is unlabelled.
    assert tokens == [
        ["cat", "sat", "", "", ""],
        ["dog", "ran", "[UNK]", "", ""],
    ]
    assert lookup.get_vocabulary()[1] == "[UNK]"
    # The gates are those of the ids the lookup makes.
    ids = keras.ops.convert_to_numpy(lookup(words))
    twin = keras.Sequential([keras.Input((5,), dtype="int64")])
    for layer in model.layers[2:]:
        twin.add(layer)
    got = keras_gates.gates(model, words)["gru"]
    for gate, values in keras_gates.gates(twin, ids)["gru"].items():
        np.testing.assert_allclose(got[gate], values, atol=1e-6)


PIECES = ["[PAD]", "[UNK]", "the", "cat", "dog", "walk", "##ing", "##ed"]


def test_subword_pieces_read_as_text():
    ids = np.array([[2, 3, 5, 6, 0], [4, 5, 7, 0, 0]])
    valid = ids != 0
    text = json.loads(writer.tokens_json(ids, 2, PIECES, valid))["tokens"]
    assert text == [
        ["the", " cat", " walk", "ing", ""],
        ["dog", " walk", "ed", "", ""],
    ]
    assert ["".join(row) for row in text] == ["the cat walking", "dog walked"]
    sentencepiece = ["<pad>", "\u2581the", "\u2581walk", "ing", "\u2581cat"]
    shown = writer.row_texts([1, 2, 3, 4], sentencepiece, None, "starts")
    assert shown == ["the", " walk", "ing", " cat"]
    assert writer.subwords(sentencepiece) == "starts"
    assert writer.subwords(PIECES) == "continues"
    assert writer.subwords(WORDS) is None
    # Whole words (TextVectorization's) are shown as they are.
    assert writer.row_texts([1, 2], WORDS, None, None) == ["a", "cat"]


@tf_only
def test_keras_hub_word_piece_tokenizer(tmp_path):
    keras_hub = pytest.importorskip("keras_hub")
    tokenizer = keras_hub.tokenizers.WordPieceTokenizer(
        vocabulary=PIECES, sequence_length=6
    )
    sentences = np.array(["the cat walking", "dog walked"])
    # Inside the model: read like TextVectorization.
    inputs = keras.Input((), dtype="string")
    h = keras.layers.Embedding(len(PIECES), 3, mask_zero=True)(
        tokenizer(inputs)
    )
    model = keras.Model(inputs, keras.layers.LSTM(2, name="lstm")(h))
    logged = monitor_once(model, sentences, tmp_path / "inside")
    rows = json.loads(logged["_gates/tokens"][0].item())["tokens"]
    assert ["".join(row) for row in rows] == list(sentences)
    assert rows[0][3] == "ing"  # "##ing" joined to its word
    # Given as `vocabulary=` to a model fed the ids.
    ids = keras.ops.convert_to_numpy(tokenizer(sentences))
    assert [tokenizer.id_to_token(int(i)) for i in ids[0, :4]] == [
        "the",
        "cat",
        "walk",
        "##ing",
    ]
    id_inputs = keras.Input((6,), dtype="int32")
    twin = keras.Model(id_inputs, model.layers[-1](model.layers[-2](id_inputs)))
    logged = monitor_once(twin, ids, tmp_path / "given", vocabulary=tokenizer)
    assert json.loads(logged["_gates/tokens"][0].item())["tokens"] == rows
    # A preprocessor inside the model: its `token_ids`, [CLS] and [SEP] too.
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(
        keras_hub.models.BertTokenizer(
            vocabulary=PIECES + ["[CLS]", "[SEP]", "[MASK]"]
        ),
        sequence_length=7,
    )
    h = keras.layers.Embedding(len(PIECES) + 3, 3, mask_zero=True)(
        preprocessor(inputs)["token_ids"]
    )
    model = keras.Model(inputs, keras.layers.LSTM(2, name="lstm")(h))
    logged = monitor_once(model, sentences, tmp_path / "preprocessor")
    rows = json.loads(logged["_gates/tokens"][0].item())["tokens"]
    assert ["".join(row) for row in rows] == [
        f"[CLS] {text} [SEP]" for text in sentences
    ]


@tf_only
def test_explain_a_text_model_from_a_npy_of_texts(tmp_path, capfd):
    corpus = texts(4, seed=3)
    model, vectorizer = text_model(corpus)
    model.save(tmp_path / "m.keras")
    np.save(tmp_path / "texts.npy", corpus[:, 0])  # one text per sequence
    status = keras_gates_cli.main(
        ["explain", str(tmp_path / "m.keras"), "--data"]
        + [str(tmp_path / "texts.npy"), "--sample", "1", "--top", "20"]
        + ["--layer", "lstm", "--gate", "input", "--unit", "0"]
        + ["--out", str(tmp_path / "fig")]
    )
    out = capfd.readouterr().out
    assert status == 0, out
    rows = [line.split("|")[1:-1] for line in out.splitlines()]
    rows = [[cell.strip() for cell in row] for row in rows if len(row) == 5]
    words = shown_words(vectorizer, corpus[1:2])[0]
    listed = {int(row[1]): row[2] for row in rows[2:]}
    assert listed == {step: word for step, word in enumerate(words) if word}


@tf_only
def test_without_probe_data_or_validation_it_says_texts_are_not_kept(
    tmp_path,
):
    import tensorflow as tf

    corpus = texts(8)
    model, _ = text_model(corpus)
    model.compile(loss="mse")
    monitor = keras_gates.GateMonitor(tmp_path, figures=False)
    with pytest.warns(UserWarning, match=r"input '\w+' takes string values"):
        model.fit(
            tf.constant(corpus),
            np.zeros((8, 1)),
            verbose=0,
            callbacks=[monitor],
        )
    assert "lstm/forget/mean" not in summaries(tmp_path / "train")


def test_inputs_the_model_cannot_take_are_refused_by_name():
    corpus = texts(2)
    model, _ = text_model(corpus)
    if BACKEND != "tensorflow":
        with pytest.raises(ValueError, match="no strings into a model on"):
            keras_gates.gates(model, corpus)
    with pytest.raises(
        ValueError,
        match=r"holds numbers \(float32\), but input '\w+' of model '\w+' "
        r"takes texts \(string\)",
    ):
        keras_gates.gates(model, np.zeros((2, 1), "float32"))


class _Batches(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.count = 0

    def on_train_batch_begin(self, batch, logs=None):
        self.count += 1


class _CustomCell(keras.layers.Layer):
    """A recurrent cell keras-gates does not read."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.state_size = self.output_size = 2

    def call(self, x, states):
        return x[:, :2] + states[0], [x[:, :2] + states[0]]


def test_what_gate_monitor_cannot_read_is_said_before_training(tmp_path):
    x = np.ones((8, 4, 3), "float32")
    custom = keras.layers.RNN(_CustomCell(), return_sequences=True, name="own")
    only = keras.Sequential([keras.Input((4, 3)), custom])
    only.compile(optimizer="sgd", loss="mse")
    batches = _Batches()
    monitor = keras_gates.GateMonitor(tmp_path / "a", probe_data=x)
    with pytest.raises(ValueError, match=r"Layer 'own' is not read: its cell"):
        only.fit(x, x[..., :2], verbose=0, callbacks=[monitor, batches])
    assert batches.count == 0  # nothing trained before it said so
    assert int(only.optimizer.iterations) == 0
    # With a layer it reads as well, it says so and monitors that one.
    mixed = keras.Sequential(
        [keras.Input((4, 3)), keras.layers.LSTM(2, return_sequences=True)]
        + [keras.layers.RNN(_CustomCell(), return_sequences=True, name="own")]
    )
    mixed.compile(optimizer="sgd", loss="mse")
    monitor = keras_gates.GateMonitor(tmp_path / "b", probe_data=x)
    with pytest.warns(UserWarning, match=r"monitoring \['lstm\w*'\].*'own'"):
        mixed.fit(x, x[..., :2], verbose=0, callbacks=[monitor, batches])
    assert batches.count == 1
    logged = summaries(tmp_path / "b" / "train")
    assert any(t.startswith("lstm") and t.endswith("/mean") for t in logged)


@jax_only
# TextVectorization gives int64 ids, which JAX (without x64) takes as int32,
# with a warning.
@pytest.mark.filterwarnings(
    "ignore:Explicitly requested dtype int64:UserWarning"
)
def test_on_jax_the_vectorizer_stays_in_tf_data(tmp_path):
    import tensorflow as tf

    corpus = texts(8)
    vectorizer = keras.layers.TextVectorization(output_sequence_length=LENGTH)
    vectorizer.adapt(corpus[:, 0])
    inputs = keras.Input((LENGTH,), dtype="int64")
    h = keras.layers.Embedding(vectorizer.vocabulary_size(), 3, mask_zero=True)(
        inputs
    )
    model = keras.Model(inputs, keras.layers.LSTM(2, name="lstm")(h))
    model.compile(loss="mse")
    data = tf.data.Dataset.from_tensor_slices((corpus, np.zeros((8, 2))))
    data = data.batch(4).map(lambda x, y: (vectorizer(x[:, 0]), y))
    monitor = keras_gates.GateMonitor(
        tmp_path, vocabulary=vectorizer, dashboard_sequences=2, figures=False
    )
    model.fit(
        data,
        validation_data=data.take(1),
        shuffle=False,
        verbose=0,
        callbacks=[monitor],
    )
    logged = summaries(tmp_path / "validation")
    tokens = json.loads(logged["_gates/tokens"][0].item())["tokens"]
    assert tokens == shown_words(vectorizer, corpus[:2])
