"""A model that takes raw text: does a docstring describe a function or a
class? GateMonitor and attribution read it as it is.

The model is the end-to-end text model of Keras's text tutorials: it takes
strings, `Input((1,), dtype="string")`, and turns them into token ids with
its own `TextVectorization`, so that the saved model serves raw text:

    TextVectorization(output_sequence_length=20) -> Embedding(mask_zero=True)
    -> LSTM(16) -> Dense(1, sigmoid)

The corpus is the standard library of the Python that runs this script: the
first line of every class and function docstring in its modules (test
suites left out), labelled by `ast` with what the docstring belongs to:
1 for a function or method, 0 for a class; anyone can check a label by
finding the line in the source. There are fewer classes, so as many
function lines are kept as there are class lines (evenly through the
files), and every fifth file goes to validation: no validation line comes
from a module seen in training. Always answering one class gives 50%.

GateMonitor is given no vocabulary: the dashboard labels the steps with
the words of the model's own `TextVectorization` (the token ids it makes
from the validation texts), padding unlabelled. Its attribution of the
output ranks the words of each validation line; the script prints them
for a few lines, and the words that move the output most over all of them.

    python examples/text_classifier.py            # under a minute on 2 cores
    python examples/text_classifier.py --quick    # a few seconds (tests)
    keras-gates board logs/text_classifier

One run with the defaults (Python 3.11.7's standard library, 1796 training
and 370 validation lines, 3 epochs) reached a validation accuracy of
84.9% (97.4% in training: it learns the training lines by heart after
two epochs). By gradient x input on 128 validation lines, the words that
push towards "function" most were parse, write, address, list; towards
"class": package, header, codec, transport, helper, script: verbs for
what a function does, nouns for what a class is. Saliency alone ranks
each line's last words first: the LSTM's output remembers them best.

Keras 3.15's `fit` and `predict` take texts as TensorFlow tensors or a
`tf.data.Dataset`, not as NumPy string arrays (Keras's own "Invalid dtype:
str..."); keras-gates' functions take either. Strings enter a Keras model
on the TensorFlow backend only (see docs/text.md for JAX).
"""

import argparse
import ast
import os
import pathlib
import shlex
import sysconfig

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

import keras_gates  # noqa: E402

LENGTH = 20  # tokens per line (output_sequence_length)
SKIPPED = {"test", "tests", "idlelib", "lib2to3", "site-packages"}
FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)


def library_files():
    """The standard library's modules, in name order, test suites left
    out."""
    root = pathlib.Path(sysconfig.get_paths()["stdlib"])
    files = [
        path
        for path in sorted(root.rglob("*.py"))
        if not SKIPPED & set(path.relative_to(root).parts)
    ]
    return files


def first_lines(path):
    """(first docstring line, 1 for a function, 0 for a class) of a file."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError):
        return []
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.ClassDef, *FUNCTIONS)):
            docstring = ast.get_docstring(node)
            if docstring and len(docstring.split()) >= 3:
                line = docstring.strip().splitlines()[0].strip()
                found.append((line, int(isinstance(node, FUNCTIONS))))
    return found


def balanced(pairs):
    """All class lines and as many function lines, evenly spaced, in file
    order; (texts (n, 1), labels (n, 1))."""
    classes = [p for p in pairs if p[1] == 0]
    functions = [p for p in pairs if p[1] == 1]
    step = max(1, len(functions) // max(1, len(classes)))
    kept = classes + functions[::step][: len(classes)]
    kept.sort(key=pairs.index)
    texts = np.array([[line] for line, _ in kept])
    return texts, np.array([[label] for _, label in kept], "float32")


def corpus(files):
    """Training and validation (texts, labels): every fifth file
    validates."""
    train = [p for i, f in enumerate(files) if i % 5 for p in first_lines(f)]
    held = [p for f in files[::5] for p in first_lines(f)]
    return balanced(train), balanced(held)


def build(texts, units):
    """The end-to-end model, its TextVectorization adapted to `texts`."""
    vectorizer = keras.layers.TextVectorization(
        max_tokens=5000, output_sequence_length=LENGTH, name="words"
    )
    vectorizer.adapt(texts[:, 0])
    inputs = keras.Input((1,), dtype="string", name="text")
    h = keras.layers.Embedding(
        vectorizer.vocabulary_size(), 32, mask_zero=True, name="embed"
    )(vectorizer(inputs))
    h = keras.layers.LSTM(units, name="lstm")(h)
    outputs = keras.layers.Dense(1, activation="sigmoid", name="function")(h)
    model = keras.Model(inputs, outputs, name="docstring_kind")
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    return model, vectorizer


def top_words(values, ids, vocabulary, count=3):
    """The `count` words of one line with the largest attribution."""
    order = np.argsort(-values, kind="stable")
    return [vocabulary[ids[i]] for i in order[:count] if ids[i]]


def word_means(values, ids, size, least=3):
    """The mean of `values` at each word id seen at least `least` times;
    0 for the others, padding and unknown words."""
    totals = np.bincount(ids.ravel(), values.ravel(), size)
    counts = np.bincount(ids.ravel(), minlength=size)
    means = np.where(counts >= least, totals / np.maximum(counts, 1), 0.0)
    means[:2] = 0.0  # padding, unknown words
    return means


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--logdir",
        default=os.path.join("logs", "text_classifier"),
        help="log directory (default: logs/text_classifier)",
    )
    parser.add_argument("--epochs", type=int, help="default 3, 1 with --quick")
    parser.add_argument("--units", type=int, default=16)
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes, a few seconds"
    )
    args = parser.parse_args(argv)
    files = library_files()
    if args.quick:
        files = files[::12]  # spread over the library
    if args.epochs is None:
        args.epochs = 1 if args.quick else 3
    keras.utils.set_random_seed(0)
    (texts, y), (val_texts, y_val) = corpus(files)
    print(
        f"{len(texts)} training and {len(val_texts)} validation docstring "
        f"lines from {len(files)} modules, half of functions; e.g. "
        f"{str(val_texts[0, 0])!r} "
        f"({'function' if y_val[0, 0] else 'class'})"
    )
    model, vectorizer = build(texts, args.units)
    # Keras's fit takes texts as tensors, not NumPy string arrays.
    history = model.fit(
        tf.constant(texts),
        y,
        batch_size=32,
        epochs=args.epochs,
        validation_data=(tf.constant(val_texts), y_val),
        callbacks=[
            keras_gates.GateMonitor(
                args.logdir, attribution="saliency", max_probe=64
            )
        ],
        verbose=2,
    )
    accuracy = history.history["val_accuracy"][-1]
    print(f"\nvalidation accuracy {accuracy:.1%} (one class: 50.0%)")

    # Which words move the output: saliency (how much) and gradient x
    # input (which way: > 0 towards "function"), at the embedding, per word.
    shown = val_texts[:128]
    values = keras_gates.attribution(model, shown)
    signed = keras_gates.attribution(model, shown, method="gradient_x_input")
    ids = keras.ops.convert_to_numpy(vectorizer(shown[:, 0]))
    vocabulary = vectorizer.get_vocabulary()
    print("\nThe words that move the output most (saliency), on validation:")
    for line, row, tokens in list(zip(shown[:, 0], values, ids))[:4]:
        words = ", ".join(top_words(row, tokens, vocabulary))
        print(f"  {str(line)[:60]!r}: {words}")
    toward = word_means(signed, ids, len(vocabulary))
    order = np.argsort(toward)
    ranked = {
        "function": [vocabulary[i] for i in order[::-1][:8] if toward[i] > 0],
        "class": [vocabulary[i] for i in order[:8] if toward[i] < 0],
    }
    for label, words in ranked.items():
        print(f"Words that push towards {label!r} most: {', '.join(words)}")
    print("\nSee the gates, labelled with the model's own words, with:\n")
    print(f"    keras-gates board {shlex.quote(args.logdir)}\n")
    return {
        "history": history.history,
        "val_accuracy": accuracy,
        "probe": val_texts,
        "vectorizer": vectorizer,
        "attribution": values,
        "ids": ids,
        "signed": signed,
        "ranked": ranked,
    }


if __name__ == "__main__":
    main()
