"""The `keras-gates` command line: every subcommand's output and errors.

Subcommands run in-process through `keras_gates_cli.main` (fast; `capfd`,
since it points file descriptor 2 elsewhere while a command runs); two tests
run the installed console script to check the entry point and that a
failure really is one line on stderr without a traceback.
"""

import dataclasses
import pathlib
import re
import subprocess
import sys

import keras
import numpy as np
import pytest
from conftest import CellSpec, tf_only
from events import summaries
from reference import numpy_rnn, tf_gates

import keras_gates
import keras_gates_cli
from keras_gates import demo
from keras_gates.text import CharCorpus, stdlib_source

STEPS, FEATURES = 7, 3


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A stock Bidirectional LSTM + GRU model saved as .keras, and data."""
    folder = tmp_path_factory.mktemp("saved")
    inputs = keras.Input((STEPS, FEATURES))
    h = keras.layers.Bidirectional(
        keras.layers.LSTM(4, return_sequences=True), name="bi"
    )(inputs)
    h = keras.layers.GRU(5, name="gru")(h)
    model = keras.Model(inputs, keras.layers.Dense(1)(h))
    model.save(folder / "model.keras")
    x = np.random.default_rng(0).normal(size=(12, STEPS, FEATURES))
    np.save(folder / "x.npy", x.astype("float32"))
    return folder / "model.keras", folder / "x.npy", model, x


def run(capfd, *argv):
    """(exit status, stdout, stderr) of `keras-gates argv...` in-process."""
    try:
        status = keras_gates_cli.main([str(a) for a in argv])
    except SystemExit as exit:  # argparse: --help and bad arguments
        status = exit.code
    out, err = capfd.readouterr()
    return status, out, err


def failed(capfd, *argv, status=1):
    """Runs a failing command; returns its one error line."""
    code, _, err = run(capfd, *argv)
    assert code == status, (code, err)
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"keras-gates {argv[0]}: error: "), err
    return lines[0]


def table_rows(text, layer):
    """The data rows of one layer in a markdown table."""
    return [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in text.splitlines()
        if line.startswith(f"| {layer} |")
    ]


@pytest.mark.parametrize(
    "command",
    [
        "demo",
        "describe",
        "figures",
        "inspect",
        "explain",
        "match",
        "search",
        "ablate",
    ],
)
def test_help_has_examples(capfd, command):
    status, out, _ = run(capfd, command, "--help")
    assert status == 0
    assert "examples:" in out
    assert f"keras-gates {command}" in out.split("examples:")[1]


@pytest.mark.parametrize(
    "cell, stock",
    [
        ("lstm", keras.layers.LSTM),
        ("gru", keras.layers.GRU),
        ("simple", keras.layers.SimpleRNN),
    ],
)
def test_describe_sizes(capfd, cell, stock):
    status, out, _ = run(
        capfd, "describe", "--cell", cell, "--units", 16, "--input-dim", 8
    )
    assert status == 0
    layer = stock(16)
    layer.build((None, 5, 8))
    rows = table_rows(out, cell)
    layers = [row for row in rows if "layer" in row[2]]
    assert len(layers) == {"lstm": 4, "gru": 3, "simple": 1}[cell]
    assert all(row[3] == "8 + 16 = 24" for row in layers)
    assert all(row[-1] == "(24, 1) -> (16, 1)" for row in layers)
    total = next(row for row in rows if row[1] == "**total**")
    assert int(total[6]) == layer.count_params()


def test_describe_saved_model(capfd, saved):
    path, _, model, _ = saved
    status, out, _ = run(capfd, "describe", path)
    assert status == 0
    assert out == keras_gates.describe(model).to_markdown()
    for layer in ("bi/forward", "bi/backward", "gru"):
        assert table_rows(out, layer), layer


def test_figures_sizes(capfd, tmp_path):
    status, out, _ = run(
        capfd, "figures", "--units", 6, "--input-dim", 2, "--out", tmp_path
    )
    assert status == 0
    written = sorted(pathlib.Path(line) for line in out.split())
    names = sorted(p.name for p in tmp_path.iterdir())
    assert written == sorted(tmp_path.iterdir())
    assert names == sorted(
        f"{figure}.{suffix}"
        for figure in keras_gates.figures.FIGURES
        for suffix in ("png", "svg")
    )
    assert all(p.stat().st_size > 1000 for p in written)


def test_figures_saved_model(capfd, tmp_path, saved):
    status, out, _ = run(
        capfd, "figures", saved[0], "--out", tmp_path, "--format", "svg"
    )
    assert status == 0
    folders = {
        p.relative_to(tmp_path).parent for p in map(pathlib.Path, out.split())
    }
    assert folders == {
        pathlib.Path("bi/forward"),
        pathlib.Path("bi/backward"),
        pathlib.Path("gru"),
    }
    assert all(line.endswith(".svg") for line in out.split())
    # The GRU's figures carry its own sizes: D_x = 8 (both LSTM halves).
    svg = (tmp_path / "gru" / "lstm_vs_gru.svg").read_text()
    assert "D_x = 8, D_h = 5" in svg
    assert f"{saved[2].get_layer('gru').count_params():,} params" in svg


def test_inspect(capfd, saved):
    path, data, model, x = saved
    status, out, _ = run(capfd, "inspect", path, "--data", data)
    assert status == 0
    expected = keras_gates.gates(model, x)
    statistics, dimensions = out.split("| layer | part |")
    for layer, gates in expected.items():
        rows = {row[1]: row for row in table_rows(statistics, layer)}
        for gate, values in gates.items():
            mean = float(rows[gate][2])
            assert mean == pytest.approx(values.mean(), abs=1e-3), gate
        for gate in ("forget", "update"):
            if gate in gates:
                share = float(rows[gate][4].rstrip("%")) / 100
                assert share == pytest.approx(
                    (gates[gate] > 0.9).mean(), abs=1e-3
                )
    assert table_rows(dimensions, "bi/forward")
    assert "seed notation" in dimensions


@tf_only
def test_inspect_logdir(capfd, tmp_path, saved):
    path, data, _, x = saved
    status, out, _ = run(
        capfd,
        "inspect",
        path,
        "--data",
        data,
        "--layers",
        "gru",
        "--max-samples",
        5,
        "--logdir",
        tmp_path / "logs",
    )
    assert status == 0
    assert "on 5 sequences" in out
    assert f"keras-gates board {tmp_path / 'logs'}" in out
    written = summaries(tmp_path / "logs" / "train")
    assert set(written["gru/update/mean"]) == {0}
    assert "gru/dimensions" in written
    assert not any(tag.startswith("bi/") for tag in written)


def test_demo_quick(capfd, tmp_path):
    logdir = tmp_path / "logs"
    status, out, err = run(
        capfd,
        "demo",
        "--quick",
        "--epochs",
        1,
        "--max-chars",
        6000,
        "--logdir",
        logdir,
    )
    assert status == 0, err
    assert re.search(
        r"Corpus: 6,000 characters of Python standard library", out
    )
    for cell, gates in (("lstm", 6), ("gru", 4)):
        assert f"== {cell.upper()}(64) ==" in out
        assert len(table_rows(out, cell)) >= gates
        assert (logdir / "figures" / cell / "lstm_vs_gru.png").is_file()
    assert f"tensorboard --logdir {logdir}" in out
    assert out.count("Generated text:") == 2
    # The units that track the code: each annotation that marks anything
    # in the validation text, with three units and their scores.
    assert out.count("Units that track the code, over the") == 2
    rows = table_rows(out, "inside a string literal")
    assert len(rows) == 2  # one per model
    for row in rows:
        assert (
            len(re.findall(r"\[\d+\] (0\.\d{3}|1\.000) (high|low)", row[2]))
            == 3
        )


def test_demo_own_text(capfd, tmp_path):
    text = tmp_path / "book.txt"
    text.write_text("the cat sat on the mat. " * 200)
    status, out, err = run(
        capfd,
        "demo",
        "--quick",
        "--cell",
        "gru",
        "--epochs",
        1,
        "--text",
        text,
        "--logdir",
        tmp_path / "logs",
    )
    assert status == 0, err
    assert "characters of your text, 11 distinct" in out
    assert "== LSTM" not in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["describe"],
            "give a model file, or --cell and --input-dim and --units",
        ),
        (["describe", "--cell", "gru", "--units", "4"], "or --input-dim"),
        (["describe", "--units", "0"], "expected a positive integer, got '0'"),
        (["describe", "--cell", "tree"], "invalid choice: 'tree'"),
        (["figures", "--units", "2"], "or --input-dim"),
        (["demo", "--epochs", "x"], "positive integer"),
        (["inspect", "m.keras"], "--data"),
    ],
)
def test_bad_arguments(capfd, argv, message):
    line = failed(capfd, *argv, status=2)
    assert message in line


def test_model_and_sizes_conflict(capfd, saved):
    line = failed(capfd, "describe", saved[0], "--units", 3, status=2)
    assert "not both" in line


def test_file_errors(capfd, tmp_path, saved):
    path, data, _, _ = saved
    assert "no such model file" in failed(
        capfd, "describe", tmp_path / "missing.keras"
    )
    (tmp_path / "model.txt").write_text("x")
    assert "not a model file Keras loads (a .keras, .h5, .hdf5 file)" in (
        failed(capfd, "figures", tmp_path / "model.txt")
    )
    (tmp_path / "model.h5").write_text("x")
    assert "cannot load" in failed(capfd, "figures", tmp_path / "model.h5")
    (tmp_path / "broken.keras").write_text("not a zip")
    assert "cannot load" in failed(
        capfd, "inspect", tmp_path / "broken.keras", "--data", data
    )
    assert "no such data file" in failed(
        capfd, "inspect", path, "--data", tmp_path / "x.npy"
    )
    (tmp_path / "text.npy").write_text("hello")
    assert "cannot read" in failed(
        capfd, "inspect", path, "--data", tmp_path / "text.npy"
    )
    assert "cannot read --text" in failed(
        capfd, "demo", "--text", tmp_path / "missing.txt"
    )


def test_inspect_data_errors(capfd, tmp_path, saved):
    path, _, _, x = saved
    np.save(tmp_path / "wide.npy", x[..., :2])
    line = failed(capfd, "inspect", path, "--data", tmp_path / "wide.npy")
    assert f"shape (12, {STEPS}, 2)" in line
    assert f"expects (N, {STEPS}, {FEATURES}) with N >= 1" in line
    np.save(tmp_path / "words.npy", np.array([["a", "b"]]))
    assert "holds <U1 values, not numbers" in failed(
        capfd, "inspect", path, "--data", tmp_path / "words.npy"
    )
    np.save(tmp_path / "empty.npy", x[:0])
    assert "N >= 1" in failed(
        capfd, "inspect", path, "--data", tmp_path / "empty.npy"
    )
    line = failed(
        capfd,
        "inspect",
        path,
        "--data",
        tmp_path / "wide.npy",
        "--layers",
        "nope",
    )
    assert "shape" in line
    np.save(tmp_path / "x.npy", x)
    line = failed(
        capfd,
        "inspect",
        path,
        "--data",
        tmp_path / "x.npy",
        "--layers",
        "nope",
    )
    assert "no recurrent layer named ['nope']" in line


def test_inspect_npy_files_shorter_than_their_header(capfd, tmp_path, saved):
    path = saved[0]
    (tmp_path / "zero.npy").write_bytes(b"")
    assert "zero.npy as a .npy array (0 bytes, no .npy header)" in failed(
        capfd, "inspect", path, "--data", tmp_path / "zero.npy"
    )
    # A header claiming 373 GiB over a few bytes of data.
    huge = tmp_path / "huge.npy"
    with huge.open("wb") as file:
        header = {
            "descr": "<f4",
            "fortran_order": False,
            "shape": (10**8, 1000),
        }
        np.lib.format.write_array_header_1_0(file, header)
        file.write(b"\0" * 16)
    line = failed(capfd, "inspect", path, "--data", huge)
    assert "shape (100000000, 1000) (400,000,000,128 bytes)" in line
    assert "the file has" in line


def test_inspect_h5_model_and_no_table(capfd, tmp_path, saved):
    _, data, model, _ = saved
    model.save(tmp_path / "model.h5")
    status, out, err = run(
        capfd, "inspect", tmp_path / "model.h5", "--data", data, "--no-table"
    )
    assert status == 0, err
    assert len(table_rows(out, "gru")) == 4  # gate rows only
    assert "**total**" not in out
    status, out, _ = run(
        capfd, "inspect", tmp_path / "model.h5", "--data", data
    )
    assert "**total**" in out


def test_demo_too_little_text(capfd, tmp_path):
    text = tmp_path / "short.txt"
    text.write_text("abc")
    line = failed(capfd, "demo", "--text", text, "--seq-len", 8)
    assert "more than seq_len = 8 characters" in line


def console(*argv):
    script = pathlib.Path(sys.executable).with_name("keras-gates")
    return subprocess.run(
        [str(script), *map(str, argv)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_console_script():
    done = console("describe", "--cell", "gru", "--units", 4, "--input-dim", 3)
    assert done.returncode == 0, done.stderr
    assert "| gru | **total** |" in done.stdout
    assert done.stderr == ""  # TensorFlow's start-up log kept off


def test_console_script_error(tmp_path):
    done = console("inspect", tmp_path / "none.keras", "--data", "x.npy")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"keras-gates inspect: error: no such model file: "
        f"{tmp_path / 'none.keras'}"
    ]


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["demo", "--help"], ["demo", "--epochs", "0"]]
    + [["ablate", "--help"]],
)
def test_help_and_bad_arguments_import_no_keras(argv):
    code = (
        "import sys, keras_gates_cli\n"
        "try:\n"
        f"    keras_gates_cli.main({argv!r})\n"
        "except SystemExit as exit:\n"
        "    print(exit.code, sorted(m for m in sys.modules if m.split('.')[0]"
        " in ('keras', 'tensorflow', 'keras_gates', 'jax')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True
    )
    status = 2 if "--epochs" in argv else 0
    assert done.stdout.strip().splitlines()[-1] == f"{status} []"


def test_demo_help_shows_the_defaults(capfd):
    defaults = keras_gates_cli.DemoSettings()
    status, out, _ = run(capfd, "demo", "--help")
    assert status == 0
    text = " ".join(out.split())  # argparse wraps lines
    assert f"(default: {' '.join(defaults.cells)})" in text
    for what, value in (
        ("training epochs", defaults.epochs),
        ("units of the recurrent layer", defaults.units),
        ("characters per sequence", defaults.seq_len),
        ("characters of text to use", defaults.max_chars),
        ("TensorBoard log directory", defaults.logdir),
    ):
        assert f"{what} ({value})" in text, what


@pytest.mark.parametrize(
    "argv, quick, changes",
    [
        ([], False, {}),
        (["--quick"], True, {}),
        (
            ["--quick", "--units", "8", "--cell", "gru", "lstm", "gru"],
            True,
            {"units": 8, "cells": ("gru", "lstm")},
        ),
        (
            ["--epochs", "2", "--seq-len", "9", "--max-chars", "99"],
            False,
            {"epochs": 2, "seq_len": 9, "max_chars": 99},
        ),
    ],
)
def test_demo_arguments_make_the_settings(
    capfd, monkeypatch, argv, quick, changes
):
    """What `keras-gates demo` hands `keras_gates.demo.run`: the defaults
    (or `quick()`'s), changed only where an argument says so."""
    handed = []
    monkeypatch.setattr(demo, "run", lambda *args: handed.append(args))
    status, _, err = run(capfd, "demo", "--logdir", "elsewhere", *argv)
    assert status == 0, err
    defaults = keras_gates_cli.DemoSettings(logdir="elsewhere")
    expected = dataclasses.replace(
        defaults.quick() if quick else defaults, **changes
    )
    assert handed == [(expected, None)]


@pytest.mark.slow
def test_demo_defaults_learn(tmp_path):
    """The default demo (a few minutes) learns far more than frequencies."""
    settings = keras_gates_cli.DemoSettings(logdir=str(tmp_path))
    results = demo.run(settings, out=lambda line: None)
    corpus = CharCorpus(stdlib_source(settings.max_chars), settings.seq_len)
    for cell, result in results.items():
        assert result["val_loss"] < corpus.unigram_loss() - 1.0, (cell, result)


def test_model_without_recurrent_layers(capfd, tmp_path):
    model = keras.Sequential(
        [keras.Input((STEPS, FEATURES)), keras.layers.Dense(2)]
    )
    path = tmp_path / "dense.keras"
    model.save(path)
    np.save(tmp_path / "x.npy", np.zeros((2, STEPS, FEATURES), "float32"))
    for argv in (
        ("describe", path),
        ("figures", path, "--out", tmp_path / "figures"),
        ("inspect", path, "--data", tmp_path / "x.npy"),
    ):
        line = failed(capfd, *argv)
        assert line == (
            f"keras-gates {argv[0]}: error: found no LSTM, GRU or SimpleRNN "
            f"layer in Sequential '{model.name}' (keras-gates reads RNN "
            "layers whose cell is Keras's LSTMCell, GRUCell or SimpleRNNCell "
            "or a keras-gates cell; custom cell classes and StackedRNNCells "
            "are not read)."
        )


def _explain_rows(out):
    return [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in out.splitlines()
        if re.match(r"\| \d+ \|", line)
    ]


@tf_only
def test_explain_gate_unit(capfd, tmp_path, saved):
    import tensorflow as tf

    path, data, model, x = saved
    argv = ["explain", path, "--data", data, "--sample", 2, "--top", 3]
    target = ["--layer", "bi/backward", "--gate", "forget", "--unit", 1]
    status, out, err = run(capfd, *argv, *target, "--out", tmp_path)
    assert status == 0, err
    # Saliency of the unit's mean over the steps, by a gradient of the
    # TensorFlow recurrence of `reference.py` (the first layer reads x).
    backward = model.get_layer("bi").backward_layer
    seed = tf.constant(x[2:3], "float32")
    with tf.GradientTape() as tape:
        tape.watch(seed)
        mean = tf.reduce_mean(tf_gates(backward, seed)["forget"][..., 1])
    grads = tape.gradient(mean, seed).numpy()[0]
    expected = np.linalg.norm(grads, axis=-1)
    rows = _explain_rows(out)
    assert [int(r[1]) for r in rows] == list(np.argsort(-expected)[:3])
    assert [float(r[3]) for r in rows] == pytest.approx(
        np.sort(expected)[::-1][:3], rel=1e-3
    )
    # The unit's value at each printed step, in input order, by NumPy.
    _, gates = numpy_rnn(
        CellSpec("LSTM"), backward.get_weights(), x[2:3], go_backwards=True
    )
    trace = gates["forget"][0, ::-1, 1]
    for row in rows:
        assert float(row[4]) == pytest.approx(trace[int(row[1])], abs=1e-3)
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == [
        "explain_bi_backward_forget_unit_1.png",
        "explain_bi_backward_forget_unit_1.svg",
    ]


@tf_only
def test_explain_tokens_and_output(capfd, tmp_path):
    inputs = keras.Input((6,), dtype="int32")
    h = keras.layers.Embedding(4, 3, mask_zero=True)(inputs)
    h = keras.layers.LSTM(2, name="lstm")(h)
    model = keras.Model(inputs, keras.layers.Dense(2)(h))
    rng = np.random.default_rng(0)
    for weights in model.weights:
        weights.assign(rng.normal(size=weights.shape).astype("float32"))
    model.save(tmp_path / "m.keras")
    ids = np.array([[1, 2, 3, 1, 0, 0]])
    np.save(tmp_path / "ids.npy", ids)
    (tmp_path / "v.json").write_text('["<pad>", "a", " ", "\\n"]')
    status, out, err = run(
        capfd,
        "explain",
        tmp_path / "m.keras",
        "--data",
        tmp_path / "ids.npy",
        "--vocabulary",
        tmp_path / "v.json",
        "--output",
        1,
        "--out",
        tmp_path / "fig",
    )
    assert status == 0, err
    rows = _explain_rows(out)
    # Padding gets no attribution, so it is never listed.
    assert sorted(int(r[1]) for r in rows) == [0, 1, 2, 3]
    tokens = {int(r[1]): r[2] for r in rows}
    # Whitespace shows (a space as the dashboard shows it).
    assert tokens == {0: "a", 1: "\u2423", 2: "\\n", 3: "a"}
    assert (tmp_path / "fig" / "explain_output_1.png").is_file()
    # The values are those of output 1, by a gradient taken here through
    # the model's own layers, and output 0's would not pass.
    column = [_embedding_saliency(model, ids, k)[0] for k in (0, 1)]
    assert [float(r[3]) for r in rows] == pytest.approx(
        [column[1][int(r[1])] for r in rows], rel=1e-3
    )
    assert not np.allclose(column[0], column[1], rtol=1e-2)


def _embedding_saliency(model, ids, output):
    """||d output / d embedding_t|| of an Embedding -> LSTM -> Dense model,
    by tf.GradientTape through its layers, masked steps included."""
    import tensorflow as tf

    embedding, lstm, dense = model.layers[1:]
    seed = tf.constant(embedding(ids))
    with tf.GradientTape() as tape:
        tape.watch(seed)
        score = dense(lstm(seed, mask=ids != 0))[:, output]
    return np.linalg.norm(tape.gradient(score, seed).numpy(), axis=-1)


@tf_only
@pytest.mark.parametrize(
    "extra, message, status",
    [
        ([], "give --layer, --gate and --unit, or --output", 2),
        (["--layer", "gru", "--gate", "forget", "--unit", 0], "'update'", 1),
        (["--layer", "gru", "--gate", "update", "--unit", 9], "in [0, 5)", 1),
        (["--output", 0, "--sample", 12], "--sample 12 is not a seq", 1),
        (["--output", 0, "--method", "lime"], "invalid choice: 'lime'", 2),
    ],
)
def test_explain_errors(capfd, saved, extra, message, status):
    path, data, _, _ = saved
    line = failed(capfd, "explain", path, "--data", data, *extra, status=status)
    assert message in line
