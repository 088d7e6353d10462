"""The demo: character-level LSTM and GRU on Python's own source code.

`run(...)` trains one model per cell kind to predict the next character of
the standard library's source text, with `GateMonitor` and Keras's
`TensorBoard` callback writing to one log directory, then reports what the
gates did: a saturation table, the dimension table, the four figures and a
generated sample. `keras-gates demo` is this module on the command line.
"""

import pathlib
import shlex
import sys

import keras

from keras_gates import figures, layers
from keras_gates.callbacks import GateMonitor
from keras_gates.describe import describe
from keras_gates.probe import GateProbe
from keras_gates.report import saturation_table
from keras_gates.text import CharCorpus, stdlib_source


def build(cell, vocabulary, settings):
    """Embedding -> recurrent layer (all steps) -> next-character logits."""
    inputs = keras.Input((settings.seq_len,), dtype="int32", name="chars")
    h = keras.layers.Embedding(vocabulary, settings.embed_dim, name="embed")(
        inputs
    )
    layer_class = getattr(layers, settings.cell_layers[cell])
    h = layer_class(settings.units, return_sequences=True, name=cell)(h)
    logits = keras.layers.Dense(vocabulary, name="next_char")(h)
    model = keras.Model(inputs, logits, name=f"char_{cell}")
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def run(settings, text=None, out=print):
    """Train and report; returns {cell: {"loss", "val_loss", "sample"}}.

    Args:
        settings: what to train: a `keras_gates_cli.DemoSettings` (whose
            defaults are the command's), or any object with its
            attributes.
        text: the corpus; default the standard library's source, cut at
            `settings.max_chars`.
        out: where the report goes, one str per call.
    """
    for cell in settings.cells:
        if cell not in settings.cell_layers:
            raise ValueError(
                f"unknown cell {cell!r}; choose from "
                f"{', '.join(settings.cell_layers)}."
            )
    source = "your text"
    if text is None:
        text = stdlib_source(settings.max_chars)
        source = "Python standard library source"
    corpus = CharCorpus(text[: settings.max_chars], settings.seq_len)
    x, y = corpus.windows()
    split = max(1, len(x) // 10)
    if len(x) - split < 1:
        raise ValueError(
            f"{len(text)} characters make {len(x)} sequences of "
            f"{settings.seq_len}: too few to train on; give more text or a "
            "shorter seq_len."
        )
    x_train, y_train, x_val, y_val = (
        x[:-split],
        y[:-split],
        x[-split:],
        y[-split:],
    )
    baseline = corpus.unigram_loss()
    out(
        f"Corpus: {len(corpus.ids):,} characters of {source}, "
        f"{len(corpus.chars)} distinct; {len(x_train):,} training and "
        f"{len(x_val):,} validation sequences of {settings.seq_len}.\n"
        f"Guessing by character frequency alone scores a loss of "
        f"{baseline:.3f} nats per character."
    )
    logdir = pathlib.Path(settings.logdir)
    results = {}
    for cell in settings.cells:
        model = build(cell, len(corpus.chars), settings)
        out(f"\n== {settings.cell_layers[cell]}({settings.units}) ==")
        history = model.fit(
            x_train,
            y_train,
            validation_data=(x_val, y_val),
            epochs=settings.epochs,
            batch_size=settings.batch_size,
            verbose=1 if sys.stdout.isatty() else 2,
            callbacks=[
                keras.callbacks.TensorBoard(logdir / cell),
                GateMonitor(
                    logdir / cell,
                    probe_data=x_val[: settings.probe],
                    vocabulary=corpus.chars,
                ),
            ],
        ).history
        sample = settings.sample_start + corpus.sample(
            model.predict_on_batch,
            settings.sample_start,
            settings.sample_chars,
        )
        results[cell] = {
            "loss": history["loss"][-1],
            "val_loss": history["val_loss"][-1],
            "sample": sample,
        }
        _report(model, cell, x_val[: settings.probe], logdir, out)
        out(
            f"Validation loss {history['val_loss'][-1]:.3f} nats per "
            f"character (frequency guess: {baseline:.3f}). Generated text:\n"
            + "-" * 60
            + f"\n{sample}\n"
            + "-" * 60
        )
    out(
        "\nSee the gates in TensorBoard's Gates dashboard:\n"
        f"  keras-gates board {shlex.quote(str(logdir))}\n"
        f"or: tensorboard --logdir {shlex.quote(str(logdir))}, then "
        "http://localhost:6006/#gates"
    )
    return results


def _report(model, cell, x, logdir, out):
    """Gate saturation, dimension table and the four figures of one model."""
    (record,) = GateProbe(model).run(x)
    out(f"\nGates on {len(x)} validation sequences:\n")
    out(saturation_table([record]))
    kind = type(model.get_layer(cell)).__name__
    out(f"Dimensions inside the {kind} cell:\n")
    out(describe(model).to_markdown())
    drawn = figures.draw(
        model.get_layer(cell),
        openness=figures.mean_openness(record.gates, record.valid),
    )
    paths = figures.save(drawn, logdir / "figures" / cell)
    out(f"Figures: {', '.join(sorted({str(p.parent) for p in paths}))}")
