"""GateMonitor's matches: how well each unit tells the steps each of its
`annotations` marks from the others, on the probe, per logged epoch.

The probe batch runs through the model once more, with the counting of
`keras_gates.matching` inside the compiled forward pass (the same code as
`keras_gates.match_units`); each layer's `LayerRecord.matches` gets the ROC
AUC of every unit of every gate, NaN where an annotation marks no valid
step of the probe, or every one.
"""

import keras
import numpy as np

from keras_gates import matching
from keras_gates.callbacks.sources import batch_size
from keras_gates.discovery import as_marks
from keras_gates.layers.kind import kind_of


class ProbeMatches:
    """The matches of one GateMonitor for one fit.

    Args:
        model: the model being fitted.
        layers: the monitored `(name, layer)` pairs.
        annotations: `Settings.annotations`: name -> a bool array
            (sequences, time) aligned with `probe` or a function of the
            probe inputs.
        probe: the fixed probe inputs (`probe_data`), or None when the
            probe is the validation data or a training batch.
    """

    def __init__(self, model, layers, annotations, probe):
        self.annotations = annotations
        arrays = [n for n, a in annotations.items() if not callable(a)]
        if arrays and probe is None:
            raise ValueError(
                f"GateMonitor: annotations {arrays} are arrays, aligned with "
                "probe_data, but no probe_data was given; pass probe_data, "
                "or give functions of the probe inputs."
            )
        if arrays:  # checked now, before any training
            steps = np.shape(keras.tree.flatten(probe)[0])[1:2]
            if self.marks(probe).shape[2:] != steps:
                raise ValueError(
                    f"GateMonitor: annotations {arrays} mark "
                    f"{self.marks(probe).shape[2]} steps, but probe_data has "
                    f"{steps[0] if steps else 'no'} steps."
                )
        chosen = [
            (name, layer, kind_of(layer).gate_names) for name, layer in layers
        ]
        self.counter = matching.UnitCounter(model, chosen, "GateMonitor")

    def marks(self, x):
        """Bool (annotations, sequences, time) of probe inputs `x`."""
        count = batch_size(x)
        found = []
        for name, source in self.annotations.items():
            what = f"`annotations[{name!r}]`"
            if callable(source):
                marks = as_marks(source(x), what, "GateMonitor")
            else:
                marks = source[:count]
            if len(marks) != count:
                raise ValueError(
                    f"GateMonitor: {what} has {len(marks)} rows for "
                    f"{count} probe sequences."
                )
            found.append(marks)
        shapes = {m.shape for m in found}
        if len(shapes) > 1:
            raise ValueError(
                f"GateMonitor: the annotations have different shapes: "
                f"{sorted(shapes)}."
            )
        return np.stack(found)

    def fill(self, x, records):
        """Set `matches` of each `LayerRecord` of `records` on probe inputs
        `x`."""
        self.counter.reset()
        self.counter.add(x, self.marks(x))
        counts = self.counter.counts()
        for record in records:
            both = counts[record.name]  # (annotations, 2, gates, units, bins)
            auc, _ = matching.roc_auc(both[:, 0], both[:, 1])
            record.matches = dict(zip(self.annotations, auc))
