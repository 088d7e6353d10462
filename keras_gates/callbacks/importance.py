"""GateMonitor's importance: what each gate unit is worth to the model.

At each logged epoch, on the probe batch, units are mean-ablated one at a
time: held at their mean over the probe's valid steps, at every step,
inside the recurrence (`keras_gates.ablation`). A unit's importance is the
change of the model's compiled loss when the probe has labels
(`probe_data=(x, y)`, validation data), else the mean absolute change of
the model's outputs. One compiled function serves every unit of every
gate: the unit and its value are variables assigned between runs.

Each unit costs one forward pass over the probe batch, so the units
measured per logged epoch are bounded (`GateMonitor(importance=N)`, 256 for
True). When the budget cuts, units are taken in a fixed order, the same at
every epoch (so that a unit's importance can be followed over epochs):
first the sigmoid gates (input, forget, output; update, reset: the gates
the saturation map shows), layer by layer in model order, then the other
gates (candidate, cell, hidden), each gate's units from 0 up. The units
left out are NaN (null in the dashboard).
"""

import numpy as np

from keras_gates.ablation import Ablation, UnitStatistics
from keras_gates.interventions import compile_like
from keras_gates.layers.kind import kind_of

MEASURES = ("loss", "output")


def measured_first(layers, budget):
    """The `(layer name, gate, unit)` whose importance is measured, in the
    order they are measured, at most `budget` of them."""
    pairs = [
        (gate not in kind_of(layer).sigmoid_gates, index, name, gate)
        for index, (name, layer) in enumerate(layers)
        for gate in kind_of(layer).gate_names
    ]
    pairs.sort(key=lambda pair: pair[:2])  # stable: gate order kept
    units = dict((name, layer.cell.units) for name, layer in layers)
    chosen = [
        (name, gate, unit)
        for _, _, name, gate in pairs
        for unit in range(units[name])
    ]
    return chosen[:budget]


class Importance:
    """The importance of gate units at each logged epoch of one fit.

    Args:
        model: the model being fitted.
        layers: the monitored `(name, layer)` pairs.
        budget: the most units measured per logged epoch.
    """

    def __init__(self, model, layers, budget):
        self.model, self.layers = model, list(layers)
        self.order = measured_first(self.layers, budget)
        targets = dict.fromkeys((name, gate) for name, gate, _ in self.order)
        self.ablation = Ablation(model, list(targets), loss="mae")
        self.statistics = UnitStatistics(model, [n for n, _ in self.layers])
        self._compiled_for = "output"

    def _prepare(self, measure):
        """The ablation model compiled for `measure`: the model's loss, or
        the mean absolute difference from the unchanged outputs."""
        if measure != self._compiled_for:
            edited = self.ablation.model
            if measure == "loss":
                compile_like(edited, self.model, metrics=False)
            else:
                edited.compile(loss="mae", jit_compile=self.model.jit_compile)
            self._compiled_for = measure
        return self.ablation.model

    def measure(self, x, y, records):
        """Set `importance` and `importance_measure` of each `LayerRecord`
        of `records` (in the order of `layers`), on inputs `x` and labels
        `y` (or None)."""
        compiled = getattr(self.model, "compiled", False)
        has_loss = compiled and self.model.loss is not None
        measure = "loss" if y is not None and has_loss else "output"
        edited = self._prepare(measure)
        means = self.statistics([x])
        found = {
            name: np.full(
                (len(kind_of(layer).gate_names), layer.cell.units), np.nan
            )
            for name, layer in self.layers
        }
        run = edited.test_on_batch
        with self.ablation.states_kept() as reset:
            self.ablation.choose()
            target = y
            if measure == "output":
                target = edited.predict_on_batch(x)
                reset()
                base = 0.0
            else:
                base = run(x, target, return_dict=True)["loss"]
                reset()
            for name, gate, unit in self.order:
                row = kind_of(dict(self.layers)[name]).gate_names.index(gate)
                value = np.nan_to_num(means[name]["mean"][row, unit])
                self.ablation.choose(name, gate, [unit], value)
                loss = run(x, target, return_dict=True)["loss"]
                reset()
                found[name][row, unit] = loss - base
            self.ablation.choose()
        for record in records:
            record.importance = found[record.name]
            record.importance_measure = measure
