"""A character-level LSTM on Python's own source code, gates in TensorBoard.

The script version of `keras-gates demo`, written out so that it can be
copied: the model predicts the next character of the standard library's
source text at every step (Karpathy, Johnson & Fei-Fei 2015 did the same
with the Linux kernel's source), `keras.callbacks.TensorBoard` and
`keras_gates.GateMonitor` write to one log directory, and after training
the script generates some text and lists the units whose forget gate is
most often wide open: the units that keep their cell state from step to
step, the LSTM's long memory.

    python examples/char_rnn.py            # about a minute on 2 cores
    python examples/char_rnn.py --quick    # a few seconds (used in tests)
    tensorboard --logdir logs/char_rnn

In TensorBoard, the `lstm/forget/saturation_right` chart (Custom Scalars,
group `lstm`) shows the share of forget-gate values above 0.9 growing over
the epochs, and Images holds the four figures of the seed tutorial drawn
for this layer's sizes, gates coloured by how open they were.
"""

import argparse
import os
import shlex

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_gates  # noqa: E402
from keras_gates.text import CharCorpus, stdlib_source  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--units", type=int, default=128)
    parser.add_argument("--seq-len", type=int, default=64)
    parser.add_argument("--max-chars", type=int, default=1_000_000)
    parser.add_argument("--logdir", default="logs/char_rnn")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.epochs, args.units, args.max_chars = 1, 16, 8_000

    corpus = CharCorpus(stdlib_source(args.max_chars), args.seq_len)
    x, y = corpus.windows()
    split = len(x) * 9 // 10
    vocabulary = len(corpus.chars)

    model = keras.Sequential(
        [
            keras.Input((args.seq_len,), dtype="int32"),
            keras.layers.Embedding(vocabulary, 32),
            keras_gates.LSTM(args.units, return_sequences=True, name="lstm"),
            keras.layers.Dense(vocabulary),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    history = model.fit(
        x[:split],
        y[:split],
        validation_data=(x[split:], y[split:]),
        epochs=args.epochs,
        batch_size=64,
        verbose=2,
        callbacks=[
            keras.callbacks.TensorBoard(args.logdir),
            keras_gates.GateMonitor(
                args.logdir, probe_data=x[split:][:64], figures=True
            ),
        ],
    ).history
    print(
        f"validation loss {history['val_loss'][-1]:.3f} nats per character; "
        f"guessing by frequency: {corpus.unigram_loss():.3f}"
    )
    sample = corpus.sample(model.predict_on_batch, "def ", 200)
    print("generated:\n" + sample)

    forget = keras_gates.gates(model, x[split:][:64])["lstm"]["forget"]
    open_share = (forget > 0.9).mean(axis=(0, 1))
    memory_units = np.argsort(open_share)[::-1][:5]
    print("units whose forget gate is most often > 0.9 (long memory):")
    for unit in memory_units:
        print(f"  unit {unit:3d}: {open_share[unit]:.0%} of steps")
    print(f"tensorboard --logdir {shlex.quote(args.logdir)}")
    return {
        "val_loss": history["val_loss"][-1],
        "unigram_loss": corpus.unigram_loss(),
        "sample": sample,
        "memory_units": memory_units,
    }


if __name__ == "__main__":
    main()
