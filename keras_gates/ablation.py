"""Ablation: what a model loses when gate units are set to a fixed value.

`ablate(model, x, y, layer, gate)` sets one unit (or a group of units) at
a time to its mean over the data, or to a number, at every step, and
reports how much the model's compiled loss changes. One compiled
evaluation serves every unit: the chosen units and their values live in
the variables of a `keras_gates.layers.edit.Switch`, assigned between runs
(`Ablation`), so the model is traced once, not once per unit. GateMonitor's
importance (`keras_gates.callbacks.importance`) runs the same way.
"""

import contextlib
import numbers

import keras
import numpy as np
from keras import ops

from keras_gates.gate_model import check_model
from keras_gates.interventions import edited_model
from keras_gates.layers.edit import Switch
from keras_gates.layers.kind import kind_of
from keras_gates.lookup import check_gate, check_units, find_recurrent
from keras_gates.probe import GateProbe, stateful_layers


class Ablation:
    """A compiled model in which units of some gates can be set, one choice
    per run, without a new trace.

    Args:
        model: a built Keras model.
        targets: `(layer name, gate)` pairs that may be set.
        loss: None: compiled as `model` is (its loss, no metrics); else
            the loss to compile with.
    """

    def __init__(self, model, targets, loss=None):
        layers = dict(find_recurrent(model, None, "Ablation"))
        self.switches = {}
        for name, gate in targets:
            label = f"{name}_{gate}".replace("/", "_")
            switch = Switch(layers[name].cell.units, label)
            self.switches.setdefault(name, {})[gate] = switch
        self.model = edited_model(
            model, self.switches, f"{model.name}_ablation", metrics=False
        )
        if loss is not None:
            self.model.compile(loss=loss, jit_compile=model.jit_compile)
        self._chosen = None

    def choose(self, layer=None, gate=None, units=(), values=0.0):
        """From now on, `units` of `gate` of `layer` are set to `values`
        (a number or one per unit); every other unit runs as in the model.
        No arguments: nothing is set."""
        if self._chosen is not None and self._chosen != (layer, gate):
            self.switches[self._chosen[0]][self._chosen[1]].choose()
        self._chosen = None
        if layer is not None:
            self.switches[layer][gate].choose(units, values)
            self._chosen = (layer, gate)

    @contextlib.contextmanager
    def states_kept(self):
        """Within the block, `reset()` (the value yielded) puts the states
        of stateful layers back where they were when it began; they are
        put back when it ends too."""
        kept = [
            (state, ops.copy(state))
            for layer in stateful_layers(self.model)
            for state in layer.states
        ]

        def reset():
            for state, value in kept:
                state.assign(value)

        try:
            yield reset
        finally:
            reset()


class UnitStatistics:
    """Every gate's per-unit mean and saturated fractions over the valid
    steps of input batches, streamed (one probe pass per batch); the probe
    is compiled once, for every call.

    Args:
        model: a built Keras model.
        layers: names of the recurrent layers; default all.
        left, right: the saturation thresholds.
    """

    def __init__(self, model, layers=None, left=0.1, right=0.9):
        self.left, self.right = left, right
        self.probe = GateProbe(model, layers, "unit statistics", self._reduce)

    def _reduce(self, name, layer, gates, valid):
        names = kind_of(layer).gate_names
        values = ops.cast(ops.stack([gates[g] for g in names]), "float32")
        values = ops.stop_gradient(values)
        weight = ops.cast(valid, "float32")[None, :, :, None]
        weight = ops.where(ops.isfinite(values), weight, 0.0)
        values = ops.where(weight > 0, values, 0.0)
        axes = (1, 2)
        below = ops.where(values < self.left, weight, 0.0)
        above = ops.where(values > self.right, weight, 0.0)
        return {
            "sum": ops.sum(values * weight, axis=axes),
            "count": ops.sum(weight, axis=axes),
            "left": ops.sum(below, axis=axes),
            "right": ops.sum(above, axis=axes),
        }

    def __call__(self, batches):
        """dict layer name -> {"mean", "left", "right"}, each a (gates,
        units) array in the layer kind's gate order (NaN where no step
        counted), over `batches` (an iterable of model inputs)."""
        totals = None
        for x in batches:
            found = self.probe.run(x)
            if totals is not None:
                found = keras.tree.map_structure(np.add, totals, found)
            totals = found
        if totals is None:
            raise ValueError("the data holds no sequences.")
        result = {}
        with np.errstate(invalid="ignore", divide="ignore"):
            for name, t in totals.items():
                count = np.where(t["count"] > 0, t["count"], np.nan)
                result[name] = {k: t[k] / count for k in ("left", "right")} | {
                    "mean": t["sum"] / count
                }
        return result


def unit_statistics(model, batches, layers=None, left=0.1, right=0.9):
    """`UnitStatistics(model, layers, left, right)(batches)`."""
    return UnitStatistics(model, layers, left, right)(batches)


def input_batches(x, batch_size=None):
    """The model inputs of `x` (arrays or a `tf.data.Dataset` of inputs or
    `(x, y[, sample_weight])`), batch by batch."""
    if hasattr(x, "as_numpy_iterator"):
        for batch in x.as_numpy_iterator():
            yield batch[0] if isinstance(batch, tuple) else batch
        return
    size = batch_size or 256
    first = keras.tree.flatten(x)[0]
    for start in range(0, len(first), size):
        yield keras.tree.map_structure(
            lambda a, s=start: np.asarray(a)[s : s + size], x
        )


def _groups(units, count, owner):
    """`units` as a list of unit lists (all units, one by one, for None)."""
    if units is None:
        return [[u] for u in range(count)]
    listed = [units] if isinstance(units, numbers.Integral) else list(units)
    nested = [isinstance(u, (list, tuple, np.ndarray)) for u in listed]
    if listed and all(nested):
        return [check_units(group, count, owner) for group in listed]
    if any(nested):
        raise ValueError(
            f"{owner}: `units` must be unit indices or lists of them (groups "
            f"ablated together), not a mix; got {units!r}."
        )
    return [[u] for u in check_units(listed, count, owner)]


def _values(value, mean, count, owner):
    """The value each unit is set to: its mean, a number, or one each."""
    if isinstance(value, str):
        if value != "mean":
            raise ValueError(
                f"{owner}: `value` must be 'mean', a number or one number "
                f"per unit, got {value!r}."
            )
        return mean()
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return np.full(count, float(value))
    values = np.asarray(value, "float64")
    if values.shape != (count,):
        raise ValueError(
            f"{owner}: `value` must be 'mean', a number or {count} numbers "
            f"(one per unit), got shape {values.shape}."
        )
    return values


def ablate(
    model: keras.Model,
    x,
    y,
    layer: str,
    gate: str,
    units: list | None = None,
    value: str | float = "mean",
    batch_size: int | None = None,
    verbose: str | int = "auto",
) -> list[dict]:
    """How much the model's loss changes when each gate unit is ablated.

    Each unit (or group of units) in turn is set, at every step and inside
    the recurrence (see `keras_gates.intervene`), to its mean over the
    data or to a number, and the model's compiled loss is evaluated on
    `(x, y)`. One compiled evaluation serves every unit (the model is
    traced once, not once per unit).

    Args:
        model: a compiled Keras model with stock or keras-gates LSTM, GRU
            or SimpleRNN layers.
        x, y: the data, as `model.evaluate` takes it: arrays, or a
            `tf.data.Dataset` of `(x, y)` batches with `y=None`.
        layer: the recurrent layer's name as `keras_gates.gates` gives it.
        gate: the gate's name (e.g. "forget").
        units: unit indices (each ablated alone), lists of them (each list
            ablated together), or None (every unit, one at a time).
        value: "mean" (each unit's mean over the valid steps of `x`), a
            number (e.g. 0 or 1 for a sigmoid gate), or one number per unit.
        batch_size: the evaluation's batch size (arrays only).
        verbose: "auto" (a progress bar past 10 units), 0 or 1.

    Returns:
        A list of dicts `{"unit", "loss", "delta"}`, largest `delta` (loss
        minus the loss of the unchanged model) first; `unit` is an int, or
        the list of a group.

    Example:

    >>> import keras, numpy as np, keras_gates
    >>> model = keras.Sequential([keras.Input((5, 3)),
    ...     keras.layers.LSTM(4, name="lstm"), keras.layers.Dense(1)])
    >>> model.compile(loss="mse")
    >>> x, y = np.ones((8, 5, 3), "float32"), np.ones((8, 1), "float32")
    >>> rows = keras_gates.ablate(model, x, y, "lstm", "forget")
    >>> sorted(row["unit"] for row in rows)
    [0, 1, 2, 3]
    """
    owner = "ablate"
    check_model(model, owner)
    if not model.compiled or model.loss is None:
        raise ValueError(
            f"{owner}: model '{model.name}' is not compiled with a loss; "
            "ablate measures the change of its loss: compile it first."
        )
    if not isinstance(layer, str) or not isinstance(gate, str):
        raise TypeError(
            f"{owner}: give `layer` and `gate` by name (str), got "
            f"{layer!r} and {gate!r}."
        )
    ((_, found),) = find_recurrent(model, [layer], owner)
    check_gate(found, gate, owner, layer)
    count = found.cell.units
    groups = _groups(units, count, f"{owner}: layer '{layer}'")
    dataset = hasattr(x, "as_numpy_iterator")
    if dataset and (y is not None or batch_size is not None):
        raise ValueError(
            f"{owner}: with a tf.data.Dataset, give the labels in it and "
            "leave `y` and `batch_size` None."
        )

    def mean():
        stats = unit_statistics(model, input_batches(x, batch_size), [layer])
        row = kind_of(found).gate_names.index(gate)
        return np.nan_to_num(stats[layer]["mean"][row])

    values = _values(value, mean, count, owner)
    ablation = Ablation(model, [(layer, gate)])
    shown = len(groups) > 10 if verbose == "auto" else bool(verbose)
    bar = keras.utils.Progbar(len(groups), unit_name="unit") if shown else None
    sized = {} if dataset else {"batch_size": batch_size}

    def loss():
        logs = ablation.model.evaluate(
            x, y, verbose=0, return_dict=True, **sized
        )
        reset()
        return float(logs["loss"])

    nested = _nested(units)
    rows = []
    with ablation.states_kept() as reset:
        base = loss()
        for done, group in enumerate(groups, 1):
            ablation.choose(layer, gate, group, values[group])
            lost = loss()
            unit = group if nested else group[0]
            rows.append({"unit": unit, "loss": lost, "delta": lost - base})
            if bar is not None:
                bar.update(done)
        ablation.choose()
    # Largest delta first; a NaN (a loss that is not finite) last.
    rows.sort(key=lambda row: (np.isnan(row["delta"]), -row["delta"]))
    return rows


def _nested(units):
    """Whether `units` lists groups (lists of units)."""
    return (
        units is not None
        and not isinstance(units, numbers.Integral)
        and (any(isinstance(u, (list, tuple, np.ndarray)) for u in units))
    )
