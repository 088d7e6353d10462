"""Train a bidirectional LSTM and a GRU and watch their gates in TensorBoard.

The task is the adding problem: each sequence holds random numbers and two
markers, and the target is the sum of the two marked numbers. The model is a
stock `keras.layers.LSTM` inside `keras.layers.Bidirectional`, which reads
the sequence both ways, then a `keras_gates.GRU`, whose last output is all
the prediction sees, so it has to carry what it needs to the end of the
sequence. `keras.callbacks.TensorBoard` and `keras_gates.GateMonitor` write
to the same log directory; GateMonitor needs no change to the model and
reads the stock LSTM's gates as well.

    python examples/monitor_gates.py            # about 30 s on 2 cores
    python examples/monitor_gates.py --quick    # a few seconds (used in tests)
    tensorboard --logdir logs/monitor

What to look at in TensorBoard. GateMonitor logs every epoch, on the same
64 validation sequences (passed as `probe_data`, so they appear in the
`train` run), for each layer `bilstm/forward`, `bilstm/backward` and `gru`:

- Custom Scalars: one group per layer with charts of left saturation
  (share of values < 0.1), right saturation (> 0.9), mean and number of
  NaN/Inf values, one line per gate. When the
  loss falls (epochs 8 to 10 with the defaults), the right saturation of
  the GRU's `update` gate jumps: some units learn to stay open, so that
  they carry their state unchanged from step to step, which is how a GRU
  remembers.
- Time Series (or Scalars): the same values one chart per tag, next to
  `units_always_closed` / `units_always_open` (share of units saturated at
  99% of the steps or more) and `epoch_loss` from the TensorBoard callback.
- Images: `<layer>/<gate>/heatmap`, units (rows) against time (columns) for
  the first probe sequence, and `<layer>/saturation_scatter`, one dot per
  unit; move the step slider to see them change from epoch to epoch.
- Histograms: `<layer>/<gate>/histogram`, how each gate's values spread.
- Text: `<layer>/dimensions`, the sizes of the layers inside each cell, and
  `gate_monitor/probe`, which says what the gates are computed on.
"""

import argparse
import os
import shlex

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

# The data: examples/adding_problem.py, beside this script.
from adding_problem import adding_problem  # noqa: E402

import keras_gates  # noqa: E402


def build(steps, units):
    """Bidirectional stock LSTM -> keras-gates GRU -> Dense regression."""
    inputs = keras.Input((steps, 2))
    h = keras.layers.Bidirectional(
        keras.layers.LSTM(units, return_sequences=True), name="bilstm"
    )(inputs)
    h = keras_gates.GRU(units, name="gru")(h)
    outputs = keras.layers.Dense(1, name="sum")(h)
    model = keras.Model(inputs, outputs, name="adder")
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    return model


def main(argv=None):
    """Train and log; returns `{"history": the fit's history, "model"}`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--logdir",
        default=os.path.join("logs", "monitor"),
        help="log directory of both callbacks (default: logs/monitor)",
    )
    parser.add_argument(
        "--epochs", type=int, help="default: 20, or 2 with --quick"
    )
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--units", type=int, default=16)
    parser.add_argument("--samples", type=int, default=2048)
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes, a few seconds"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.units, args.samples = 12, 4, 128
    if args.epochs is None:
        args.epochs = 2 if args.quick else 20
    keras.utils.set_random_seed(0)
    x, y = adding_problem(args.samples, args.steps)
    x_val, y_val = adding_problem(256, args.steps, seed=1)
    baseline = float(((y_val - y.mean()) ** 2).mean())
    print(
        f"adding problem: {args.steps} steps; always guessing the mean "
        f"gives validation MSE {baseline:.4f}"
    )

    model = build(args.steps, args.units)
    callbacks = [
        keras.callbacks.TensorBoard(args.logdir),
        # The same 64 held-out sequences every epoch, so that the charts
        # show the network changing, not the probe.
        keras_gates.GateMonitor(args.logdir, probe_data=x_val[:64]),
    ]
    history = model.fit(
        x,
        y,
        batch_size=64,
        epochs=args.epochs,
        validation_data=(x_val, y_val),
        callbacks=callbacks,
        verbose=2,
    )
    loss = history.history["val_loss"][-1]
    print(f"\nvalidation MSE {loss:.4f}, {loss / baseline:.1%} of the baseline")
    print("See the gates with:\n")
    print(f"    tensorboard --logdir {shlex.quote(args.logdir)}\n")
    return {"history": history.history, "model": model}


if __name__ == "__main__":
    main()
