"""How well each unit tells annotated steps from the others: counted on the
device, read as ROC AUC.

An annotation marks some steps of each sequence (inside a string, past
column 60, ...). A unit *matches* it when its values at the marked steps
are higher (or lower) than at the others. The measure is the ROC AUC of
the unit's values for marked against unmarked steps: the chance that a
marked step's value exceeds an unmarked one's (ties count half), 1 for a
perfect separation, 0.5 for none, 0 for a perfect one the other way. It is
threshold-free, robust to how rare the marked steps are, and depends on
the values only through their order (Strobelt et al. 2017 line units up
with annotations; Karpathy, Johnson & Fei-Fei 2015 found such cells by
eye).

Since only the order counts, each value goes to one of `BINS` bins of its
gate by a monotone key, and the AUC is read from the per-unit counts of
marked and unmarked values per bin: pairs in different bins are ordered
exactly, pairs in one bin count half. So the AUC read is at most
`0.5 * sum_b marked_b * unmarked_b / (marked * unmarked)` from the exact
one (`roc_auc` gives that bound with each AUC). The key spaces the bins
by octaves, not evenly: for a gate with a range [low, high] (sigmoid gates
[0, 1], tanh values [-1, 1]), 32 bins per octave of the distance to the
nearer end, from 2^-24 of the range to its middle, so that 0.5, 0.99 and
0.9999 all fall in distinct bins (about 0.008 wide at the middle, 2e-5
at 0.999); for the unbounded LSTM cell state, 32 bins per octave of |c|
from 2^-8 to 2^15, on each side of zero. The key is integer arithmetic
on the float's bits (its exponent and top 5 mantissa bits), no
logarithm, so counting costs a few passes over the gates.

`UnitCounter` runs a model over batches with its recurrent layers listened
to (`keras_gates.listen`) and counts inside one compiled function per
batch; the counts stay on the device until read. Gates come in the order a
layer processed the steps: annotations, given in input order, are flipped
for layers that run backwards.
"""

import keras
import numpy as np
from keras import ops

from keras_gates.layers.kind import kind_of
from keras_gates.listen import Ear, run_listening
from keras_gates.lookup import check_gate, find_recurrent
from keras_gates.probe import states_kept

MANTISSA_BITS = 5  # bins per octave: 2**5
OCTAVES = 23
HALF = OCTAVES << MANTISSA_BITS
BINS = 2 * HALF
_SHIFT = 23 - MANTISSA_BITS
# The first counted octave: 2**-24 of the range (bounded gates) and 2**-8
# (unbounded values), as float32 exponent fields.
_BOUNDED_FLOOR = (127 - 24) << MANTISSA_BITS
_UNBOUNDED_FLOOR = (127 - 8) << MANTISSA_BITS


def choose(model, layer=None, gate=None, owner="match_units"):
    """The `(name, layer, gate names)` to count: every gate of every
    recurrent layer, or of those named (`layer`: a name or a list);
    `gate` keeps one gate, in the layers that have it."""
    found = find_recurrent(model, layer, owner)
    if gate is None:
        return [(n, lay, kind_of(lay).gate_names) for n, lay in found]
    if not isinstance(gate, str):
        raise TypeError(f"{owner}: `gate` must be a gate name, got {gate!r}.")
    having = [(n, lay) for n, lay in found if gate in kind_of(lay).gate_names]
    if layer is not None or not having:
        for name, lay in found:
            check_gate(lay, gate, owner, name)
    return [(name, lay, (gate,)) for name, lay in having]


def _bits(values):
    """The int32 bit patterns of float32 `values`."""
    if keras.backend.backend() == "jax":
        import jax

        return jax.lax.bitcast_convert_type(values, np.int32)
    import tensorflow as tf

    return tf.bitcast(values, tf.int32)


def _octave_bin(magnitude, floor):
    """Per value >= 0: its bin among `HALF`, 32 per octave from 2**(floor
    exponent); smaller values share bin 0, larger ones bin HALF - 1."""
    code = ops.right_shift(_bits(magnitude), _SHIFT)
    return ops.clip(code, floor, floor + HALF - 1) - floor


def bin_index(values, bounds):
    """The bin in [0, BINS) of each float32 value of one gate, increasing
    with the value (see the module's docstring).

    Args:
        values: float32 tensor, finite.
        bounds: the gate's `(low, high)` or None (unbounded).
    """
    if bounds is None:
        away = _octave_bin(ops.abs(values), _UNBOUNDED_FLOOR)
        return ops.where(values >= 0, HALF + away, HALF - 1 - away)
    low, high = (float(b) for b in bounds)
    share = ops.clip((values - low) * (1.0 / (high - low)), 0.0, 1.0)
    lower = share < 0.5
    near = _octave_bin(ops.where(lower, share, 1.0 - share), _BOUNDED_FLOOR)
    return ops.where(lower, near, BINS - 1 - near)


def count(gates, valid, marks, bounds):
    """Per annotation, each unit's values at its unmarked and marked valid
    steps, by bin.

    Args:
        gates: list of (batch, time, units) tensors, one per gate (or
            (time, batch, units): `valid` and `marks` follow).
        valid: bool (batch, time), False at masked steps.
        marks: bool (annotations, batch, time), in the same step order.
        bounds: per gate, its `(low, high)` or None.

    Returns:
        int32 (annotations, 2, gates, units, BINS): `[:, 0]` unmarked,
        `[:, 1]` marked. Non-finite values are left out.
    """
    units = gates[0].shape[-1]
    size = units * BINS
    first = ops.convert_to_tensor(np.arange(units, dtype="int32") * BINS)
    marks = ops.cast(marks, "int32")
    counts = []
    # One small table per gate and annotation: twice as fast here as one
    # table for all gates (the table a gate's values scatter into, 1.5 MB
    # for 128 units, stays in the cache).
    for gate, bounds_of in zip(gates, bounds):
        values = ops.stop_gradient(ops.cast(gate, "float32"))
        keep = ops.logical_and(ops.isfinite(values), valid[:, :, None])
        index = bin_index(ops.where(keep, values, 0.0), bounds_of) + first
        tables = []
        for mark in range(marks.shape[0]):
            # Marked values count in the second half; left-out ones past it.
            at = index + marks[mark][:, :, None] * size
            at = ops.where(keep, at, 2 * size)
            counted = _bincount(ops.reshape(at, (-1,)), 2 * size + 1)
            tables.append(ops.reshape(counted[:-1], (2, units, BINS)))
        counts.append(ops.stack(tables))
    return ops.stack(counts, axis=2)


def _bincount(index, length):
    """How often each int in [0, length) occurs in `index` (int32)."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.raw_ops.DenseBincount(
            input=index, size=length, weights=tf.constant([], tf.int32)
        )
    ones = ops.ones_like(index)
    return ops.segment_sum(ones, index, num_segments=length)


def supports_xla(model, listened):
    """Whether every layer of `model` but the `listened` recurrent layers
    (whose calls the listeners replace) and their cells compiles with
    XLA."""
    skipped = {id(layer) for layer in listened}
    skipped |= {id(getattr(layer, "cell", None)) for layer in listened}
    return all(
        getattr(layer, "supports_jit", True)
        for layer in model._flatten_layers()
        if id(layer) not in skipped
    )


class UnitCounter:
    """Counts each unit's values at the steps annotations mark, and at the
    others, over any number of batches; the counts stay on the device.

    On TensorFlow the model's forward pass and the counting are one
    compiled function, with `xla` when the model's other layers allow it
    (2-3 times faster here than without, once compiled: worth it on long
    runs); on JAX the forward pass runs as `keras_gates.gates` runs it and
    the counting is one `jax.jit` function.

    Args:
        model: a built Keras model.
        chosen: `choose(...)`'s `(name, layer, gate names)`.
        owner: who counts, named in errors.
        xla: compile with XLA on TensorFlow, where the model allows it.
    """

    def __init__(self, model, chosen, owner, xla=False):
        self.model, self.chosen, self.owner = model, chosen, owner
        self._ears = [Ear.of(name, layer) for name, layer, _ in chosen]
        self._gates = {name: names for name, _, names in chosen}
        self._counters = {}
        tensorflow = keras.backend.backend() == "tensorflow"
        for name, layer, names in chosen:
            kind = kind_of(layer)
            bounds = [kind.gate(g).bounds for g in names]

            def counter(gates, valid, marks, bounds=bounds):
                return count(gates, valid, marks, bounds)

            if not tensorflow:
                import jax

                counter = jax.jit(counter)
            self._counters[name] = counter
        self._totals = None
        self._forward = self._count
        if tensorflow:
            import tensorflow as tf

            xla = xla and supports_xla(model, [lay for _, lay, _ in chosen])

            def forward(x, marks, rows):  # one function per counter
                return self._count(x, marks, rows)

            self._forward = tf.function(
                forward,
                reduce_retracing=True,
                autograph=False,
                jit_compile=xla,
            )

    def _count(self, x, marks, rows):
        def reduce(name, layer, gates, valid):
            steps = gates[self._gates[name][0]].shape[1]
            if None not in (steps, marks.shape[2]) and steps != marks.shape[2]:
                raise ValueError(
                    f"{self.owner}: layer '{name}' runs {steps} steps, but "
                    f"the annotation marks {marks.shape[2]}: annotate the "
                    "steps of the recurrent layers."
                )
            mine = ops.flip(marks, axis=2) if layer.go_backwards else marks
            valid = ops.logical_and(valid, rows[:, None])
            # The loop makes the gates time-major and hands them over
            # transposed; counted time-major, XLA drops both transposes
            # (three times faster here).
            values = [
                ops.transpose(gates[g], (1, 0, 2)) for g in self._gates[name]
            ]
            return self._counters[name](
                values, ops.transpose(valid), ops.transpose(mine, (0, 2, 1))
            )

        _, records = run_listening(
            self.model, self._ears, x, reduce=reduce, gradient=False
        )
        return records

    def add(self, x, marks, count=None):
        """Count one batch: model inputs `x`, bool `marks` (annotations,
        batch, time) in input order; only the first `count` sequences
        (default all: the others pad a batch to a size already compiled)."""
        marks = np.asarray(marks, bool)
        rows = np.arange(marks.shape[1]) < (
            marks.shape[1] if count is None else count
        )
        with states_kept(self.model):
            counts = self._forward(
                x, ops.convert_to_tensor(marks), ops.convert_to_tensor(rows)
            )
        if self._totals is None:
            self._totals = counts
        else:
            self._totals = {
                name: ops.add(self._totals[name], counts[name])
                for name in counts
            }

    def reset(self):
        """Forget the batches counted so far."""
        self._totals = None

    def counts(self):
        """{layer name: int64 (annotations, 2, gates, units, BINS)}, or
        None before the first batch."""
        if self._totals is None:
            return None
        return {
            name: np.asarray(ops.convert_to_numpy(total), np.int64)
            for name, total in self._totals.items()
        }


def roc_auc(other, marked):
    """ROC AUC of marked against unmarked values, from their counts by bin
    (`(..., BINS)` each): returns `(auc, bound)`, float64 `(...)`, NaN
    where either has no values. `bound` is the most the AUC read may
    differ from the exact one (pairs in one bin count half)."""
    other = np.asarray(other, np.float64)
    marked = np.asarray(marked, np.float64)
    below = np.cumsum(other, axis=-1) - other
    pairs = other.sum(-1) * marked.sum(-1)
    tied = (marked * other).sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = ((marked * below).sum(-1) + 0.5 * tied) / pairs
        bound = 0.5 * tied / pairs
    return auc, bound


def fold(auc):
    """`(score, direction)` of an AUC: max(auc, 1 - auc), and "high" when
    the unit is higher at marked steps (auc >= 0.5), else "low"."""
    return max(auc, 1.0 - auc), "high" if auc >= 0.5 else "low"
