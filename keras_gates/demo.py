"""The demo: character-level LSTM and GRU on Python's own source code.

`run(...)` trains one model per cell kind to predict the next character of
the standard library's source text, with `GateMonitor` and Keras's
`TensorBoard` callback writing to one log directory, then reports what the
gates did: a saturation table, the dimension table, the four figures, a
generated sample and the units that best track four things in the code
(Karpathy, Johnson & Fei-Fei 2015 found such cells in character LSTMs):
being inside a string literal, inside parentheses, past column 60, and
indented by 8 spaces or more. `keras-gates demo` is this module on the
command line.
"""

import pathlib
import shlex
import sys

import keras

from keras_gates import annotations, figures, layers
from keras_gates.callbacks import GateMonitor
from keras_gates.describe import describe
from keras_gates.discovery import match_units
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
    notes = code_annotations(x_val, corpus.chars)
    probe = x_val[: settings.probe]
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
                    probe_data=probe,
                    vocabulary=corpus.chars,
                    figures=True,
                    annotations={k: v[: len(probe)] for k, v in notes.items()},
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
        _report(model, cell, probe, logdir, out)
        results[cell]["matches"] = _matches(model, x_val, notes, out)
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


# The annotations of the demo: what each marks, by name.
DESCRIPTIONS = {
    "string": "inside a string literal",
    "parentheses": "inside parentheses",
    "column 60+": "position in the line past 60",
    "indent 8+": "indentation depth: 8 spaces or more",
}


def code_annotations(x, chars):
    """The demo's annotations of windows `x` (n, seq_len) of ids into
    `chars`, read as one continuous text (the windows follow each other);
    only those that mark some steps and leave others."""
    ids = x.reshape(-1)
    quotes, comment = [('"', '"'), ("'", "'")], [("#", "\n")]
    found = {
        "string": annotations.inside(ids, chars, quotes, comment, "\\"),
        "parentheses": annotations.inside(
            ids, chars, ("(", ")"), quotes + comment, "\\"
        ),
        "column 60+": annotations.line_position(ids, chars, 60),
        "indent 8+": annotations.indentation(ids, chars, 8),
    }
    return {
        name: marks.reshape(x.shape)
        for name, marks in found.items()
        if 0 < marks.mean() < 1
    }


def _matches(model, x, notes, out):
    """The units that best track each annotation over `x`; returns
    {annotation: match_units' top 3}."""
    if not notes:
        out("\nThe validation text is too short to annotate.")
        return {}
    found = match_units(model, x, notes, top=3, verbose=0)
    out(
        f"\nUnits that track the code, over the {len(x):,} validation "
        "sequences (ROC AUC of a unit's values at the marked characters "
        "against the others: 1 perfect, 0.5 none; higher or lower there):\n"
    )
    out("| annotation | marked | best units (score, higher or lower) |")
    out("|---|---:|---|")
    for name, marks in notes.items():
        best = ", ".join(
            f"{f['gate']}[{f['unit']}] {f['score']:.3f} {f['direction']}"
            for f in found[name]
        )
        out(f"| {DESCRIPTIONS[name]} | {marks.mean():.1%} | {best} |")
    return found
