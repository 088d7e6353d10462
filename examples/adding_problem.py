"""Train a small LSTM and a GRU with keras-gates and print what their gates do.

The task is the adding problem (Hochreiter & Schmidhuber 1997): each
sequence holds random numbers and two markers; the target is the sum of the
two marked numbers. Solving it means remembering a value across many steps,
which is what forget (LSTM) and update (GRU) gates are for.

    python examples/adding_problem.py            # about a minute on 2 cores
    python examples/adding_problem.py --quick    # a few seconds (used in tests)

`adding_problem(n, steps)` makes the data; `monitor_gates.py` and
`inspect_stock_lstm.py` import it from here.
"""

import argparse
import os

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

import keras_gates  # noqa: E402

LEFT, RIGHT = 0.1, 0.9  # saturation thresholds (Karpathy et al. 2015)


def adding_problem(n, steps, seed=0):
    """`n` sequences of the adding problem, `steps` long.

    Each sequence holds `steps` random values in [0, 1) and two markers;
    the target is the sum of the two marked values, so solving it means
    keeping a value in memory across many steps.

    Returns:
        `(x, y)`: inputs (n, steps, 2), a value and a 0/1 marker per step,
        and targets (n, 1), both float32.
    """
    rng = np.random.default_rng(seed)
    values = rng.uniform(0, 1, (n, steps))
    markers = np.zeros((n, steps))
    for row in range(n):
        first, second = rng.choice(steps, size=2, replace=False)
        markers[row, [first, second]] = 1.0
    x = np.stack([values, markers], axis=-1).astype("float32")
    y = (values * markers).sum(axis=1, keepdims=True).astype("float32")
    return x, y


def build(layer_class, steps, units):
    """A regression model, and a model giving the gates of its RNN layer."""
    inputs = keras.Input((steps, 2))
    rnn = layer_class(units, return_gates=True)
    last, gates = rnn(inputs)
    model = keras.Model(inputs, keras.layers.Dense(1)(last))
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    return model, keras.Model(inputs, gates), rnn.cell.sigmoid_gates


def print_gates(gates, sigmoid_gates):
    """Mean of each gate and, for sigmoid gates, how often it saturates."""
    print(f"{'gate':<10} {'mean':>6} {'<0.1':>6} {'>0.9':>6}")
    for name, values in gates.items():
        line = f"{name:<10} {values.mean():6.3f}"
        if name in sigmoid_gates:
            line += f" {(values < LEFT).mean():6.1%}"
            line += f" {(values > RIGHT).mean():6.1%}"
        print(line)


def main(argv=None):
    """Train both models; returns `{"baseline": MSE of guessing the mean,
    "LSTM": {"val_loss": per epoch, "model": model}, "GRU": ...}`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--units", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--samples", type=int, default=4096)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.units, args.epochs, args.samples = 10, 4, 3, 256
    keras.utils.set_random_seed(0)
    x, y = adding_problem(args.samples, args.steps)
    x_val, y_val = adding_problem(256, args.steps, seed=1)
    baseline = float(((y_val - y.mean()) ** 2).mean())
    print(
        f"adding problem: {args.steps} steps; always guessing the mean "
        f"gives MSE {baseline:.4f}"
    )
    results = {"baseline": baseline}
    for layer_class in (keras_gates.LSTM, keras_gates.GRU):
        model, gate_model, sigmoid_gates = build(
            layer_class, args.steps, args.units
        )
        history = model.fit(
            x,
            y,
            batch_size=64,
            epochs=args.epochs,
            validation_data=(x_val, y_val),
            verbose=2,
        )
        loss = history.history["val_loss"][-1]
        print(
            f"\n{layer_class.__name__}({args.units}): validation MSE "
            f"{loss:.4f} ({loss / baseline:.0%} of the baseline)"
        )
        print_gates(gate_model.predict(x_val, verbose=0), sigmoid_gates)
        results[layer_class.__name__] = {
            "val_loss": history.history["val_loss"],
            "model": model,
        }
    return results


if __name__ == "__main__":
    main()
