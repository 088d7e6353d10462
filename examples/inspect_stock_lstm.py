"""Read the gates of a stock Keras LSTM model, saved as usual, untouched.

You trained a model with `keras.layers.LSTM` and saved it as a `.keras`
file; nothing in it knows about keras-gates. This script loads it with
`keras.saving.load_model` (no `custom_objects`), then

1. `keras_gates.gates(model, x)` runs it on `x` and returns every gate of
   every recurrent layer, step by step: the script prints, per gate, its
   mean and how often it is shut (< 0.1) or open (> 0.9);
2. `keras_gates.describe(model)` gives the sizes of the layers inside each
   cell;
3. `keras_gates.transparent(model)` copies the model with keras-gates
   layers in place of the stock ones: same weights, same predictions (the
   script prints the largest difference). Its keras-gates layer, rebuilt
   from its config with `return_gates=True` and called on the same input,
   gives a model whose outputs are the prediction and the gates
   (`with_gate_outputs`); they equal what `gates()` returned.

Without `--model`, it first trains a small stock model on the adding
problem (the sum of the two marked numbers of a sequence), and saves it and
the validation inputs it will inspect to the current directory.

    python examples/inspect_stock_lstm.py            # about 8 s on 2 cores
    python examples/inspect_stock_lstm.py --model stock_lstm.keras \\
        --data stock_lstm_inputs.npy                 # any saved model
    python examples/inspect_stock_lstm.py --quick    # a few seconds (tests)

One run with the defaults (LSTM(16), 30 steps, 12 epochs: validation MSE
0.0011, where guessing the mean gives about 0.17) printed, for the 256
validation sequences: input gate mean 0.41 with 10.3% of its values below
0.1, forget gate mean 0.76 with 10.1% above 0.9. Both come from the same
two of the 16 units, the model's memory: at unmarked steps their input
gate is shut (mean 0.04 and 0.07), and their forget gate is open (mean
0.92 and 0.93 over all steps), so what they took in at a marker stays.
`gates["lstm"]["forget"].mean(axis=(0, 1))`, one value per unit, shows
them. Both differences printed at the end were 0.
"""

import argparse
import os

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

# The data: examples/adding_problem.py, beside this script.
from adding_problem import adding_problem  # noqa: E402

import keras_gates  # noqa: E402

LEFT, RIGHT = 0.1, 0.9  # a sigmoid gate below LEFT is shut, above RIGHT open
SIGMOID = {
    *keras_gates.LSTMCell.sigmoid_gates,
    *keras_gates.GRUCell.sigmoid_gates,
}
GATED = (keras_gates.LSTM, keras_gates.GRU, keras_gates.SimpleRNN)


def train_stock_model(path, steps, units, epochs, samples):
    """What the user already has: a plain Keras LSTM model in a file.

    Returns the validation inputs, to inspect the model on.
    """
    x, y = adding_problem(samples, steps)
    x_val, y_val = adding_problem(256, steps, seed=1)
    model = keras.Sequential(
        [
            keras.Input((steps, 2)),
            keras.layers.LSTM(units, name="lstm"),
            keras.layers.Dense(1, name="sum"),
        ],
        name="adder",
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    model.fit(
        x,
        y,
        batch_size=64,
        epochs=epochs,
        validation_data=(x_val, y_val),
        verbose=2,
    )
    model.save(path)
    return x_val


def print_gates(gates):
    """One line per gate: mean and, for sigmoid gates, share shut and open."""
    print(f"{'layer':<16} {'gate':<10} {'mean':>6} {'<0.1':>6} {'>0.9':>6}")
    for layer, values in gates.items():
        for gate, v in values.items():
            line = f"{layer:<16} {gate:<10} {v.mean():6.3f}"
            if gate in SIGMOID:
                line += f" {(v < LEFT).mean():6.1%} {(v > RIGHT).mean():6.1%}"
            print(line)


def with_gate_outputs(model, layer):
    """A model returning `model`'s prediction and the gates of `layer`.

    `layer`, a keras-gates layer of `model`, is rebuilt from its own config
    with `return_gates=True`, called on the same input and given the same
    weights.
    """
    config = {
        **layer.get_config(),
        "return_gates": True,
        "name": f"{layer.name}_gates",
    }
    gated = type(layer).from_config(config)
    # `layer.input` lists the layer's mask too, if it has one; the sequences
    # come first and bring their mask along.
    *_, gates = gated(keras.tree.flatten(layer.input)[0])
    gated.set_weights(layer.get_weights())
    return keras.Model(model.inputs, [*model.outputs, gates])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", help="a .keras file to inspect (default: train one)"
    )
    parser.add_argument(
        "--data", help="a .npy file of inputs for --model (required with it)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes, a few seconds"
    )
    args = parser.parse_args(argv)
    if args.model is None:
        if args.data is not None:
            parser.error("--data goes with --model")
        keras.utils.set_random_seed(0)
        sizes = (10, 4, 1, 512) if args.quick else (30, 16, 12, 4096)
        args.model, args.data = "stock_lstm.keras", "stock_lstm_inputs.npy"
        np.save(args.data, train_stock_model(args.model, *sizes))
        print(f"\nsaved {args.model} and {args.data}")
    elif args.data is None:
        parser.error("--model needs --data, a .npy file of model inputs")

    # From here on, only the file counts: this is how any saved model works.
    model = keras.saving.load_model(args.model)
    x = np.load(args.data)
    gates = keras_gates.gates(model, x)
    print(f"\ngates of {args.model} on {args.data} {x.shape}:\n")
    print_gates(gates)
    print("\n" + keras_gates.describe(model).to_markdown())

    clear = keras_gates.transparent(model)
    difference = float(
        np.max(
            np.abs(clear.predict(x, verbose=0) - model.predict(x, verbose=0))
        )
    )
    print(f"transparent(model): largest prediction difference {difference:.2e}")
    result = {"gates": gates, "max_difference": difference}
    # Bidirectional cannot wrap a layer that returns its gates: only
    # layers at the top level of the model are rebuilt.
    found = [layer for layer in clear.layers if isinstance(layer, GATED)]
    if not found:
        print(
            "no recurrent layer at the top level of the model to rebuild "
            "with return_gates=True (Bidirectional cannot wrap one)"
        )
        return result
    layer = found[0]
    gate_model = with_gate_outputs(clear, layer)
    *_, result["gate_outputs"] = gate_model.predict(x, verbose=0)
    gap = max(
        float(np.max(np.abs(values - gates[layer.name][gate])))
        for gate, values in result["gate_outputs"].items()
    )
    print(
        f"a model returning the prediction and the gates of {layer.name!r}: "
        f"largest difference to gates() {gap:.2e}"
    )
    return result


if __name__ == "__main__":
    main()
